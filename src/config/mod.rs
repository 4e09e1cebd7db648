//! Typed configuration: a TOML file, then environment overrides, validated
//! as a whole so that every problem is reported at once, each naming its key.

mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use crate::domain::Profile;

pub use validate::{parse_public_url, ConfigErrors};

/// Where the config file is looked for when neither `--config` nor
/// `ACCESSBOT_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/accessbot.toml";

#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub slack: SlackConfig,
    pub tailscale: TailscaleConfig,
    pub requests: RequestsConfig,
    pub worker: WorkerConfig,
    pub profiles: Vec<Profile>,
    pub socket_liveness: SocketLiveness,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: Option<Url>,
    /// `/metrics` on a listener of its own instead of `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub limits: ServerLimits,
}

/// What one process takes on at once, and how long it waits for clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Connections served; a few more are answered 503, the rest closed.
    pub max_connections: usize,
    /// Requests (HTTP and Socket Mode) handled at once; more get 503.
    pub max_in_flight: usize,
    /// A client must send a request's headers within this time (also
    /// closes idle keep-alive connections).
    pub header_timeout: Duration,
    /// A client must send a whole request body within this time.
    pub body_timeout: Duration,
    /// Graceful shutdown ends after this, finished or not.
    pub shutdown_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_in_flight: 256,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    /// May hold a password: print it with [`redact_url`].
    pub url: SecretString,
    pub max_connections: u32,
}

#[derive(Debug, Clone)]
pub struct SlackConfig {
    pub api_url: Url,
    pub bot_token: Option<SecretString>,
    /// Events arrive over a WebSocket opened with the app token, else as
    /// HTTP requests signed with the signing secret.
    pub socket_mode: bool,
    pub app_token: Option<SecretString>,
    pub signing_secret: Option<SecretString>,
    /// The slash command the generated manifest declares.
    pub command: String,
    pub request_timeout: Duration,
}

/// Socket Mode liveness: ping this often, and reconnect when nothing
/// arrived for `silence` (half-open TCP never notices by itself). Not in
/// the file (Slack's advice: 30 s and 60 s); tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketLiveness {
    pub ping_every: Duration,
    pub silence: Duration,
}

impl Default for SocketLiveness {
    fn default() -> Self {
        Self {
            ping_every: Duration::from_secs(30),
            silence: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone)]
pub struct TailscaleConfig {
    pub api_url: Url,
    pub tailnet: String,
    pub auth: Option<TailscaleAuth>,
    pub request_timeout: Duration,
    pub device_cache_ttl: Duration,
}

#[derive(Debug, Clone)]
pub enum TailscaleAuth {
    ApiKey(SecretString),
    OAuth {
        client_id: String,
        client_secret: SecretString,
    },
}

#[derive(Debug, Clone)]
pub struct RequestsConfig {
    pub pending_timeout: Duration,
    pub remind_after: Option<Duration>,
}

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub enabled: bool,
    pub poll_interval: Duration,
    pub reconcile_interval: Duration,
    /// What to do when an active grant's attribute disappears from the
    /// device without accessbot removing it.
    pub missing_attribute: MissingAttribute,
}

/// `worker.missing_attribute`: an attribute removed outside accessbot (in
/// the admin console, by the API) while its grant is active.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingAttribute {
    /// The grant ends (`revoked`, by "tailnet"), people are told, and the
    /// attribute is not set again: an admin's cut-off stands.
    #[default]
    End,
    /// The attribute is set again until the grant's expiry.
    Reapply,
}

impl MissingAttribute {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "end" => Some(Self::End),
            "reapply" => Some(Self::Reapply),
            _ => None,
        }
    }
}

/// Where config comes from besides the file: the process environment in
/// production, a map in tests.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment; empty values count as unset.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn var(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid TOML: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(#[from] ConfigErrors),
}

impl LoadError {
    /// One line per problem, for printing.
    pub fn problems(&self) -> Vec<String> {
        match self {
            Self::Invalid(e) => e.0.clone(),
            other => vec![other.to_string()],
        }
    }
}

/// Resolves which file to read: an explicit path, else the default when it exists.
pub fn resolve_path(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => {
            let default = Path::new(DEFAULT_CONFIG_PATH);
            default.exists().then(|| default.to_path_buf())
        }
    }
}

