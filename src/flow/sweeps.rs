//! Transitions driven by time, compare-and-set so that several replicas
//! announce each one once.

use crate::domain::RequestStatus;
use crate::state::AppState;
use crate::store::{Actor, NewJob, RequestFilter, StoreError, Transition};

/// active → expired for grants whose time is up. Tailscale drops the
/// attribute by itself at the expiry we set.
pub async fn expire_due(state: &AppState) -> Result<(), StoreError> {
    let now = state.now();
    let due = RequestFilter {
        statuses: vec![RequestStatus::Active],
        expires_before: Some(now),
        ..Default::default()
    };
    sweep(state, due, RequestStatus::Expired).await
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
    sweep(state, due, RequestStatus::TimedOut).await
}

/// Moves every request `due` selects (all in one status) to `to`, and
/// notifies with the new status as the event. A request another replica
/// moved first is skipped.
async fn sweep(state: &AppState, due: RequestFilter, to: RequestStatus) -> Result<(), StoreError> {
    let now = state.now();
    for req in state.store.list_requests(&due).await? {
        let t = Transition::new(req.id, req.status, to, Actor::System, now).job(NewJob::notify(
            req.id,
            to.as_str(),
            now,
        ));
        match state.store.transition(t).await {
            Ok(_) => {
                state
                    .metrics
                    .request_outcome(req.attribute.as_str(), to.as_str());
                tracing::info!(request = %req.id, status = %to, "request moved on by time");
            }
            Err(StoreError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
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
    let active = state
        .store
        .count_requests(&RequestFilter {
            statuses: vec![RequestStatus::Active],
            ..Default::default()
        })
        .await?;
    state.metrics.active_grants.set(active);
    Ok(())
}
