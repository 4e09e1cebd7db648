//! Builds the running service from a config: database, clients, router,
//! worker, listener. Tests use the same path with fakes behind the
//! configured URLs.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::clock::DynClock;
use crate::config::{redact_url, Config};
use crate::metrics::Metrics;
use crate::slack::api::SlackApi;
use crate::slack::people::People;
use crate::state::{AppState, Inner};
use crate::tailscale::{DeviceDirectory, TailscaleClient};
use crate::worker::Worker;

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to and migrates the database, builds the API clients and
    /// binds the listen address.
    pub async fn build(config: Config, clock: DynClock) -> anyhow::Result<Self> {
        let db_url = config.database.url.expose_secret().to_owned();
        // `connect` names the (redacted) URL in its errors already.
        let store = crate::store::connect(&db_url, config.database.max_connections).await?;
        store
            .migrate()
            .await
            .with_context(|| format!("cannot migrate database {}", redact_url(&db_url)))?;
        let metrics = Metrics::new();
        let slack = SlackApi::new(&config.slack, metrics.clone())?;
        let tailscale =
            TailscaleClient::new(&config.tailscale, metrics.clone())?.with_clock(clock.clone());
        let devices = DeviceDirectory::new(
            tailscale.clone(),
            config.tailscale.device_cache_ttl,
            clock.clone(),
        );
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let state = AppState::new(Inner {
            config: Arc::new(config),
            store,
            clock,
            metrics,
            people: People::new(slack.clone()),
            slack,
            tailscale,
            devices,
            wake: tokio::sync::Notify::new(),
            instance: crate::state::instance_id(),
            pairs: Default::default(),
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and runs the worker, unless switched off) until `shutdown`
    /// resolves; in-flight requests and the job in progress finish first.
    /// Background tasks belong to this future: if it is dropped (aborted),
    /// they stop with it, as they would with the process.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let router = crate::edge::router::router(self.state.clone());
        let stop = CancellationToken::new();
        let mut background = tokio::task::JoinSet::new();
        let worker = self.state.config.worker.enabled;
        if worker {
            background.spawn(Worker::new(self.state.clone()).run(stop.clone()));
            background.spawn(crate::flow::reconcile::run_every(
                self.state.clone(),
                stop.clone(),
            ));
        }
        // Every replica answers Slack, so every replica keeps the people
        // directory warm.
        let state = self.state.clone();
        let stop_people = stop.clone();
        background.spawn(async move {
            state
                .people
                .keep_warm(&state.config.profiles, stop_people)
                .await
        });
        let socket_mode = self.state.config.slack.socket_mode;
        if let (true, Some(token)) = (socket_mode, self.state.config.slack.app_token.clone()) {
            background.spawn(crate::edge::socket::run(
                self.state.clone(),
                token,
                stop.clone(),
            ));
        }
        tracing::info!(
            addr = %self.local_addr(),
            worker,
            socket_mode,
            "accessbot listening"
        );
        let stop_server = stop.clone();
        let served = axum::serve(self.listener, router)
            .with_graceful_shutdown(async move {
                shutdown.await;
                stop_server.cancel();
            })
            .await
            .context("HTTP server failed");
        stop.cancel();
        while background.join_next().await.is_some() {}
        served
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
