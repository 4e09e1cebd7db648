//! A fake of Slack's Socket Mode WebSocket: clients that got its URL from
//! the fake `apps.connections.open` connect, are greeted with `hello`, and
//! receive the envelopes a test sends; the test gets each envelope's
//! acknowledgement back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::fake_slack::FakeSlack;

#[derive(Default)]
struct Inner {
    /// Sender to the currently connected client.
    client: Option<mpsc::UnboundedSender<Message>>,
    connections: usize,
    acks: HashMap<String, oneshot::Sender<Value>>,
    seq: u64,
}

#[derive(Clone)]
pub struct FakeSocketMode {
    inner: Arc<Mutex<Inner>>,
}

impl FakeSocketMode {
    /// Start the WebSocket server and point `slack`'s
    /// `apps.connections.open` at it.
    pub async fn start(slack: &FakeSlack) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/link/?ticket=fake", listener.local_addr().unwrap());
        slack.set_socket_url(&url);
        let inner = Arc::new(Mutex::new(Inner::default()));
        let shared = inner.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                    continue;
                };
                let (mut sink, mut source) = ws.split();
                let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
                {
                    let mut inner = shared.lock().unwrap();
                    inner.connections += 1;
                    inner.client = Some(tx.clone());
                }
                let hello = json!({
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": { "host": "fake-socket", "approximate_connection_time": 18060 },
                    "connection_info": { "app_id": "AFAKE0001" },
                });
                let _ = tx.send(Message::Text(hello.to_string().into()));
                tokio::spawn(async move {
                    while let Some(m) = rx.recv().await {
                        if sink.send(m).await.is_err() {
                            break;
                        }
                    }
                });
                let acks = shared.clone();
                tokio::spawn(async move {
                    while let Some(Ok(msg)) = source.next().await {
                        let Message::Text(text) = msg else { continue };
                        let Ok(ack) = serde_json::from_str::<Value>(&text) else {
                            continue;
                        };
                        let id = ack["envelope_id"].as_str().unwrap_or_default().to_owned();
                        if let Some(waiter) = acks.lock().unwrap().acks.remove(&id) {
                            let _ = waiter.send(ack);
                        }
                    }
                });
            }
        });
        Self { inner }
    }

    /// How many times a client has connected.
    pub fn connections(&self) -> usize {
        self.inner.lock().unwrap().connections
    }

    /// Wait until at least `n` connections were made.
    pub async fn wait_for_connections(&self, n: usize) {
        super::app::wait_until("the Socket Mode client connects", || {
            self.connections() >= n
        })
        .await;
    }

    /// Send an envelope of `kind` (`interactive`, `slash_commands`,
    /// `events_api`) and wait for its acknowledgement.
    pub async fn send(&self, kind: &str, payload: Value, accepts_response_payload: bool) -> Value {
        let (tx, rx) = oneshot::channel();
        let frame = {
            let mut inner = self.inner.lock().unwrap();
            inner.seq += 1;
            let id = format!("env-{:04}-fake", inner.seq);
            inner.acks.insert(id.clone(), tx);
            let frame = json!({
                "envelope_id": id,
                "payload": payload,
                "type": kind,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            });
            let client = inner.client.as_ref().expect("a connected client");
            client
                .send(Message::Text(frame.to_string().into()))
                .unwrap();
            frame
        };
        tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .unwrap_or_else(|_| panic!("no ack for {frame}"))
            .unwrap()
    }

    /// Ask the client to reconnect, as Slack does every few hours.
    pub fn request_reconnect(&self) {
        let inner = self.inner.lock().unwrap();
        let msg = json!({ "type": "disconnect", "reason": "refresh_requested", "debug_info": { "host": "fake-socket" } });
        if let Some(c) = &inner.client {
            let _ = c.send(Message::Text(msg.to_string().into()));
        }
    }
}
