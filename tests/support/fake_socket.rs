//! A fake of Slack's Socket Mode WebSocket: clients that got its URL from
//! the fake `apps.connections.open` connect, are greeted with `hello`, and
//! receive the envelopes a test sends on the newest connection; the test
//! gets each envelope's acknowledgement back with the connection it came
//! on. Like Slack after a `disconnect`, an old connection stays open until
//! the client closes it. A connection can be made to go silent (no frame
//! read or written, so no pong either), as half-open TCP does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::fake_slack::FakeSlack;

struct Connection {
    to_client: mpsc::UnboundedSender<Message>,
    open: bool,
    silent: Arc<AtomicBool>,
}

#[derive(Default)]
struct Inner {
    /// Every connection so far; connection `n` (1-based) is `connections[n - 1]`.
    connections: Vec<Connection>,
    /// Openings and closings in order: `open 1`, `close 1`, …
    log: Vec<String>,
    acks: HashMap<String, oneshot::Sender<Ack>>,
    pings: usize,
    seq: u64,
}

/// An envelope's acknowledgement and the connection (1-based) it came on.
#[derive(Debug, Clone)]
pub struct Ack {
    pub connection: usize,
    pub frame: Value,
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
                serve(shared.clone(), ws);
            }
        });
        Self { inner }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    /// How many times a client has connected.
    pub fn connections(&self) -> usize {
        self.lock().connections.len()
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.lock().connections.iter().filter(|c| c.open).count()
    }

    /// Openings and closings so far, in order (`open 1`, `close 1`, …).
    pub fn log(&self) -> Vec<String> {
        self.lock().log.clone()
    }

    /// WebSocket pings received from the client.
    pub fn pings(&self) -> usize {
        self.lock().pings
    }

    /// Wait until at least `n` connections were made.
    pub async fn wait_for_connections(&self, n: usize) {
        super::app::wait_until("the Socket Mode client connects", || {
            self.connections() >= n
        })
        .await;
    }

    /// Send an envelope of `kind` (`interactive`, `slash_commands`,
    /// `events_api`) on the newest connection and wait for its
    /// acknowledgement.
    pub async fn send(&self, kind: &str, payload: Value, accepts_response_payload: bool) -> Value {
        let pending = self.send_envelope(kind, payload, accepts_response_payload);
        tokio::time::timeout(Duration::from_secs(10), pending)
            .await
            .expect("an ack within 10 s")
            .expect("the ack")
            .frame
    }

    /// Send an envelope on the newest connection; its acknowledgement
    /// arrives on the receiver.
    pub fn send_envelope(
        &self,
        kind: &str,
        payload: Value,
        accepts_response_payload: bool,
    ) -> oneshot::Receiver<Ack> {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
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
        let client = inner
            .connections
            .iter()
            .rev()
            .find(|c| c.open)
            .expect("a connected client");
        client
            .to_client
            .send(Message::Text(frame.to_string().into()))
            .unwrap();
        rx
    }

    /// Send any text frame on the newest connection.
    pub fn send_raw(&self, text: String) {
        let inner = self.lock();
        let client = inner.connections.iter().rev().find(|c| c.open);
        let _ = client
            .expect("a connected client")
            .to_client
            .send(Message::Text(text.into()));
    }

    /// Ask the client to reconnect, as Slack does every few hours.
    pub fn request_reconnect(&self) {
        let msg = json!({ "type": "disconnect", "reason": "refresh_requested", "debug_info": { "host": "fake-socket" } });
        self.send_raw(msg.to_string());
    }

    /// The newest connection stops reading and writing, as a connection
    /// whose other end vanished (no FIN) looks to the client.
    pub fn go_silent(&self) {
        let inner = self.lock();
        if let Some(c) = inner.connections.iter().rev().find(|c| c.open) {
            c.silent.store(true, Ordering::SeqCst);
        }
    }
}

/// Greets a new connection and runs its two halves.
fn serve(shared: Arc<Mutex<Inner>>, ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) {
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let silent = Arc::new(AtomicBool::new(false));
    let number = {
        let mut inner = shared.lock().unwrap();
        inner.connections.push(Connection {
            to_client: tx.clone(),
            open: true,
            silent: silent.clone(),
        });
        let n = inner.connections.len();
        inner.log.push(format!("open {n}"));
        n
    };
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": { "host": "fake-socket", "approximate_connection_time": 18060 },
        "connection_info": { "app_id": "AFAKE0001" },
    });
    let _ = tx.send(Message::Text(hello.to_string().into()));
    let quiet = silent.clone();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if quiet.load(Ordering::SeqCst) {
                continue;
            }
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        loop {
            if silent.load(Ordering::SeqCst) {
                // Never read again: the client's pings go unanswered.
                std::future::pending::<()>().await;
            }
            let Some(Ok(msg)) = source.next().await else {
                break;
            };
            let text = match msg {
                Message::Text(text) => text,
                Message::Ping(_) => {
                    shared.lock().unwrap().pings += 1;
                    continue;
                }
                _ => continue,
            };
            let Ok(frame) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let id = frame["envelope_id"].as_str().unwrap_or_default().to_owned();
            let waiter = shared.lock().unwrap().acks.remove(&id);
            if let Some(waiter) = waiter {
                let _ = waiter.send(Ack {
                    connection: number,
                    frame,
                });
            }
        }
        let mut inner = shared.lock().unwrap();
        inner.connections[number - 1].open = false;
        inner.log.push(format!("close {number}"));
    });
}
