//! Per-process locks of (device, attribute) pairs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::access::Pair;

/// Per-process mutexes of pairs, so that this process's own converges of a
/// pair queue here instead of polling the database lease.
#[derive(Default)]
pub struct PairLocks(Mutex<HashMap<Pair, Arc<tokio::sync::Mutex<()>>>>);

impl PairLocks {
    /// The pair's guard; `on_wait` runs first when another holds it.
    pub async fn lock(
        &self,
        pair: &Pair,
        on_wait: impl FnOnce(),
    ) -> tokio::sync::OwnedMutexGuard<()> {
        let mutex = {
            let mut map = self.0.lock().expect("pair locks");
            // Forget pairs nobody holds or waits for, so the map stays small.
            map.retain(|_, m| Arc::strong_count(m) > 1);
            map.entry(pair.clone()).or_default().clone()
        };
        match mutex.clone().try_lock_owned() {
            Ok(guard) => guard,
            Err(_) => {
                on_wait();
                mutex.lock_owned().await
            }
        }
    }
}
