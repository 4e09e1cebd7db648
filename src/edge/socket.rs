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

/// Why one connection ended.
enum Ended {
    Stopped,
    Reconnect(String),
}

/// Connects and serves until `stop`, reconnecting (with backoff) whenever
/// Slack asks to or the connection drops.
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
    loop {
        let ended = match open_connection(&http, &api_url, &app_token).await {
            Ok(url) => serve_connection(&state, &url, &stop, &mut failures).await,
            Err(e) => Ended::Reconnect(format!("{e:#}")),
        };
        match ended {
            Ended::Stopped => break,
            Ended::Reconnect(why) => {
                failures += 1;
                let wait = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
                tracing::warn!(why, ?wait, "Socket Mode connection ended; reconnecting");
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
    tracing::info!("Socket Mode stopped");
}

async fn serve_connection(
    state: &AppState,
    url: &str,
    stop: &CancellationToken,
    failures: &mut u32,
) -> Ended {
    let (socket, _) = match tokio_tungstenite::connect_async(url).await {
        Ok(s) => s,
        Err(e) => return Ended::Reconnect(format!("cannot connect: {e}")),
    };
    let (mut sink, mut stream) = socket.split();
    // Handlers run concurrently; their acks funnel back through one writer.
    let (acks, mut pending) = mpsc::channel::<Value>(64);
    loop {
        tokio::select! {
            _ = stop.cancelled() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ended::Stopped;
            }
            Some(frame) = pending.recv() => {
                if let Err(e) = sink.send(Message::Text(frame.to_string().into())).await {
                    return Ended::Reconnect(format!("cannot send ack: {e}"));
                }
            }
            msg = stream.next() => match msg {
                None => return Ended::Reconnect("closed by Slack".into()),
                Some(Err(e)) => return Ended::Reconnect(format!("read failed: {e}")),
                Some(Ok(Message::Text(text))) => {
                    let Ok(envelope) = serde_json::from_str::<Envelope>(&text) else {
                        tracing::warn!("ignoring a Socket Mode frame that is not an envelope");
                        continue;
                    };
                    match envelope.kind.as_str() {
                        "hello" => {
                            *failures = 0;
                            tracing::info!("Socket Mode connected");
                        }
                        "disconnect" => {
                            return Ended::Reconnect(format!(
                                "Slack asked to reconnect ({})",
                                envelope.reason.unwrap_or_default()
                            ));
                        }
                        kind => {
                            let Some(id) = envelope.envelope_id.clone() else { continue };
                            let (state, acks, kind) = (state.clone(), acks.clone(), kind.to_owned());
                            tokio::spawn(async move {
                                let ack = handle_envelope(&state, &kind, envelope.payload).await;
                                if let Some(frame) = ack_frame(&id, &ack, envelope.accepts_response_payload) {
                                    let _ = acks.send(frame).await;
                                }
                            });
                        }
                    }
                }
                Some(Ok(Message::Ping(data))) => {
                    let _ = sink.send(Message::Pong(data)).await;
                }
                Some(Ok(Message::Close(_))) => return Ended::Reconnect("closed by Slack".into()),
                Some(Ok(_)) => {}
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
