//! What this process remembers about recent clicks that changed nothing
//! (see `flow::clicks`), bounded so a flood of distinct keys cannot grow it.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::domain::{AccessRequest, RequestId, RequestStatus, SlackUserId};

/// Entries each memory keeps before it drops the outdated ones.
const MAX_ENTRIES: usize = 10_000;

/// What this process remembers about recent clicks.
#[derive(Default)]
pub struct ClickMemory {
    pub requests: Bounded<RequestId, (Instant, Option<Arc<AccessRequest>>)>,
    pub notes: Bounded<(SlackUserId, String), (DateTime<Utc>, u64)>,
    pub refreshes: Bounded<RequestId, (DateTime<Utc>, RequestStatus)>,
}

/// A map that forgets what `outdated` says when it grows past
/// [`MAX_ENTRIES`] (and everything if that is not enough), so a flood of
/// distinct keys cannot grow it without bound.
pub struct Bounded<K, V>(Mutex<HashMap<K, V>>);

impl<K, V> Default for Bounded<K, V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<K: Eq + Hash, V: Clone> Bounded<K, V> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &K) -> Option<V> {
        self.lock().get(key).cloned()
    }

    pub fn put(&self, key: K, value: V, outdated: impl Fn(&V) -> bool) {
        Self::insert(&mut self.lock(), key, value, outdated);
    }

    /// Sets `key` to `value` if `replace` says the current value (if any)
    /// may be replaced; whether it did. Atomic: of two racing callers, one
    /// wins.
    pub fn put_if(
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
}
