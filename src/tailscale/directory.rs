//! The tailnet's devices, kept in memory so Slack's 3-second options
//! requests never wait for Tailscale: a TTL cache refreshed in the
//! background (stale-while-revalidate, one fetch at a time).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{Device, DeviceIndex, TailscaleClient, TailscaleError};
use crate::clock::DynClock;
use crate::domain::NodeId;

/// After a failed background refresh, wait at most this long before the next.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct DeviceDirectory {
    inner: Arc<Inner>,
}

struct Inner {
    client: TailscaleClient,
    ttl: chrono::Duration,
    clock: DynClock,
    cache: Mutex<Cache>,
    /// Held while the device list is fetched: one fetch at a time.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    index: Option<Arc<DeviceIndex>>,
    fetched_at: Option<DateTime<Utc>>,
    /// A background refresh is under way.
    refreshing: bool,
    /// A background refresh failed: not another before this.
    paused_until: Option<DateTime<Utc>>,
}

impl Cache {
    fn is_fresh(&self, now: DateTime<Utc>, ttl: chrono::Duration) -> bool {
        self.index.is_some() && self.fetched_at.is_some_and(|at| now - at < ttl)
    }
}

impl DeviceDirectory {
    pub fn new(client: TailscaleClient, ttl: Duration, clock: DynClock) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                ttl: chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
                clock,
                cache: Mutex::new(Cache::default()),
                fetching: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The device index: from memory when fresh; when stale, the stale one
    /// at once while one background refresh runs; the very first call waits
    /// for the list.
    pub async fn index(&self) -> Result<Arc<DeviceIndex>, TailscaleError> {
        let now = self.inner.clock.now();
        let stale = {
            let mut cache = self.inner.lock();
            if cache.is_fresh(now, self.inner.ttl) {
                return Ok(cache.index.clone().expect("fresh cache has an index"));
            }
            match cache.index.clone() {
                Some(stale) => {
                    let may_refresh =
                        !cache.refreshing && cache.paused_until.is_none_or(|until| now >= until);
                    if may_refresh {
                        cache.refreshing = true;
                    }
                    Some((stale, may_refresh))
                }
                None => None,
            }
        };
        match stale {
            Some((stale, refresh)) => {
                if refresh {
                    let inner = self.inner.clone();
                    tokio::spawn(async move { inner.refresh_in_background().await });
                }
                Ok(stale)
            }
            // In a task of its own, so a caller that gives up (Slack's
            // 3-second budget) does not abandon the fetch for everyone.
            None => {
                let inner = self.inner.clone();
                tokio::spawn(async move { inner.first_fetch().await })
                    .await
                    .unwrap_or_else(|e| {
                        Err(TailscaleError::Transport(format!(
                            "the device list fetch stopped: {e}"
                        )))
                    })
            }
        }
    }

    /// Fetch the list now, whatever the cache holds (after a change the
    /// caller knows about, or to warm the cache at start-up).
    pub async fn refresh(&self) -> Result<Arc<DeviceIndex>, TailscaleError> {
        let _one_at_a_time = self.inner.fetching.lock().await;
        self.inner.fetch().await
    }

    /// One device, fresh enough to validate a submission: from the index
    /// while it is fresh, otherwise (or when it is not in the index) from
    /// Tailscale. `None` when Tailscale does not know the device.
    pub async fn find(&self, node: &NodeId) -> Result<Option<Device>, TailscaleError> {
        let now = self.inner.clock.now();
        let (cached, fresh) = {
            let cache = self.inner.lock();
            let cached = cache.index.as_ref().and_then(|i| i.get(node)).cloned();
            (cached, cache.is_fresh(now, self.inner.ttl))
        };
        if fresh && cached.is_some() {
            return Ok(cached);
        }
        match self.inner.client.get_device(node).await {
            Ok(found) => Ok(found),
            Err(e) if e.is_transient() && cached.is_some() => {
                tracing::warn!(node = %node, error = %e, "Tailscale unavailable; using the cached device");
                Ok(cached)
            }
            Err(e) => Err(e),
        }
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // The cache holds plain data; a panic elsewhere cannot leave it half-written.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn first_fetch(&self) -> Result<Arc<DeviceIndex>, TailscaleError> {
        let _one_at_a_time = self.fetching.lock().await;
        // Whoever held the lock before us may have fetched it already.
        if let Some(index) = self.lock().index.clone() {
            return Ok(index);
        }
        self.fetch().await
    }

    /// Fetch and store the list; the caller holds `fetching`.
    async fn fetch(&self) -> Result<Arc<DeviceIndex>, TailscaleError> {
        let started = self.clock.now();
        let devices = self.client.list_devices().await?;
        let index = Arc::new(DeviceIndex::new(devices));
        let mut cache = self.lock();
        cache.index = Some(index.clone());
        cache.fetched_at = Some(started);
        cache.paused_until = None;
        Ok(index)
    }

    async fn refresh_in_background(self: Arc<Self>) {
        let result = {
            let _one_at_a_time = self.fetching.lock().await;
            self.fetch().await
        };
        let mut cache = self.lock();
        cache.refreshing = false;
        if let Err(e) = result {
            let pause = chrono::Duration::from_std(MAX_RETRY_PAUSE)
                .unwrap_or_default()
                .min(self.ttl);
            cache.paused_until = Some(self.clock.now() + pause);
            tracing::warn!(error = %e, "device list refresh failed; serving the previous list");
        }
    }
}
