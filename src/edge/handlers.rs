//! HTTP handlers for Slack: parse, check who is asking, answer within
//! Slack's 3 seconds, and leave slow work to spawned tasks or the worker.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use serde_json::json;
use tracing::Instrument;

use super::ack::Ack;
use super::forms;
use super::payload::{parse_command, parse_interaction, Interaction, SlashCommand};
use crate::domain::approval::deny_reason;
use crate::domain::{RequestId, SlackUserId};
use crate::flow::clicks::{self, already, INVALID_BUTTON, NOT_FOUND};
use crate::flow::decide::{self, Choices, Decision, Outcome};
use crate::flow::form::{self, ShownView};
use crate::flow::review;
use crate::slack::messages::{actions, blocks as message_blocks};
use crate::slack::views::extend as extend_view;
use crate::slack::views::home::OPEN_FORM;
use crate::slack::views::{form::ids, form::CALLBACK_ID, SHORTCUT_CALLBACK_ID};
use crate::state::AppState;

fn unavailable(e: impl std::fmt::Display) -> Ack {
    tracing::error!(error = %e, "could not handle Slack request");
    Ack::Unavailable
}

/// `POST /slack/interactions` and `POST /slack/options`.
pub async fn interactions(State(state): State<AppState>, body: Bytes) -> Ack {
    match parse_interaction(&body) {
        Ok(p) => interaction(state, p).await,
        Err(e) => {
            tracing::warn!(error = %e, "unparseable interaction payload");
            Ack::BadRequest("invalid interaction payload")
        }
    }
}

/// Any interactivity payload, from HTTP or Socket Mode.
pub async fn interaction(state: AppState, payload: Interaction) -> Ack {
    let started = Instant::now();
    let kind = payload.kind.clone();
    let span = tracing::info_span!(
        "slack_interaction",
        kind = %kind,
        user = payload.user_id().unwrap_or("-"),
        callback_id = payload
            .callback_id
            .as_deref()
            .or(payload.view.as_ref().and_then(|v| v.callback_id.as_deref()))
            .unwrap_or("-"),
        action = payload
            .actions
            .first()
            .map(|a| a.action_id.as_str())
            .or(payload.action_id.as_deref())
            .unwrap_or("-"),
    );
    let ack = dispatch(state.clone(), payload).instrument(span).await;
    state.metrics.observe_ack(&kind, started.elapsed());
    ack
}

async fn dispatch(state: AppState, p: Interaction) -> Ack {
    let Some(user) = p.user_id().and_then(|u| SlackUserId::parse(u).ok()) else {
        return Ack::BadRequest("missing or invalid user");
    };
    if let Some(refused) = super::team::refuse(&state, p.team_id()).await {
        return refused;
    }
    match p.kind.as_str() {
        "shortcut" | "message_action" => {
            if p.callback_id.as_deref() != Some(SHORTCUT_CALLBACK_ID) {
                return Ack::Empty;
            }
            let Some(trigger) = p.trigger_id.clone() else {
                return Ack::BadRequest("missing trigger_id");
            };
            tokio::spawn(form::open(state, user, trigger, None).in_current_span());
            Ack::Empty
        }
        "view_submission" => match p.view.as_ref() {
            Some(view) if view.callback_id.as_deref() == Some(CALLBACK_ID) => {
                forms::submit(&state, &user, view).await
            }
            Some(view) if view.callback_id.as_deref() == Some(extend_view::CALLBACK_ID) => {
                super::extend::submit(&state, &user, view).await
            }
            _ => Ack::Empty,
        },
        "block_suggestion" => forms::device_options(&state, &user, &p).await,
        "block_actions" => block_actions(state, user, p).await,
        "view_closed" => Ack::Empty,
        other => {
            tracing::info!(kind = other, "ignoring interaction type");
            Ack::Empty
        }
    }
}