impl Config {
    /// Load from a file (if any) and the given environment.
    pub fn load(path: Option<&Path>, env: &dyn Env) -> Result<Self, LoadError> {
        let (text, path) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|source| LoadError::Read {
                    path: p.to_path_buf(),
                    source,
                })?,
                p.to_path_buf(),
            ),
            None => (String::new(), PathBuf::from("(no config file)")),
        };
        Self::from_toml(&text, env).map_err(|e| match e {
            LoadError::Parse { message, .. } => LoadError::Parse { path, message },
            other => other,
        })
    }

    /// Parse TOML text and apply the environment.
    pub fn from_toml(text: &str, env: &dyn Env) -> Result<Self, LoadError> {
        let mut unknown = Vec::new();
        let de = toml::Deserializer::parse(text).map_err(|e| LoadError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        let raw: raw::RawConfig = serde_ignored::deserialize(de, |path| {
            unknown.push(path.to_string());
        })
        .map_err(|e| LoadError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        Ok(validate::validate(raw, env, unknown)?)
    }

    /// Only the database URL (`DATABASE_URL`, else `database.url`, else the
    /// default), for commands that need nothing else (`migrate`, e.g. in
    /// an init container that has no profiles or secrets): the rest of the
    /// file is not validated, only parsed.
    pub fn database_url(path: Option<&Path>, env: &dyn Env) -> Result<SecretString, LoadError> {
        let shown = || {
            path.map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("(no config file)"))
        };
        let file = match path {
            None => None,
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| LoadError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                let doc: toml::Table =
                    text.parse()
                        .map_err(|e: toml::de::Error| LoadError::Parse {
                            path: shown(),
                            message: e.to_string(),
                        })?;
                let raw = doc
                    .get("database")
                    .cloned()
                    .unwrap_or(toml::Value::Table(Default::default()));
                let raw: raw::RawDatabase =
                    raw.try_into()
                        .map_err(|e: toml::de::Error| LoadError::Parse {
                            path: shown(),
                            message: format!("[database]: {e}"),
                        })?;
                Some(raw)
            }
        };
        Ok(validate::database_only(file.unwrap_or_default(), env)?.url)
    }

    /// Secrets `serve` cannot run without, by the variable that provides them.
    pub fn missing_secrets(&self) -> Vec<String> {
        let mut missing = Vec::new();
        if self.slack.bot_token.is_none() {
            missing.push(
                "SLACK_BOT_TOKEN is not set (slack.bot_token): the Slack bot token, xoxb-…".into(),
            );
        }
        if self.slack.socket_mode {
            if self.slack.app_token.is_none() {
                missing.push("SLACK_APP_TOKEN is not set (slack.app_token): Socket Mode needs an app-level token, xapp-…".into());
            }
        } else if self.slack.signing_secret.is_none() {
            missing.push("SLACK_SIGNING_SECRET is not set (slack.signing_secret): needed to verify requests from Slack".into());
        }
        if self.tailscale.auth.is_none() {
            missing.push("TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET, are not set: needed to call the Tailscale API".into());
        }
        missing
    }

    pub fn profile(&self, attribute: &str) -> Option<&Profile> {
        self.profiles
            .iter()
            .find(|p| p.attribute.as_str() == attribute)
    }
}

/// A database URL with any password replaced, for messages and logs: the
/// one in `user:pass@` and a `password=` query parameter (which libpq and
/// sqlx also read). A URL that does not parse is shown without its query
/// and credentials, as they might hold one.
pub fn redact_url(url: &str) -> String {
    const HIDDEN: &str = "***";
    let Ok(mut u) = Url::parse(url) else {
        let without_query = url.split(['?', '#']).next().unwrap_or_default();
        return match without_query.rsplit_once('@') {
            Some((before, host)) => match before.split_once("://") {
                Some((scheme, _)) => format!("{scheme}://{HIDDEN}@{host}"),
                None => format!("{HIDDEN}@{host}"),
            },
            None => without_query.to_owned(),
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some(HIDDEN));
    }
    let has_password_param = u
        .query_pairs()
        .any(|(k, _)| k.eq_ignore_ascii_case("password"));
    if has_password_param {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if k.eq_ignore_ascii_case("password") {
                    HIDDEN.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod tests;
