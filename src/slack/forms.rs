//! The request form's life: open it (fast), adapt it to the chosen
//! profile, serve its device menu, and take its submission.

use std::time::Duration;

use serde_json::json;
use slack_morphism::prelude::SlackView;

use super::ack::Ack;
use super::payload::{Interaction, ViewPayload};
use super::views::form::{ids, request_form, submitted_view, ApproverField, FormMeta, Prefill};
use crate::domain::policy::ApprovalPlan;
use crate::domain::{AccessRequest, Profile, SlackUserId};
use crate::flow::{devices, submit};
use crate::state::AppState;

/// Budget for lookups inside an options request (Slack allows 3 s in all).
const OPTIONS_BUDGET: Duration = Duration::from_millis(2000);

fn build(
    state: &AppState,
    user: &SlackUserId,
    profile: &Profile,
    prefill: &Prefill,
) -> (SlackView, bool) {
    let cached = state.people.cached_approvers(profile);
    let field = ApproverField::for_requester(profile, user, cached.as_ref());
    let loading = field == ApproverField::Loading;
    (
        request_form(&state.config.profiles, profile, &field, prefill),
        loading,
    )
}

fn prefill_from(req: &AccessRequest) -> Prefill {
    Prefill {
        device: Some((
            req.device.node_id.to_string(),
            devices::snapshot_label(&req.device),
        )),
        duration: Some(req.duration),
        approver: req.approver.clone(),
        reason: None,
    }
}

/// Open the form for `user` with the trigger (valid 3 s, once). Opens from
/// config and caches only; approvers still unknown are filled in after.
pub async fn open(
    state: AppState,
    user: SlackUserId,
    trigger_id: String,
    again: Option<AccessRequest>,
) {
    let profile = again
        .as_ref()
        .and_then(|r| state.config.profile(r.attribute.as_str()))
        .unwrap_or(&state.config.profiles[0])
        .clone();
    let prefill = again.as_ref().map(prefill_from).unwrap_or_default();
    let (view, loading) = build(&state, &user, &profile, &prefill);
    let opened = match state.slack.open_view(&trigger_id, view).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "could not open the request form");
            return;
        }
    };
    // Warm the requester's details for the device menu and the submission.
    let _ = state.people.user(&user).await;
    if loading {
        refresh_approvers(
            &state,
            &user,
            &profile,
            &opened.state_params.id.0,
            Some(&opened.state_params.hash),
            &prefill,
        )
        .await;
    }
}

async fn refresh_approvers(
    state: &AppState,
    user: &SlackUserId,
    profile: &Profile,
    view_id: &str,
    hash: Option<&str>,
    prefill: &Prefill,
) {
    if let Err(e) = state.people.approvers(profile).await {
        tracing::warn!(error = %e, "could not resolve approvers");
        return;
    }
    let (view, _) = build(state, user, profile, prefill);
    match state.slack.update_view(view_id, hash, view).await {
        Ok(_) => {}
        // The person changed the form meanwhile; that update wins.
        Err(e) if e.code() == Some("hash_conflict") => {
            tracing::debug!("form changed meanwhile; skipped update")
        }
        Err(e) => tracing::warn!(error = %e, "could not update the request form"),
    }
}

/// The person picked another profile: rebuild the form for it.
pub async fn switch_profile(
    state: AppState,
    user: SlackUserId,
    view: ViewPayload,
    selected: Option<String>,
) {
    let Some(profile) = selected
        .as_deref()
        .and_then(|a| state.config.profile(a))
        .cloned()
    else {
        return;
    };
    let prefill = Prefill {
        reason: view.input(ids::REASON, ids::REASON),
        ..Default::default()
    };
    let (form, loading) = build(&state, &user, &profile, &prefill);
    match state
        .slack
        .update_view(&view.id, view.hash.as_deref(), form)
        .await
    {
        Ok(updated) if loading => {
            refresh_approvers(
                &state,
                &user,
                &profile,
                &view.id,
                Some(&updated.state_params.hash),
                &prefill,
            )
            .await;
        }
        Ok(_) => {}
        Err(e) if e.code() == Some("hash_conflict") => {
            tracing::debug!("form changed meanwhile; skipped update")
        }
        Err(e) => tracing::warn!(error = %e, "could not update the request form"),
    }
}

/// `view_submission`: errors next to the fields, or the request is stored.
pub async fn submit(state: &AppState, user: &SlackUserId, view: &ViewPayload) -> Ack {
    let accepted = match submit::validate(state, user, view).await {
        Ok(a) => a,
        Err(errors) => {
            return Ack::Json(json!({ "response_action": "errors", "errors": errors }));
        }
    };
    if let Err(e) = submit::create(state, &accepted).await {
        tracing::error!(error = %e, "could not store the request");
        let errors = json!({ ids::REASON: "Your request could not be saved. Please try again in a moment." });
        return Ack::Json(json!({ "response_action": "errors", "errors": errors }));
    }
    let text = match &accepted.plan {
        ApprovalPlan::Ask(a) if a == user => {
            "Request sent. Confirm it in your DM from accessbot.".to_owned()
        }
        ApprovalPlan::Ask(a) => {
            format!("Request sent to <@{a}>. You'll get a DM when they decide.")
        }
        ApprovalPlan::SelfApproved => {
            "No approval needed: access is being granted. You'll get a DM when it's active."
                .to_owned()
        }
    };
    Ack::Json(json!({ "response_action": "update", "view": submitted_view(&text) }))
}

/// `block_suggestion` for the device menu: own devices first, then what
/// the profile allows, filtered by the typed text.
pub async fn device_options(state: &AppState, user: &SlackUserId, p: &Interaction) -> Ack {
    if p.action_id.as_deref() != Some(ids::DEVICE) {
        return Ack::Json(json!({ "options": [] }));
    }
    let query: String = p.value.as_deref().unwrap_or("").chars().take(100).collect();
    let profile = p
        .view
        .as_ref()
        .and_then(|v| {
            v.input(ids::PROFILE, ids::PROFILE)
                .or_else(|| FormMeta::decode(v.private_metadata.as_deref()).profile)
        })
        .and_then(|a| state.config.profile(&a))
        .unwrap_or(&state.config.profiles[0]);
    let deadline = tokio::time::Instant::now() + OPTIONS_BUDGET;
    let (email, index) = tokio::join!(
        tokio::time::timeout_at(deadline, state.people.email_of(user)),
        tokio::time::timeout_at(deadline, state.devices.index()),
    );
    let email = match email {
        Ok(Ok(e)) => e,
        _ => None,
    };
    let index = match index {
        Ok(Ok(i)) => i,
        _ => {
            tracing::warn!("device list unavailable for options");
            return Ack::Json(json!({ "options": [] }));
        }
    };
    let own = email
        .as_deref()
        .map(|e| index.owned_by(e))
        .unwrap_or_default();
    let matching = index.search(&query);
    let groups = devices::option_groups(profile, email.as_deref(), own, matching, &query);
    let option = |d: &crate::tailscale::Device| json!({ "text": { "type": "plain_text", "text": devices::label(d) }, "value": d.node_id.as_str() });
    if groups.is_empty() {
        return Ack::Json(json!({ "options": [] }));
    }
    let option_groups: Vec<_> = groups
        .iter()
        .map(|(label, devs)| json!({ "label": { "type": "plain_text", "text": label }, "options": devs.iter().map(|d| option(d)).collect::<Vec<_>>() }))
        .collect();
    Ack::Json(json!({ "option_groups": option_groups }))
}
