//! What every handler and the worker share.

mod clicks;
mod in_flight;
mod pairs;

use std::sync::Arc;

use tokio::sync::Notify;

pub use clicks::{Bounded, ClickMemory};
pub use in_flight::InFlight;
pub use pairs::PairLocks;

use crate::clock::DynClock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::slack::api::SlackApi;
use crate::slack::people::People;
use crate::slack::team::HomeTeam;
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
    /// Requests in progress (HTTP and Socket Mode), capped by `server.max_in_flight`.
    pub in_flight: InFlight,
    /// Recent clicks that changed nothing, so their repeats stay cheap.
    pub clicks: ClickMemory,
    /// The bot's own workspace; interactions from any other are refused.
    pub home_team: HomeTeam,
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