async fn block_actions(state: AppState, user: SlackUserId, p: Interaction) -> Ack {
    let Some(action) = p.actions.first() else {
        return Ack::Empty;
    };
    if action.action_id == OPEN_FORM {
        if let Some(trigger) = p.trigger_id.clone() {
            tokio::spawn(form::open(state, user, trigger, None).in_current_span());
        }
        return Ack::Empty;
    }
    // A modal's own controls; a button in the App Home acts on a request
    // like the same button in a DM.
    if let Some(view) = p.view.as_ref().filter(|v| v.kind != "home") {
        if action.action_id == ids::PROFILE {
            let selected = action.selected_option.as_ref().map(|o| o.value.clone());
            let shown = ShownView {
                id: view.id.clone(),
                hash: view.hash.clone(),
            };
            let reason = view.input(ids::REASON, ids::REASON);
            tokio::spawn(
                form::switch_profile(state, user, shown, selected, reason).in_current_span(),
            );
        }
        return Ack::Empty;
    }
    if action.action_id == actions::APPROVE_DURATION {
        return Ack::Empty; // only sets what Approve sends
    }
    let channel = p.channel_id().map(str::to_owned);
    let Some(id) = action
        .value
        .as_deref()
        .and_then(|v| RequestId::parse(v).ok())
    else {
        clicks::tell(&state, channel, &user, "invalid button", INVALID_BUTTON);
        return Ack::Empty;
    };
    let subject = id.to_string();
    let note = |text: &str| clicks::tell(&state, channel.clone(), &user, &subject, text);
    // A click on a request that has moved on (a repeat, a retry, a replay)
    // is answered from memory and writes nothing.
    let acts = [
        actions::APPROVE,
        actions::DENY,
        actions::CANCEL,
        actions::REVOKE,
        actions::EXTEND,
    ];
    if acts.contains(&action.action_id.as_str()) {
        match clicks::settled(&state, id, &action.action_id, &user).await {
            Ok(Some(answer)) => {
                note(&answer);
                return Ack::Empty;
            }
            Ok(None) => {}
            Err(e) => return unavailable(e),
        }
    }
    let outcome = match action.action_id.as_str() {
        actions::APPROVE => {
            let choices = approve_choices(&p);
            decide::decide_with(&state, id, &user, Decision::Approve, choices).await
        }
        actions::DENY => {
            let choices = deny_choices(&p);
            decide::decide_with(&state, id, &user, Decision::Deny, choices).await
        }
        actions::ACKNOWLEDGE => review::acknowledge(&state, id, &user).await,
        actions::CANCEL => decide::cancel(&state, id, &user).await,
        actions::REVOKE => decide::revoke(&state, id, &user).await,
        actions::EXTEND => {
            return match super::extend::click(&state, &user, id, p.trigger_id.clone()).await {
                Ok(Ok(())) => Ack::Empty,
                Ok(Err(why)) => {
                    note(&why);
                    Ack::Empty
                }
                Err(ack) => ack,
            };
        }
        actions::REQUEST_AGAIN => {
            let Some(trigger) = p.trigger_id.clone() else {
                return Ack::BadRequest("missing trigger_id");
            };
            return match state.store.get_request(id).await {
                Ok(Some(req)) if req.requester == user => {
                    tokio::spawn(form::open(state, user, trigger, Some(req)).in_current_span());
                    Ack::Empty
                }
                Ok(_) => {
                    note("Only the requester can request this again.");
                    Ack::Empty
                }
                Err(e) => unavailable(e),
            };
        }
        other => {
            tracing::info!(action = other, "ignoring unknown action");
            return Ack::Empty;
        }
    };
    match outcome {
        Ok(Outcome::Done(_)) => {}
        Ok(Outcome::Noted(text)) => note(&text),
        Ok(Outcome::Refused(why)) => note(&why),
        Ok(Outcome::AlreadyDecided(req)) => note(&already(req.status)),
        Ok(Outcome::NotFound) => note(NOT_FOUND),
        Err(e) => return unavailable(e),
    }
    Ack::Empty
}

/// The duration chosen next to Approve. A value that is not a number of
/// seconds becomes 0 s, which no profile offers: the approval is refused
/// rather than granted for what was asked.
fn approve_choices(p: &Interaction) -> Choices {
    let duration = p
        .input(message_blocks::DECISION, actions::APPROVE_DURATION)
        .map(|raw| Duration::from_secs(raw.trim().parse().unwrap_or(0)));
    Choices {
        duration,
        deny_reason: None,
    }
}

/// The reason typed next to Deny, if any.
fn deny_choices(p: &Interaction) -> Choices {
    let typed = p.input(message_blocks::DENY_REASON, actions::DENY_REASON);
    Choices {
        duration: None,
        deny_reason: deny_reason(typed.as_deref()),
    }
}

/// `POST /slack/commands`: any command name opens the request form.
pub async fn commands(State(state): State<AppState>, body: Bytes) -> Ack {
    match parse_command(&body) {
        Ok(cmd) => command(state, cmd).await,
        Err(_) => Ack::BadRequest("invalid slash command payload"),
    }
}

/// A slash command, from HTTP or Socket Mode.
pub async fn command(state: AppState, cmd: SlashCommand) -> Ack {
    let started = Instant::now();
    let Ok(user) = SlackUserId::parse(&cmd.user_id) else {
        return Ack::BadRequest("invalid user_id");
    };
    if let Some(refused) = super::team::refuse(&state, cmd.team_id.as_deref()).await {
        return refused;
    }
    let span = tracing::info_span!("slack_command", command = %cmd.command, user = %user);
    tokio::spawn(form::open(state.clone(), user, cmd.trigger_id, None).instrument(span));
    state
        .metrics
        .observe_ack("slash_command", started.elapsed());
    Ack::Empty
}

/// `POST /slack/events`: URL verification and App Home.
pub async fn events(State(state): State<AppState>, body: Bytes) -> Ack {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(envelope) => event(state, envelope).await,
        Err(_) => Ack::BadRequest("not an Events API payload"),
    }
}

/// An Events API envelope, from HTTP or Socket Mode.
pub async fn event(state: AppState, envelope: serde_json::Value) -> Ack {
    match envelope.get("type").and_then(|t| t.as_str()) {
        Some("url_verification") => match envelope.get("challenge").and_then(|c| c.as_str()) {
            Some(challenge) => Ack::Json(json!({ "challenge": challenge })),
            None => Ack::BadRequest("url_verification without challenge"),
        },
        Some("event_callback") => {
            let team = envelope.get("team_id").and_then(|t| t.as_str());
            if let Some(refused) = super::team::refuse(&state, team).await {
                return refused;
            }
            let event = envelope.get("event");
            let kind = event.and_then(|e| e.get("type")).and_then(|t| t.as_str());
            let user = event
                .and_then(|e| e.get("user"))
                .and_then(|u| u.as_str())
                .and_then(|u| SlackUserId::parse(u).ok());
            if let (Some("app_home_opened"), Some(user)) = (kind, user) {
                tokio::spawn(crate::flow::home::publish(state, user).in_current_span());
            }
            Ack::Empty
        }
        _ => Ack::Empty,
    }
}
