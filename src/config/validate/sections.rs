//! One function per config section: each reads its raw section (and the
//! environment variables that override it), reports what is wrong and
//! returns the typed section, with defaults where a value was wrong.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::super::raw::{RawDatabase, RawRequests, RawServer, RawSlack, RawTailscale, RawWorker};
use super::super::{
    redact_url, DatabaseConfig, Env, MissingAttribute, RequestsConfig, ServerConfig, ServerLimits,
    SlackConfig, TailscaleAuth, TailscaleConfig, WorkerConfig,
};
use super::rules::{layered, layered_or, secret, secs, DurationRule, Problems};
use crate::domain::profile::MAX_MAX_DURATION;

const DEFAULT_LISTEN: ([u8; 4], u16) = ([0, 0, 0, 0], 8080);

// Each duration setting's default and range.
const SLACK_REQUEST_TIMEOUT: DurationRule = DurationRule::new(secs(10), secs(1), secs(120));
const TAILSCALE_REQUEST_TIMEOUT: DurationRule = DurationRule::new(secs(15), secs(1), secs(120));
const DEVICE_CACHE_TTL: DurationRule = DurationRule::new(secs(60), secs(1), secs(3600));
const PENDING_TIMEOUT: DurationRule =
    DurationRule::new(secs(24 * 3600), secs(60), MAX_MAX_DURATION);
const POLL_INTERVAL: DurationRule = DurationRule::new(secs(2), Duration::from_millis(10), secs(60));
const RECONCILE_INTERVAL: DurationRule = DurationRule::new(secs(300), secs(1), secs(24 * 3600));
// How long a client may take to send headers or a body: short enough that
// idle connections cannot pile up, long enough for a slow mobile link.
const CLIENT_TIMEOUT: DurationRule =
    DurationRule::new(secs(10), Duration::from_millis(100), secs(300));
const SHUTDOWN_TIMEOUT: DurationRule = DurationRule::new(secs(25), secs(1), secs(600));

pub(super) fn server(p: &mut Problems, env: &dyn Env, raw: RawServer) -> ServerConfig {
    let limits = limits(p, &raw);
    let listen = match layered(env, "ACCESSBOT_LISTEN", raw.listen, "server.listen") {
        None => SocketAddr::from(DEFAULT_LISTEN),
        Some((v, key)) => v.parse().unwrap_or_else(|_| {
            p.push(
                &key,
                Some(&v),
                "must be an address and port, e.g. \"0.0.0.0:8080\"",
            );
            SocketAddr::from(DEFAULT_LISTEN)
        }),
    };
    let public_url = layered(
        env,
        "ACCESSBOT_PUBLIC_URL",
        raw.public_url,
        "server.public_url",
    )
    .and_then(|(v, key)| p.public_url(&key, &v));
    let metrics_listen = raw.metrics_listen.and_then(|v| {
        v.parse()
            .map_err(|_| {
                p.push(
                    "server.metrics_listen",
                    Some(&v),
                    "must be an address and port, e.g. \"127.0.0.1:9090\"",
                )
            })
            .ok()
    });
    if metrics_listen.is_some_and(|m: SocketAddr| m == listen && m.port() != 0) {
        p.push(
            "server.metrics_listen",
            Some(&listen.to_string()),
            "must differ from server.listen (leave it out to serve /metrics there)",
        );
    }
    ServerConfig {
        listen,
        public_url,
        metrics_listen,
        limits,
    }
}

fn limits(p: &mut Problems, raw: &RawServer) -> ServerLimits {
    let defaults = ServerLimits::default();
    let mut count = |key: &str, raw: Option<u32>, default: usize| match raw {
        None => default,
        Some(n) if (1..=1_000_000).contains(&n) => n as usize,
        Some(n) => {
            p.push(key, Some(&n.to_string()), "must be between 1 and 1000000");
            default
        }
    };
    let max_connections = count(
        "server.max_connections",
        raw.max_connections,
        defaults.max_connections,
    );
    let max_in_flight = count(
        "server.max_in_flight",
        raw.max_in_flight,
        defaults.max_in_flight,
    );
    ServerLimits {
        max_connections,
        max_in_flight,
        header_timeout: p.duration("server.header_timeout", &raw.header_timeout, CLIENT_TIMEOUT),
        body_timeout: p.duration("server.body_timeout", &raw.body_timeout, CLIENT_TIMEOUT),
        shutdown_timeout: p.duration(
            "server.shutdown_timeout",
            &raw.shutdown_timeout,
            SHUTDOWN_TIMEOUT,
        ),
    }
}

pub(super) fn database(p: &mut Problems, env: &dyn Env, raw: RawDatabase) -> DatabaseConfig {
    let (url, key) = layered_or(
        env,
        "DATABASE_URL",
        raw.url,
        "database.url",
        "sqlite://accessbot.db",
    );
    if !["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        p.push(
            &key,
            Some(&redact_url(&url)),
            "must start with sqlite: or postgres://",
        );
    }
    let max_connections = raw.max_connections.unwrap_or(10);
    if max_connections == 0 {
        p.push("database.max_connections", Some("0"), "must be at least 1");
    }
    DatabaseConfig {
        url: SecretString::from(url),
        max_connections,
    }
}

