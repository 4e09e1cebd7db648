//! HTTP handlers for Slack: parse, check who is asking, answer within
//! Slack's 3 seconds, and leave slow work to spawned tasks or the worker.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tracing::Instrument;

use super::forms;
use super::messages::actions;
use super::payload::{parse_command, parse_interaction, Interaction};
use crate::domain::{RequestId, SlackUserId};
use crate::flow::decide::{self, Decision, Outcome};
use crate::state::AppState;

/// The callback ID of the global shortcut.
pub const SHORTCUT_CALLBACK_ID: &str = "request_access";

fn bad_request(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, why.to_owned()).into_response()
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    tracing::error!(error = %e, "could not handle Slack request");
    (StatusCode::SERVICE_UNAVAILABLE, "temporarily unavailable").into_response()
}

/// `POST /slack/interactions` and `POST /slack/options`.
pub async fn interactions(State(state): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    let payload = match parse_interaction(&body) {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "unparseable interaction payload");
            return bad_request("invalid interaction payload");
        }
    };
    let kind = payload.kind.clone();
    let span = tracing::info_span!(
        "slack_interaction",
        kind = %kind,
        user = payload.user_id().unwrap_or("-"),
        callback_id = payload.callback_id.as_deref().or(payload.view.as_ref().and_then(|v| v.callback_id.as_deref())).unwrap_or("-"),
        action = payload.actions.first().map(|a| a.action_id.as_str()).or(payload.action_id.as_deref()).unwrap_or("-"),
    );
    let response = dispatch(state.clone(), payload).instrument(span).await;
    state.metrics.observe_ack(&kind, started.elapsed());
    response
}

async fn dispatch(state: AppState, p: Interaction) -> Response {
    let Some(user) = p.user_id().and_then(|u| SlackUserId::parse(u).ok()) else {
        return bad_request("missing or invalid user");
    };
    match p.kind.as_str() {
        "shortcut" | "message_action" => {
            if p.callback_id.as_deref() != Some(SHORTCUT_CALLBACK_ID) {
                return StatusCode::OK.into_response();
            }
            let Some(trigger) = p.trigger_id.clone() else {
                return bad_request("missing trigger_id");
            };
            tokio::spawn(forms::open(state, user, trigger, None).in_current_span());
            StatusCode::OK.into_response()
        }
        "view_submission" => match p.view.as_ref() {
            Some(view) if view.callback_id.as_deref() == Some(super::views::form::CALLBACK_ID) => {
                forms::submit(&state, &user, view).await
            }
            _ => StatusCode::OK.into_response(),
        },
        "block_suggestion" => forms::device_options(&state, &user, &p).await,
        "block_actions" => block_actions(state, user, p).await,
        "view_closed" => StatusCode::OK.into_response(),
        other => {
            tracing::info!(kind = other, "ignoring interaction type");
            StatusCode::OK.into_response()
        }
    }
}

