//! Socket Mode: Slack delivers the same payloads over a WebSocket instead of
//! HTTP, so no public URL is needed. Each envelope goes to the very handlers
//! the HTTP endpoints use, and their answer (`response_action`, options)
//! goes back in the envelope's acknowledgement.
//!
//! Written on tokio-tungstenite rather than slack-morphism's listener
//! because that listener hands out typed events that drop the modal state
//! and hash of `block_actions`/`block_suggestion` payloads, and fails on
//! interaction types it does not know; here the raw JSON reaches the same
//! tolerant parser as over HTTP.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::ack::Ack;
use super::handlers;
use super::payload::{Interaction, SlashCommand};
use crate::state::AppState;

/// One frame from Slack.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    envelope_id: Option<String>,
    #[serde(default)]
    payload: Value,
    #[serde(default)]
    accepts_response_payload: bool,
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ConnectionsOpen {
    ok: bool,
    url: Option<String>,
    error: Option<String>,
}

/// Ask Slack for a WebSocket URL (`apps.connections.open`, app-level token).
async fn open_connection(
    http: &reqwest::Client,
    api_url: &str,
    app_token: &SecretString,
) -> anyhow::Result<String> {
    let resp: ConnectionsOpen = http
        .post(format!("{api_url}/apps.connections.open"))
        .bearer_auth(app_token.expose_secret())
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    match (resp.ok, resp.url) {
        (true, Some(url)) => Ok(url),
        _ => anyhow::bail!(
            "apps.connections.open failed: {} (SLACK_APP_TOKEN must be an app-level token, xapp-…, with connections:write)",
            resp.error.unwrap_or_else(|| "no URL".into())
        ),
    }
}

/// Runs the handler an envelope asks for and says what to acknowledge with.
pub async fn handle_envelope(state: &AppState, kind: &str, payload: Value) -> Ack {
    match kind {
        "interactive" => match serde_json::from_value::<Interaction>(payload) {
            Ok(p) => handlers::interaction(state.clone(), p).await,
            Err(_) => Ack::BadRequest("invalid interaction payload"),
        },
        "slash_commands" => match serde_json::from_value::<SlashCommand>(payload) {
            Ok(c) => handlers::command(state.clone(), c).await,
            Err(_) => Ack::BadRequest("invalid slash command payload"),
        },
        "events_api" => handlers::event(state.clone(), payload).await,
        _ => Ack::Empty,
    }
}

/// The acknowledgement frame for an envelope; `None` leaves it
/// unacknowledged so that Slack delivers it again (we could not handle it).
/// An answer (form errors, options) always goes in the ack: Slack acts on
/// it even for envelopes whose `accepts_response_payload` is false.
pub fn ack_frame(envelope_id: &str, ack: &Ack, accepts_payload: bool) -> Option<Value> {
    match ack {
        Ack::Json(body) => {
            if !accepts_payload {
                tracing::debug!(
                    envelope_id,
                    "answering in the ack although the envelope did not announce it"
                );
            }
            Some(json!({ "envelope_id": envelope_id, "payload": body }))
        }
        Ack::BadRequest(why) => {
            tracing::warn!(
                envelope_id,
                why,
                "acknowledging a malformed Socket Mode envelope"
            );
            Some(json!({ "envelope_id": envelope_id }))
        }
        Ack::Unavailable => None,
        Ack::Empty => Some(json!({ "envelope_id": envelope_id })),
    }
}

/// What a connection tells the loop that owns it.
enum Event {
    /// Slack greeted it: it carries envelopes now.
    Hello,
    /// Slack will close it soon: open its successor.
    Disconnect(String),
}

/// How long a retiring connection waits for its handlers' acks (Slack
/// wants them within 3 s) before it closes anyway.
const RETIRE_GRACE: Duration = Duration::from_secs(10);
/// The largest message accepted from Slack; a larger one ends the
/// connection (Slack's own are far smaller).
const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Connecting (the WebSocket handshake) must not take longer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection's task and the switch that retires it.
struct Link {
    events: mpsc::UnboundedReceiver<Event>,
    retire: CancellationToken,
}