pub(super) fn slack(p: &mut Problems, env: &dyn Env, raw: RawSlack) -> SlackConfig {
    let (api, key) = layered_or(
        env,
        "ACCESSBOT_SLACK_API_URL",
        raw.api_url,
        "slack.api_url",
        "https://slack.com/api",
    );
    let api_url = p.api_url(&key, &api);
    let command = raw.command.unwrap_or_else(|| "/access".into());
    if !is_slash_command(&command) {
        p.push(
            "slack.command",
            Some(&command),
            "must be / followed by up to 31 lower-case letters, digits, '-' or '_'",
        );
    }
    let request_timeout = p.duration(
        "slack.request_timeout",
        &raw.request_timeout,
        SLACK_REQUEST_TIMEOUT,
    );
    SlackConfig {
        api_url,
        socket_mode: raw.socket_mode.unwrap_or(false),
        command,
        signing_secret: secret(env, "SLACK_SIGNING_SECRET", raw.signing_secret),
        bot_token: secret(env, "SLACK_BOT_TOKEN", raw.bot_token),
        app_token: secret(env, "SLACK_APP_TOKEN", raw.app_token),
        request_timeout,
    }
}

/// What Slack accepts as a slash command's name.
fn is_slash_command(command: &str) -> bool {
    command.starts_with('/')
        && (2..=32).contains(&command.len())
        && command[1..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
}

pub(super) fn tailscale(p: &mut Problems, env: &dyn Env, raw: RawTailscale) -> TailscaleConfig {
    let (api, key) = layered_or(
        env,
        "ACCESSBOT_TAILSCALE_API_URL",
        raw.api_url,
        "tailscale.api_url",
        "https://api.tailscale.com",
    );
    let api_url = p.api_url(&key, &api);
    let tailnet = match layered(env, "TAILSCALE_TAILNET", raw.tailnet, "tailscale.tailnet") {
        None => "-".into(),
        Some((v, key)) => {
            if v.is_empty() || v.contains('/') || v.chars().any(char::is_whitespace) {
                p.push(
                    &key,
                    Some(&v),
                    "must be \"-\" (the credential's tailnet) or a tailnet name without '/' or spaces",
                );
            }
            v
        }
    };
    let auth = tailscale_auth(
        p,
        env,
        raw.api_key,
        raw.oauth_client_id,
        raw.oauth_client_secret,
    );
    TailscaleConfig {
        api_url,
        tailnet,
        auth,
        request_timeout: p.duration(
            "tailscale.request_timeout",
            &raw.request_timeout,
            TAILSCALE_REQUEST_TIMEOUT,
        ),
        device_cache_ttl: p.duration(
            "tailscale.device_cache_ttl",
            &raw.device_cache_ttl,
            DEVICE_CACHE_TTL,
        ),
    }
}

/// An OAuth client when both halves are set (preferred: its tokens are
/// short-lived and scoped), else an API key; half a client is a problem.
fn tailscale_auth(
    p: &mut Problems,
    env: &dyn Env,
    api_key: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
) -> Option<TailscaleAuth> {
    let client_id = env
        .var("TAILSCALE_OAUTH_CLIENT_ID")
        .or(client_id.filter(|v| !v.is_empty()));
    let client_secret = secret(env, "TAILSCALE_OAUTH_CLIENT_SECRET", client_secret);
    match (client_id, client_secret) {
        (Some(client_id), Some(client_secret)) => Some(TailscaleAuth::OAuth {
            client_id,
            client_secret,
        }),
        (Some(_), None) => {
            p.push(
                "tailscale.oauth_client_secret",
                None,
                "TAILSCALE_OAUTH_CLIENT_SECRET must be set with TAILSCALE_OAUTH_CLIENT_ID",
            );
            None
        }
        (None, Some(_)) => {
            p.push(
                "tailscale.oauth_client_id",
                None,
                "TAILSCALE_OAUTH_CLIENT_ID must be set with TAILSCALE_OAUTH_CLIENT_SECRET",
            );
            None
        }
        (None, None) => secret(env, "TAILSCALE_API_KEY", api_key).map(TailscaleAuth::ApiKey),
    }
}

pub(super) fn requests(p: &mut Problems, raw: RawRequests) -> RequestsConfig {
    let pending_timeout = p.duration(
        "requests.pending_timeout",
        &raw.pending_timeout,
        PENDING_TIMEOUT,
    );
    let remind_after = raw.remind_after.as_deref().map(|r| {
        // In pending_timeout's range, and before it ends.
        let key = "requests.remind_after";
        let d = p
            .duration_in_range(key, r, PENDING_TIMEOUT.min, PENDING_TIMEOUT.max)
            .unwrap_or(pending_timeout);
        if d >= pending_timeout {
            p.push(
                key,
                Some(r),
                "must be shorter than requests.pending_timeout",
            );
        }
        d
    });
    RequestsConfig {
        pending_timeout,
        remind_after,
    }
}

pub(super) fn worker(p: &mut Problems, raw: RawWorker) -> WorkerConfig {
    WorkerConfig {
        enabled: raw.enabled.unwrap_or(true),
        poll_interval: p.duration("worker.poll_interval", &raw.poll_interval, POLL_INTERVAL),
        reconcile_interval: p.duration(
            "worker.reconcile_interval",
            &raw.reconcile_interval,
            RECONCILE_INTERVAL,
        ),
        missing_attribute: p.choice(
            "worker.missing_attribute",
            &raw.missing_attribute,
            MissingAttribute::default(),
            MissingAttribute::parse,
            "must be \"end\" (an attribute removed outside accessbot ends its grant) or \"reapply\" (it is set again)",
        ),
    }
}
