//! The request form's life outside its submission: open it (fast), adapt it
//! to the chosen profile, and list the devices its menu offers.

use std::time::Duration;

use slack_morphism::prelude::SlackView;

use crate::domain::{AccessRequest, DeviceSnapshot, Profile, SlackUserId};
use crate::slack::views::devices::label;
use crate::slack::views::form::{request_form, ApproverField, Prefill};
use crate::state::AppState;

use super::devices;

/// Budget for lookups inside an options request (Slack allows 3 s in all).
const OPTIONS_BUDGET: Duration = Duration::from_millis(2000);

/// The modal as Slack last showed it, for an update that must not
/// overwrite a newer change (`hash`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownView {
    pub id: String,
    pub hash: Option<String>,
}

fn build(
    state: &AppState,
    user: &SlackUserId,
    profile: &Profile,
    prefill: &Prefill,
) -> (SlackView, bool) {
    let field = if !profile.asks_for_approver() {
        ApproverField::NotAsked
    } else if state
        .people
        .cached_auto_approved(profile)
        .is_some_and(|auto| auto.contains(user))
    {
        ApproverField::Automatic
    } else {
        let cached = state.people.cached_approvers(profile);
        ApproverField::for_requester(profile, user, cached.as_ref())
    };
    let loading = field == ApproverField::Loading;
    (
        request_form(&state.config.profiles, profile, &field, prefill),
        loading,
    )
}

fn prefill_from(req: &AccessRequest) -> Prefill {
    Prefill {
        device: Some((req.device.node_id.to_string(), label(&req.device))),
        duration: Some(req.duration),
        approver: req.approver.clone(),
        reason: None,
    }
}

/// Open the form for `user` with the trigger (valid 3 s, once). Opens from
/// config and caches only; approvers still unknown are filled in after.
/// `again`: a request to fill the form from ("Request again").
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
        let shown = ShownView {
            id: opened.state_params.id.0,
            hash: Some(opened.state_params.hash),
        };
        refresh_approvers(&state, &user, &profile, &shown, &prefill).await;
    }
}

async fn refresh_approvers(
    state: &AppState,
    user: &SlackUserId,
    profile: &Profile,
    shown: &ShownView,
    prefill: &Prefill,
) {
    if let Err(e) = state.people.approvers(profile).await {
        tracing::warn!(error = %e, "could not resolve approvers");
        return;
    }
    let (view, _) = build(state, user, profile, prefill);
    update(state, shown, view).await;
}

/// Replace the modal unless the person changed it meanwhile (their change wins).
async fn update(state: &AppState, shown: &ShownView, view: SlackView) -> Option<String> {
    match state
        .slack
        .update_view(&shown.id, shown.hash.as_deref(), view)
        .await
    {
        Ok(updated) => Some(updated.state_params.hash),
        Err(e) if e.code() == Some("hash_conflict") => {
            tracing::debug!("form changed meanwhile; skipped update");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not update the request form");
            None
        }
    }
}

/// The person picked another profile: rebuild the form for it, keeping the
/// reason they already typed.
pub async fn switch_profile(
    state: AppState,
    user: SlackUserId,
    shown: ShownView,
    selected: Option<String>,
    reason: Option<String>,
) {
    let Some(profile) = selected
        .as_deref()
        .and_then(|a| state.config.profile(a))
        .cloned()
    else {
        return;
    };
    let prefill = Prefill {
        reason,
        ..Default::default()
    };
    let (form, loading) = build(&state, &user, &profile, &prefill);
    if let Some(hash) = update(&state, &shown, form).await {
        if loading {
            let shown = ShownView {
                id: shown.id,
                hash: Some(hash),
            };
            refresh_approvers(&state, &user, &profile, &shown, &prefill).await;
        }
    }
}

/// The device menu for `user` under the profile with attribute `profile`
/// (the first profile when unknown): their own devices first, then what
/// the profile allows, filtered by the typed `query`. Empty when the
/// tailnet cannot be read in time.
pub async fn device_options(
    state: &AppState,
    user: &SlackUserId,
    profile: Option<&str>,
    query: &str,
) -> Vec<(&'static str, Vec<DeviceSnapshot>)> {
    let profile = profile
        .and_then(|a| state.config.profile(a))
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
            return Vec::new();
        }
    };
    let own = email
        .as_deref()
        .map(|e| index.owned_by(e))
        .unwrap_or_default();
    let matching = index.search(query);
    devices::option_groups(profile, email.as_deref(), own, matching, query)
        .into_iter()
        .map(|(group, devs)| (group, devs.into_iter().map(devices::snapshot).collect()))
        .collect()
}