/// Keeps a connection to Slack until `stop`: reconnects (with backoff)
/// when one drops or goes silent, and on `disconnect` opens the next one
/// before the old one closes, which acks what it received itself.
pub async fn run(state: AppState, app_token: SecretString, stop: CancellationToken) {
    let http = reqwest::Client::builder()
        .timeout(state.config.slack.request_timeout)
        .build()
        .expect("a reqwest client builds");
    let api_url = state
        .config
        .slack
        .api_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    let mut failures: u32 = 0;
    // Connections that were asked to go, serving until their successor is up.
    let mut leaving: Vec<CancellationToken> = Vec::new();
    let mut links = tokio::task::JoinSet::new();
    'connect: loop {
        let why = match connect(&state, &http, &api_url, &app_token, &stop, &mut links).await {
            Ok(mut link) => loop {
                tokio::select! {
                    _ = stop.cancelled() => break 'connect,
                    event = link.events.recv() => match event {
                        Some(Event::Hello) => {
                            failures = 0;
                            tracing::info!("Socket Mode connected");
                            for old in leaving.drain(..) {
                                old.cancel();
                            }
                        }
                        Some(Event::Disconnect(reason)) => {
                            tracing::info!(reason, "Slack asked to reconnect; opening the next connection first");
                            leaving.push(link.retire);
                            continue 'connect;
                        }
                        // The connection ended (its task says why in the log).
                        None => break "connection ended".to_owned(),
                    }
                }
            },
            Err(why) => why,
        };
        failures += 1;
        let wait = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
        tracing::warn!(why, ?wait, "Socket Mode connection ended; reconnecting");
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(wait) => {}
        }
    }
    // Every connection sees `stop`; let them close.
    while links.join_next().await.is_some() {}
    tracing::info!("Socket Mode stopped");
}

/// A new connection, serving in a task of its own (in `links`).
async fn connect(
    state: &AppState,
    http: &reqwest::Client,
    api_url: &str,
    app_token: &SecretString,
    stop: &CancellationToken,
    links: &mut tokio::task::JoinSet<()>,
) -> Result<Link, String> {
    let url = open_connection(http, api_url, app_token)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_BYTES))
        .max_frame_size(Some(MAX_MESSAGE_BYTES));
    let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    let (socket, _) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return Err(format!("cannot connect: {e}")),
        Err(_) => return Err(format!("cannot connect within {CONNECT_TIMEOUT:?}")),
    };
    let (events, events_rx) = mpsc::unbounded_channel();
    let retire = CancellationToken::new();
    let link = Connection {
        state: state.clone(),
        events,
        stop: stop.clone(),
        retire: retire.clone(),
    };
    links.spawn(async move {
        let why = link.serve(socket).await;
        tracing::info!(why, "Socket Mode connection closed");
    });
    Ok(Link {
        events: events_rx,
        retire,
    })
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One WebSocket: reads envelopes, runs their handlers concurrently
/// (within `server.max_in_flight`, shared with HTTP), and writes each ack
/// on this very connection; pings, and gives up when nothing arrives.
struct Connection {
    state: AppState,
    events: mpsc::UnboundedSender<Event>,
    stop: CancellationToken,
    retire: CancellationToken,
}