async fn block_actions(state: AppState, user: SlackUserId, p: Interaction) -> Response {
    let Some(action) = p.actions.first() else {
        return StatusCode::OK.into_response();
    };
    if action.action_id == super::home::OPEN_FORM {
        if let Some(trigger) = p.trigger_id.clone() {
            tokio::spawn(forms::open(state, user, trigger, None).in_current_span());
        }
        return StatusCode::OK.into_response();
    }
    if let Some(view) = &p.view {
        if action.action_id == super::views::form::ids::PROFILE {
            let selected = action.selected_option.as_ref().map(|o| o.value.clone());
            tokio::spawn(
                forms::switch_profile(state, user, view.clone(), selected).in_current_span(),
            );
        }
        return StatusCode::OK.into_response();
    }
    let channel = p.channel_id().map(str::to_owned);
    let Some(id) = action
        .value
        .as_deref()
        .and_then(|v| RequestId::parse(v).ok())
    else {
        tell(
            &state,
            channel,
            &user,
            "That button is not valid. Please use the latest message.",
        );
        return StatusCode::OK.into_response();
    };
    let outcome = match action.action_id.as_str() {
        actions::APPROVE => decide::decide(&state, id, &user, Decision::Approve).await,
        actions::DENY => decide::decide(&state, id, &user, Decision::Deny).await,
        actions::CANCEL => decide::cancel(&state, id, &user).await,
        actions::REVOKE => decide::revoke(&state, id, &user).await,
        actions::REQUEST_AGAIN => {
            let Some(trigger) = p.trigger_id.clone() else {
                return bad_request("missing trigger_id");
            };
            return match state.store.get_request(id).await {
                Ok(Some(req)) if req.requester == user => {
                    tokio::spawn(forms::open(state, user, trigger, Some(req)).in_current_span());
                    StatusCode::OK.into_response()
                }
                Ok(_) => {
                    tell(
                        &state,
                        channel,
                        &user,
                        "Only the requester can request this again.",
                    );
                    StatusCode::OK.into_response()
                }
                Err(e) => unavailable(e),
            };
        }
        other => {
            tracing::info!(action = other, "ignoring unknown action");
            return StatusCode::OK.into_response();
        }
    };
    match outcome {
        Ok(Outcome::Done(_)) => {}
        Ok(Outcome::Refused(why)) => tell(&state, channel, &user, &why),
        Ok(Outcome::AlreadyDecided(req)) => tell(
            &state,
            channel,
            &user,
            &format!(
                "This request is already {}.",
                req.status.as_str().replace('_', " ")
            ),
        ),
        Ok(Outcome::NotFound) => tell(&state, channel, &user, "That request does not exist."),
        Err(e) => return unavailable(e),
    }
    StatusCode::OK.into_response()
}

/// An ephemeral note to one person, sent after the ack.
fn tell(state: &AppState, channel: Option<String>, user: &SlackUserId, text: &str) {
    let (state, user, text) = (state.clone(), user.clone(), text.to_owned());
    tokio::spawn(
        async move {
            let channel = channel.unwrap_or_else(|| user.to_string());
            if let Err(e) = state
                .slack
                .post_ephemeral(&channel, user.as_str(), &text)
                .await
            {
                tracing::warn!(error = %e, "could not send ephemeral message");
            }
        }
        .in_current_span(),
    );
}

/// `POST /slack/commands`: any command name opens the request form.
pub async fn commands(State(state): State<AppState>, body: Bytes) -> Response {
    let started = Instant::now();
    let Ok(cmd) = parse_command(&body) else {
        return bad_request("invalid slash command payload");
    };
    let Ok(user) = SlackUserId::parse(&cmd.user_id) else {
        return bad_request("invalid user_id");
    };
    let span = tracing::info_span!("slack_command", command = %cmd.command, user = %user);
    tokio::spawn(forms::open(state.clone(), user, cmd.trigger_id, None).instrument(span));
    state
        .metrics
        .observe_ack("slash_command", started.elapsed());
    StatusCode::OK.into_response()
}

/// `POST /slack/events`: URL verification and App Home.
pub async fn events(State(state): State<AppState>, body: Bytes) -> Response {
    let Ok(envelope) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return bad_request("not an Events API payload");
    };
    match envelope.get("type").and_then(|t| t.as_str()) {
        Some("url_verification") => match envelope.get("challenge").and_then(|c| c.as_str()) {
            Some(challenge) => Json(json!({ "challenge": challenge })).into_response(),
            None => bad_request("url_verification without challenge"),
        },
        Some("event_callback") => {
            let event = envelope.get("event");
            let kind = event.and_then(|e| e.get("type")).and_then(|t| t.as_str());
            let user = event
                .and_then(|e| e.get("user"))
                .and_then(|u| u.as_str())
                .and_then(|u| SlackUserId::parse(u).ok());
            if let (Some("app_home_opened"), Some(user)) = (kind, user) {
                tokio::spawn(super::home::publish(state, user).in_current_span());
            }
            StatusCode::OK.into_response()
        }
        _ => StatusCode::OK.into_response(),
    }
}
