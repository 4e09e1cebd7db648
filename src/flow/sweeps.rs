//! What time moves on: grants whose expiry passed, requests nobody decided
//! in time, and the gauges. Several replicas may sweep at once: every step
//! is a compare-and-set or a job enqueued at most once.

use crate::domain::access::TAILSCALE_EXPIRY_LAG;
use crate::domain::RequestStatus;
use crate::state::AppState;
use crate::store::{Actor, JobKind, NewJob, NotifyEvent, RequestFilter, StoreError, Transition};

/// Active grants whose expiry passed: converge their pair, which removes
/// the attribute unless another grant still needs it, and only then marks
/// the grant `expired` (so "has ended" is true when it is said).
pub async fn expire_due(state: &AppState) -> Result<(), StoreError> {
    let now = state.now();
    let due = RequestFilter {
        statuses: vec![RequestStatus::Active],
        expires_before: Some(now),
        ..Default::default()
    };
    for req in state.store.list_requests(&due).await? {
        let queued = state
            .store
            .enqueue_once(&NewJob::now(req.id, JobKind::Converge, now))
            .await?;
        if queued.is_some() {
            state.kick();
        }
    }
    Ok(())
}

/// pending → timed_out for requests nobody decided in time.
pub async fn time_out_due(state: &AppState) -> Result<(), StoreError> {
    let now = state.now();
    let cutoff =
        now - chrono::Duration::from_std(state.config.requests.pending_timeout).unwrap_or_default();
    let due = RequestFilter {
        statuses: vec![RequestStatus::Pending],
        created_before: Some(cutoff),
        ..Default::default()
    };
    for req in state.store.list_requests(&due).await? {
        let t = Transition::new(
            req.id,
            RequestStatus::Pending,
            RequestStatus::TimedOut,
            Actor::System,
            now,
        )
        .job(NewJob::notify(req.id, NotifyEvent::TimedOut, now));
        match state.store.transition(t).await {
            Ok(_) => {
                state
                    .metrics
                    .request_outcome(req.attribute.as_str(), "timed_out");
                tracing::info!(request = %req.id, "request timed out");
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn with_status(status: RequestStatus) -> RequestFilter {
    RequestFilter {
        statuses: vec![status],
        ..Default::default()
    }
}

pub async fn update_gauges(state: &AppState) -> Result<(), StoreError> {
    let now = state.now();
    let stats = state.store.job_stats(now).await?;
    state.metrics.job_queue_depth.set(stats.due);
    state.metrics.dead_jobs.set(stats.dead);
    state.metrics.job_oldest_due_age.set(
        stats
            .oldest_due
            .map(|t| (now - t).num_seconds().max(0))
            .unwrap_or(0),
    );
    let store = &state.store;
    let active = store
        .count_requests(&with_status(RequestStatus::Active))
        .await?;
    state.metrics.active_grants.set(active);
    // Access that should have ended and is not known to be gone: revokes
    // Tailscale has not confirmed, and grants past their expiry (beyond
    // the minutes Tailscale itself may take) not yet seen removed.
    let revoking = store
        .count_requests(&with_status(RequestStatus::Revoking))
        .await?;
    let overdue = store
        .count_requests(&RequestFilter {
            expires_before: Some(now - TAILSCALE_EXPIRY_LAG),
            ..with_status(RequestStatus::Active)
        })
        .await?;
    state.metrics.lingering_grants.set(revoking + overdue);
    Ok(())
}