impl Connection {
    /// Serves until the connection ends; says why.
    async fn serve(self, socket: Socket) -> String {
        let (mut sink, mut stream) = socket.split();
        let ping_every = self.state.config.socket_liveness.ping_every;
        let silence = self.state.config.socket_liveness.silence;
        // Handlers answer here: an ack frame, or `None` (not acked).
        let (done, mut answers) = mpsc::unbounded_channel::<Option<Value>>();
        let mut running = 0usize;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut heard = Instant::now();
        let mut leave_by: Option<Instant> = None;
        loop {
            if leave_by.is_some() && running == 0 {
                let _ = sink.send(Message::Close(None)).await;
                return "retired after its successor connected".into();
            }
            tokio::select! {
                _ = self.stop.cancelled() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return "stopped".into();
                }
                _ = self.retire.cancelled(), if leave_by.is_none() => {
                    leave_by = Some(Instant::now() + RETIRE_GRACE);
                }
                _ = tokio::time::sleep_until(leave_by.unwrap_or_else(Instant::now)), if leave_by.is_some() => {
                    let _ = sink.send(Message::Close(None)).await;
                    return format!("retired with {running} handler(s) still running");
                }
                Some(answer) = answers.recv() => {
                    running -= 1;
                    if let Some(frame) = answer {
                        if let Err(e) = sink.send(Message::Text(frame.to_string().into())).await {
                            return format!("cannot send ack: {e}");
                        }
                    }
                }
                _ = tokio::time::sleep_until(heard + silence) => {
                    return format!("nothing heard from Slack for {silence:?}");
                }
                _ = ping.tick() => {
                    if let Err(e) = sink.send(Message::Ping(Vec::new().into())).await {
                        return format!("cannot send ping: {e}");
                    }
                }
                msg = stream.next() => {
                    heard = Instant::now();
                    match msg {
                        None | Some(Ok(Message::Close(_))) => return "closed by Slack".into(),
                        Some(Err(e)) => return format!("read failed: {e}"),
                        Some(Ok(Message::Text(text))) => {
                            if self.receive(&text, &done).await {
                                running += 1;
                            }
                        }
                        Some(Ok(Message::Ping(data))) => {
                            let _ = sink.send(Message::Pong(data)).await;
                        }
                        Some(Ok(_)) => {}
                    }
                }
            }
        }
    }

    /// One frame from Slack; true when a handler was started for it.
    async fn receive(&self, text: &str, done: &mpsc::UnboundedSender<Option<Value>>) -> bool {
        let Ok(envelope) = serde_json::from_str::<Envelope>(text) else {
            tracing::warn!("ignoring a Socket Mode frame that is not an envelope");
            return false;
        };
        match envelope.kind.as_str() {
            "hello" => {
                let _ = self.events.send(Event::Hello);
                false
            }
            "disconnect" => {
                let reason = envelope.reason.unwrap_or_default();
                let _ = self.events.send(Event::Disconnect(reason));
                false
            }
            kind => {
                let Some(id) = envelope.envelope_id else {
                    return false;
                };
                // Bounded: past `max_in_flight`, wait for a handler to end
                // (its ack still goes out: handlers answer through `done`).
                let slot = tokio::select! {
                    slot = self.state.in_flight.acquire() => slot,
                    _ = self.stop.cancelled() => return false,
                };
                let (state, done, kind) = (self.state.clone(), done.clone(), kind.to_owned());
                tokio::spawn(async move {
                    let ack = handle_envelope(&state, &kind, envelope.payload).await;
                    drop(slot);
                    let _ = done.send(ack_frame(&id, &ack, envelope.accepts_response_payload));
                });
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_carry_every_answer() {
        let body = json!({ "response_action": "errors", "errors": { "reason": "Why?" } });
        for accepts_payload in [true, false] {
            assert_eq!(
                ack_frame("e1", &Ack::Json(body.clone()), accepts_payload),
                Some(json!({ "envelope_id": "e1", "payload": body }))
            );
        }
        assert_eq!(
            ack_frame("e2", &Ack::BadRequest("nope"), true),
            Some(json!({ "envelope_id": "e2" }))
        );
        assert_eq!(
            ack_frame("e3", &Ack::Empty, true),
            Some(json!({ "envelope_id": "e3" }))
        );
        assert_eq!(
            ack_frame("e4", &Ack::Unavailable, true),
            None,
            "unhandled: Slack redelivers"
        );
    }
}
