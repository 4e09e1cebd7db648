//! The click on Extend: the form, built from the stored grant and the
//! config only (one database read, no Slack or Tailscale lookup), since
//! the click's trigger is valid for 3 s; or why it cannot be extended.

use chrono::SubsecRound;
use slack_morphism::prelude::SlackView;

use crate::domain::extension::{offered, Refusal};
use crate::domain::profile::format_duration;
use crate::domain::{RequestId, RequestStatus, SlackUserId};
use crate::flow::notify::facts::added_without_approval;
use crate::slack::views::extend::{extend_form, ExtendForm};
use crate::state::AppState;
use crate::store::{RequestFilter, StoreError};

/// The Extend form for `clicker` and grant `id`, or what to tell them.
pub async fn form(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
) -> Result<Result<SlackView, String>, StoreError> {
    let Some(grant) = state.store.get_request(id).await? else {
        return Ok(Err(crate::flow::clicks::NOT_FOUND.into()));
    };
    let Some(profile) = crate::flow::profile_of(state, &grant) else {
        return Ok(Err(Refusal::NoProfile.to_string()));
    };
    let now = state.now();
    let durations = match offered(&grant, clicker, profile, now) {
        Ok(d) => d,
        Err(refusal) => return Ok(Err(refusal.to_string())),
    };
    let waiting = state
        .store
        .list_requests(&RequestFilter {
            extends: Some(grant.id),
            statuses: vec![RequestStatus::Pending, RequestStatus::Approved],
            limit: Some(1),
            ..Default::default()
        })
        .await?;
    if let Some(other) = waiting.first() {
        return Ok(Err(format!(
            "Your request to extend this access by {} is still waiting: cancel it first to ask for something else.",
            format_duration(other.duration)
        )));
    }
    let trail = state.store.audit_events(grant.id).await?;
    let used = added_without_approval(&trail);
    let window_end = grant.decided_at.map(|d| {
        (d + chrono::Duration::from_std(profile.max_duration).unwrap_or_default()).trunc_subsecs(0)
    });
    let free = match (profile.extend_without_approval, window_end) {
        (Some(budget), Some(end)) if budget > used && grant.expires_at < Some(end) => {
            Some((budget - used, end))
        }
        _ => None,
    };
    let name = crate::flow::profile_name(state, &grant);
    Ok(Ok(extend_form(&ExtendForm {
        grant: &grant,
        profile_name: &name,
        durations: &durations,
        free,
    })))
}

/// Open the form with the click's trigger (valid 3 s, once).
pub async fn open(state: AppState, trigger_id: String, view: SlackView) {
    if let Err(e) = state.slack.open_view(&trigger_id, view).await {
        tracing::warn!(error = %e, "could not open the Extend form");
    }
}
