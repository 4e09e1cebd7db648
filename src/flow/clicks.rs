//! Clicks that cannot change anything, made cheap: a repeated, retried or
//! replayed click on a request that is already decided, cancelled, or
//! unknown. Such a click writes nothing to the database, is answered from
//! memory after the first one, and tells the person at most once a minute
//! (per person and request, unless the answer changed). Its message is
//! refreshed only when it is really stale (see [`refresh`]).
//!
//! A click that can act (a pending request's Approve, an active grant's
//! Revoke) goes to [`super::decide`] as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::domain::{AccessRequest, RequestId, RequestStatus, SlackUserId};
use crate::slack::messages::actions;
use crate::state::AppState;
use crate::store::{NewJob, NotifyEvent, StoreError};

/// One note per person and request (with the same text) this often.
pub const NOTE_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);
/// One refresh request per request and status this often.
pub const REFRESH_INTERVAL: chrono::Duration = chrono::Duration::seconds(60);
/// How long a request that can still change (approved, active) is answered
/// from memory before it is read again. Terminal ones never change.
const SNAPSHOT_TTL: Duration = Duration::from_secs(1);
/// Unknown request IDs are remembered this long (a click can only name a
/// request that was stored before its message was sent).
const MISSING_TTL: Duration = Duration::from_secs(60);

pub const INVALID_BUTTON: &str = "That button is not valid. Please use the latest message.";
pub const NOT_FOUND: &str = "That request does not exist.";
pub const NOT_REQUESTER: &str = "Only the requester can cancel this request.";
pub const NOT_CANCELLER: &str = "Only the requester or the approver can cancel this approval.";

/// "This request is already denied."
pub fn already(status: RequestStatus) -> String {
    format!("This request is already {}.", status.describe())
}

/// The request a click names, from memory when that is still the truth.
async fn lookup(state: &AppState, id: RequestId) -> Result<Option<Arc<AccessRequest>>, StoreError> {
    let memory = &state.clicks.requests;
    if let Some((at, known)) = memory.get(&id) {
        let still_true = match &known {
            Some(req) => req.status.is_terminal() || at.elapsed() < SNAPSHOT_TTL,
            None => at.elapsed() < MISSING_TTL,
        };
        if still_true {
            return Ok(known);
        }
    }
    let found = state.store.get_request(id).await?.map(Arc::new);
    // Only what cannot be acted on is worth keeping: a pending request's
    // next click goes to `decide`, which reads it anyway.
    let keep = found
        .as_ref()
        .is_none_or(|r| r.status != RequestStatus::Pending);
    if keep {
        memory.put(id, (Instant::now(), found.clone()), |(at, known)| {
            known.as_ref().is_none_or(|r| !r.status.is_terminal()) && at.elapsed() >= MISSING_TTL
        });
    }
    Ok(found)
}

/// The answer to a click on request `id` that cannot change anything, or
/// `None` when it might (then [`super::decide`] handles it). Reads the
/// request at most once a second; writes nothing.
pub async fn settled(
    state: &AppState,
    id: RequestId,
    action: &str,
    clicker: &SlackUserId,
) -> Result<Option<String>, StoreError> {
    let Some(req) = lookup(state, id).await? else {
        return Ok(Some(NOT_FOUND.to_owned()));
    };
    let moved_on = match action {
        // As `decide::cancel`: the requester while pending; the requester
        // or the approver who approved while the approval is not applied.
        actions::CANCEL => {
            let is_requester = &req.requester == clicker;
            let is_decider = req.decided_by.as_ref() == Some(clicker);
            match req.status {
                RequestStatus::Pending if !is_requester => {
                    return Ok(Some(NOT_REQUESTER.to_owned()))
                }
                _ if !(is_requester || is_decider) => return Ok(Some(NOT_CANCELLER.to_owned())),
                status => !matches!(status, RequestStatus::Pending | RequestStatus::Approved),
            }
        }
        // Who may decide a pending request depends on its profile's
        // approval policy: `decide` checks that.
        actions::APPROVE | actions::DENY => req.status != RequestStatus::Pending,
        // Whether someone else may revoke takes Slack lookups: `decide`.
        actions::REVOKE => {
            req.status.is_terminal()
                && (&req.requester == clicker || req.decided_by.as_ref() == Some(clicker))
        }
        // Only the requester extends; `extend::form` tells anyone else.
        actions::EXTEND => req.status.is_terminal() && &req.requester == clicker,
        _ => false,
    };
    if !moved_on {
        return Ok(None);
    }
    // The clicked message still offers a button the request has left behind.
    refresh(state, &req);
    Ok(Some(already(req.status)))
}

/// Someone clicked a button the request has left behind. Its messages
/// are re-rendered by the notification its last change enqueued; only if
/// that notification was given up (Slack was down for hours) are they
/// stale, and then one refresh is enqueued. Checked at most once per
/// request and status a minute in this process, after the ack.
pub fn refresh(state: &AppState, req: &AccessRequest) {
    let now = state.now();
    let first = state.clicks.refreshes.put_if(
        req.id,
        (now, req.status),
        |(at, status)| *status != req.status || now.signed_duration_since(*at) >= REFRESH_INTERVAL,
        |(at, _)| now.signed_duration_since(*at) >= REFRESH_INTERVAL,
    );
    if !first {
        return;
    }
    let (state, id) = (state.clone(), req.id);
    tokio::spawn(
        async move {
            let stale = match state.store.notification_jobs(id, now).await {
                Ok(jobs) => jobs.waiting == 0 && jobs.dead > 0,
                Err(e) => {
                    tracing::warn!(request = %id, error = %e, "cannot tell whether messages are stale");
                    false
                }
            };
            if !stale {
                return;
            }
            match state.store.enqueue(&NewJob::notify(id, NotifyEvent::Refresh, now)).await {
                Ok(_) => state.kick(),
                Err(e) => {
                    tracing::warn!(request = %id, error = %e, "could not enqueue message refresh")
                }
            }
        }
        .in_current_span(),
    );
}

/// An ephemeral note to one person about `subject` (a request ID, or what
/// was wrong with the click), sent after the ack; the same note again
/// within a minute is dropped (a flood of clicks gets one answer).
pub fn tell(
    state: &AppState,
    channel: Option<String>,
    user: &SlackUserId,
    subject: &str,
    text: &str,
) {
    let now = state.now();
    let digest = fingerprint(text);
    let first = state.clicks.notes.put_if(
        (user.clone(), subject.to_owned()),
        (now, digest),
        |(at, seen)| *seen != digest || now.signed_duration_since(*at) >= NOTE_INTERVAL,
        |(at, _)| now.signed_duration_since(*at) >= NOTE_INTERVAL,
    );
    if !first {
        tracing::debug!(user = %user, subject, "same note sent within the minute; skipped");
        return;
    }
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

fn fingerprint(text: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(text.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn already_names_the_status_in_words() {
        assert_eq!(
            already(RequestStatus::TimedOut),
            "This request is already timed out."
        );
    }
}
