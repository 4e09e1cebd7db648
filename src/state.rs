//! What every handler and the worker share.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use crate::clock::DynClock;
use crate::config::Config;
use crate::domain::access::Pair;
use crate::metrics::Metrics;
use crate::slack::api::SlackApi;
use crate::slack::people::People;
use crate::store::DynStore;
use crate::tailscale::{DeviceDirectory, TailscaleClient};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub clock: DynClock,
    pub metrics: Metrics,
    pub slack: SlackApi,
    pub people: People,
    pub tailscale: TailscaleClient,
    pub devices: DeviceDirectory,
    /// Wakes the worker when a job was enqueued, so work starts at once
    /// instead of at the next poll.
    pub wake: Notify,
    /// This process among the replicas (host, pid, random): holds job
    /// leases and attribute locks.
    pub instance: String,
    /// This process's queue for each (device, attribute) pair it converges.
    pub pairs: PairLocks,
}

/// A name for this process that no other replica (or restart) shares.
pub fn instance_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "accessbot".into());
    format!(
        "{host}-{}-{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    /// Tell the worker there is work.
    pub fn kick(&self) {
        self.wake.notify_one();
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

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
