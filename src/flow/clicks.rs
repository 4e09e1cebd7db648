//! Clicks that cannot change anything, made cheap: a repeated, retried or
//! replayed click on a request that is already decided, cancelled, or
//! unknown. Such a click writes nothing to the database, is answered from
//! memory after the first one, and tells the person at most once a minute
//! (per person and request, unless the answer changed). Its message is
//! refreshed only when it is really stale (see [`refresh`]).
//!
//! A click that can act (a pending request's Approve, an active grant's
//! Revoke) goes to [`super::decide`] as before.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tracing::Instrument;

use super::decide::NOT_YOURS;
use crate::domain::{AccessRequest, RequestId, RequestStatus, SlackUserId};
use crate::slack::messages::actions;
use crate::state::AppState;
use crate::store::{NewJob, StoreError};

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
/// Entries each memory keeps before it drops the outdated ones.
const MAX_ENTRIES: usize = 10_000;

pub const INVALID_BUTTON: &str = "That button is not valid. Please use the latest message.";
pub const NOT_FOUND: &str = "That request does not exist.";
pub const NOT_REQUESTER: &str = "Only the requester can cancel this request.";

/// "This request is already denied."
pub fn already(status: RequestStatus) -> String {
    format!(
        "This request is already {}.",
        status.as_str().replace('_', " ")
    )
}

/// What this process remembers about recent clicks.
#[derive(Default)]
pub struct ClickMemory {
    requests: Bounded<RequestId, (Instant, Option<Arc<AccessRequest>>)>,
    notes: Bounded<(SlackUserId, String), (DateTime<Utc>, u64)>,
    refreshes: Bounded<RequestId, (DateTime<Utc>, RequestStatus)>,
}

/// A map that forgets what `outdated` says when it grows past
/// [`MAX_ENTRIES`] (and everything if that is not enough), so a flood of
/// distinct keys cannot grow it without bound.
struct Bounded<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Bounded<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, key: &K) -> Option<V> {
        self.lock().get(key).cloned()
    }

    fn put(&self, key: K, value: V, outdated: impl Fn(&V) -> bool) {
        Self::insert(&mut self.lock(), key, value, outdated);
    }

    /// Sets `key` to `value` if `replace` says the current value (if any)
    /// may be replaced; whether it did. Atomic: of two racing callers, one
    /// wins.
    fn put_if(
        &self,
        key: K,
        value: V,
        replace: impl Fn(&V) -> bool,
        outdated: impl Fn(&V) -> bool,
    ) -> bool {
        let mut map = self.lock();
        if map.get(&key).is_some_and(|v| !replace(v)) {
            return false;
        }
        Self::insert(&mut map, key, value, outdated);
        true
    }

    fn insert(map: &mut HashMap<K, V>, key: K, value: V, outdated: impl Fn(&V) -> bool) {
        if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
            map.retain(|_, v| !outdated(v));
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
        }
        map.insert(key, value);
    }
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
        actions::APPROVE | actions::DENY if req.approver.as_ref() != Some(clicker) => {
            return Ok(Some(NOT_YOURS.to_owned()))
        }
        actions::CANCEL if &req.requester != clicker => return Ok(Some(NOT_REQUESTER.to_owned())),
        actions::APPROVE | actions::DENY | actions::CANCEL => req.status != RequestStatus::Pending,
        // Whether someone else may revoke takes Slack lookups: `decide`.
        actions::REVOKE => {
            req.status.is_terminal()
                && (&req.requester == clicker || req.decided_by.as_ref() == Some(clicker))
        }
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
            match state.store.enqueue(&NewJob::notify(id, "refresh", now)).await {
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
    fn bounded_maps_forget_outdated_entries_first_and_never_grow_past_the_cap() {
        let map: Bounded<usize, bool> = Bounded::default();
        for i in 0..MAX_ENTRIES {
            // Even keys are outdated.
            map.put(i, i % 2 == 0, |old| *old);
        }
        map.put(MAX_ENTRIES, false, |old| *old);
        assert_eq!(map.lock().len(), MAX_ENTRIES / 2 + 1);
        assert_eq!(map.get(&1), Some(false));
        assert_eq!(map.get(&2), None);
        // Nothing outdated: everything goes rather than growing.
        let full: Bounded<usize, ()> = Bounded::default();
        for i in 0..=MAX_ENTRIES {
            full.put(i, (), |_| false);
        }
        assert_eq!(full.lock().len(), 1);
    }

    #[test]
    fn put_if_keeps_what_may_not_be_replaced() {
        let map: Bounded<&str, u32> = Bounded::default();
        assert!(map.put_if("a", 1, |_| false, |_| false));
        assert!(!map.put_if("a", 2, |old| *old > 1, |_| false));
        assert_eq!(map.get(&"a"), Some(1));
        assert!(map.put_if("a", 3, |old| *old == 1, |_| false));
        assert_eq!(map.get(&"a"), Some(3));
    }

    #[test]
    fn already_names_the_status_in_words() {
        assert_eq!(
            already(RequestStatus::TimedOut),
            "This request is already timed out."
        );
    }
}
