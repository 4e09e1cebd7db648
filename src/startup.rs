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
use crate::edge::server;
use crate::metrics::Metrics;
use crate::slack::api::SlackApi;
use crate::slack::people::People;
use crate::slack::team::HomeTeam;
use crate::state::{AppState, Inner};
use crate::state::{ClickMemory, InFlight};
use crate::tailscale::{DeviceDirectory, TailscaleClient};
use crate::worker::Worker;

pub struct Application {
    listener: TcpListener,
    /// `server.metrics_listen`, when `/metrics` has a listener of its own.
    metrics_listener: Option<TcpListener>,
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
        let metrics_listener = match config.server.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (server.metrics_listen)"))?,
            ),
            None => None,
        };
        let state = AppState::new(Inner {
            in_flight: InFlight::new(config.server.limits.max_in_flight),
            clicks: ClickMemory::default(),
            home_team: HomeTeam::default(),
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
        Ok(Self {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Where `/metrics` is served when it has a listener of its own.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .map(|l| l.local_addr().expect("bound listener has an address"))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves (and runs the worker, unless switched off) until `shutdown`
    /// resolves; in-flight requests and the job in progress finish first,
    /// within `server.shutdown_timeout` in all.
    /// Background tasks belong to this future: if it is dropped (aborted),
    /// they stop with it, as they would with the process.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let state = self.state.clone();
        let limits = state.config.server.limits;
        let router = crate::edge::router::router(state.clone());
        let stop = CancellationToken::new();
        let mut background = tokio::task::JoinSet::new();
        let worker = state.config.worker.enabled;
        if worker {
            background.spawn(Worker::new(state.clone()).run(stop.clone()));
            background.spawn(crate::flow::reconcile::run_every(
                state.clone(),
                stop.clone(),
            ));
        }
        // Every replica answers Slack, so every replica keeps the people
        // directory warm.
        let people = state.clone();
        let stop_people = stop.clone();
        background.spawn(async move {
            people
                .people
                .keep_warm(&people.config.profiles, stop_people)
                .await
        });
        let (addr, metrics_addr) = (self.local_addr(), self.metrics_addr());
        let socket_mode = state.config.slack.socket_mode;
        if let (true, Some(token)) = (socket_mode, state.config.slack.app_token.clone()) {
            background.spawn(crate::edge::socket::run(state.clone(), token, stop.clone()));
        }
        if let Some(listener) = self.metrics_listener {
            let metrics = crate::edge::router::metrics_router(state.clone());
            let stop = stop.clone();
            background.spawn(server::serve(
                listener,
                metrics,
                limits,
                state.metrics.clone(),
                async move { stop.cancelled().await },
            ));
        }
        // Learn the bot's workspace now, so the first interaction need not.
        let warm = state.clone();
        background.spawn(async move {
            let _ = warm.home_team.id(&warm.slack).await;
        });
        tracing::info!(
            %addr,
            ?metrics_addr,
            worker,
            socket_mode,
            "accessbot listening"
        );
        let stop_server = stop.clone();
        // When shutdown began: the deadline covers the HTTP drain and the
        // background together.
        let stopping_since = Arc::new(std::sync::OnceLock::new());
        let noted = stopping_since.clone();
        server::serve(
            self.listener,
            router,
            limits,
            state.metrics.clone(),
            async move {
                shutdown.await;
                let _ = noted.set(tokio::time::Instant::now());
                stop_server.cancel();
            },
        )
        .await;
        stop.cancel();
        // The background gets what is left of the shutdown deadline.
        let began = stopping_since
            .get()
            .copied()
            .unwrap_or_else(tokio::time::Instant::now);
        let left = (began + limits.shutdown_timeout)
            .saturating_duration_since(tokio::time::Instant::now());
        let finished = tokio::time::timeout(left, async {
            while background.join_next().await.is_some() {}
        })
        .await;
        if finished.is_err() {
            tracing::warn!("shutdown deadline passed; stopping the worker where it is");
            background.shutdown().await;
        }
        Ok(())
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
