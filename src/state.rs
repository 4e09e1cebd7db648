//! What every handler and the worker share.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::DynClock;
use crate::config::Config;
use crate::edge::server::InFlight;
use crate::edge::team::HomeTeam;
use crate::flow::clicks::ClickMemory;
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
    /// Requests in progress (HTTP and Socket Mode), capped by `server.max_in_flight`.
    pub in_flight: InFlight,
    /// Recent clicks that changed nothing, so their repeats stay cheap.
    pub clicks: ClickMemory,
    /// The bot's own workspace; interactions from any other are refused.
    pub home_team: HomeTeam,
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
