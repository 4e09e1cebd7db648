//! The App Home tab, kept current. It is published when someone opens it,
//! and re-published for everyone a request concerns whenever the request
//! changes: a durable job per person ([`JobKind::Home`]), queued by the
//! request's notification job, coalesced (at most one waits per person) and
//! run a moment later, so a burst of changes (an approval, then the grant)
//! publishes once.
//!
//! [`JobKind::Home`]: crate::store::JobKind::Home

use std::collections::BTreeSet;
use std::time::Duration;

use slack_morphism::prelude::SlackView;

use super::jobs::JobError;
use crate::domain::{AccessRequest, RequestStatus, SlackUserId};
use crate::slack::views::home::{home_view, HomeContent, Item, Section, PER_SECTION};
use crate::state::AppState;
use crate::store::{Actor, AuditEvent, NewJob, RequestFilter, StoreError};

/// How long a queued refresh waits for more changes to fold in.
pub const REFRESH_DELAY: Duration = Duration::from_secs(1);

/// The requests waiting for `user`'s decision: today, the pending requests
/// that name them as the approver. (Approval policies that ask several
/// approvers widen this.)
pub fn waiting_for(user: &SlackUserId) -> RequestFilter {
    RequestFilter {
        approver: Some(user.clone()),
        statuses: vec![RequestStatus::Pending],
        ..Default::default()
    }
}

/// The grants `user` approved for other people that are still live.
pub fn approved_by(user: &SlackUserId) -> RequestFilter {
    RequestFilter {
        decided_by: Some(user.clone()),
        not_requester: Some(user.clone()),
        statuses: vec![RequestStatus::Active, RequestStatus::Revoking],
        ..Default::default()
    }
}

/// `user`'s own requests in `statuses`.
fn own(user: &SlackUserId, statuses: &[RequestStatus]) -> RequestFilter {
    RequestFilter {
        requester: Some(user.clone()),
        statuses: statuses.to_vec(),
        ..Default::default()
    }
}

/// The newest [`PER_SECTION`] requests `filter` selects, and how many it
/// selects in all (counted only when there may be more).
async fn section(state: &AppState, mut filter: RequestFilter) -> Result<Section, StoreError> {
    filter.limit = Some(PER_SECTION);
    let requests = state.store.list_requests(&filter).await?;
    let total = match requests.len() as u64 {
        shown if shown < u64::from(PER_SECTION) => shown,
        _ => state.store.count_requests(&filter).await?.max(0) as u64,
    };
    let items = requests
        .into_iter()
        .map(|req| Item {
            profile_name: super::profile_name(state, &req),
            req,
        })
        .collect();
    Ok(Section { items, total })
}

/// `user`'s home as the database says now.
pub async fn build(state: &AppState, user: &SlackUserId) -> Result<SlackView, StoreError> {
    use RequestStatus::*;
    let home = HomeContent {
        now: state.now(),
        active: section(state, own(user, &[Active, Revoking])).await?,
        pending: section(state, own(user, &[Pending, Approved])).await?,
        history: section(
            state,
            own(
                user,
                &[
                    Expired, Revoked, Denied, Cancelled, TimedOut, Failed, Extended,
                ],
            ),
        )
        .await?,
        waiting: section(state, waiting_for(user)).await?,
        approved: section(state, approved_by(user)).await?,
    };
    Ok(home_view(&home))
}

/// The job: publish `user`'s home. Slack's rate limit (views.publish is
/// Tier 4) and outages are retried by the queue, after `Retry-After`.
pub async fn run_home(state: &AppState, user: &SlackUserId) -> Result<(), JobError> {
    let view = build(state, user).await?;
    state.slack.publish_home(user.as_str(), view).await?;
    Ok(())
}

/// `app_home_opened`: publish at once (the person is looking). When Slack
/// cannot take it now, the job queue tries again.
pub async fn publish(state: AppState, user: SlackUserId) {
    let published = match build(&state, &user).await {
        Ok(view) => state.slack.publish_home(user.as_str(), view).await,
        Err(e) => {
            tracing::warn!(error = %e, "could not read the App Home");
            return;
        }
    };
    match published {
        Ok(()) => {}
        Err(e) if e.is_transient() => {
            tracing::info!(error = %e, "App Home not published yet; queued");
            let wait = chrono::Duration::from_std(e.retry_after().unwrap_or_default());
            let job = NewJob::home(user, state.now() + wait.unwrap_or_default());
            if let Err(e) = state.store.enqueue_once(&job).await {
                tracing::warn!(error = %e, "could not queue the App Home");
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not publish App Home"),
    }
}

/// Everyone whose home shows `req`: the requester, the approver it names,
/// whoever decided, and whoever acted on it (cancelled, revoked).
pub fn concerned(req: &AccessRequest, trail: &[AuditEvent]) -> BTreeSet<SlackUserId> {
    let named = [
        Some(&req.requester),
        req.approver.as_ref(),
        req.decided_by.as_ref(),
    ];
    let mut people: BTreeSet<SlackUserId> = named.into_iter().flatten().cloned().collect();
    people.extend(trail.iter().filter_map(|e| match &e.actor {
        Actor::User(u) => Some(u.clone()),
        _ => None,
    }));
    people
}

/// After `req` changed: queue a refresh of the home of everyone it
/// concerns, [`REFRESH_DELAY`] from now, unless one is already waiting.
pub async fn refresh_concerned(
    state: &AppState,
    req: &AccessRequest,
    trail: &[AuditEvent],
) -> Result<(), StoreError> {
    let at = state.now() + chrono::Duration::from_std(REFRESH_DELAY).unwrap_or_default();
    for user in concerned(req, trail) {
        state.store.enqueue_once(&NewJob::home(user, at)).await?;
    }
    Ok(())
}
