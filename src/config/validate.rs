//! Turns a [`RawConfig`] plus the environment into a [`Config`], collecting
//! every problem as a line that names the key and the rule.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::raw::{RawConfig, RawProfile};
use super::{
    Config, DatabaseConfig, Env, RequestsConfig, ServerConfig, SlackConfig, TailscaleAuth,
    TailscaleConfig, WorkerConfig,
};
use crate::domain::profile::{MAX_MAX_DURATION, MIN_MAX_DURATION};
use crate::domain::{
    ApproverRef, AttributeKey, AttributeValue, DevicePolicy, Profile, SlackChannelId,
};

/// Every problem found in a config, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the config:", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Longest profile description: it is shown as a select option (Slack: 75 chars).
const MAX_DESCRIPTION_LEN: usize = 75;

struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, key: &str, value: Option<&str>, rule: impl fmt::Display) {
        match value {
            Some(v) => self.0.push(format!("{key} {v:?}: {rule}")),
            None => self.0.push(format!("{key}: {rule}")),
        }
    }
}

/// The value from the environment if set, else from the file; remembers
/// which one it was so messages name the right source.
fn layered(env: &dyn Env, var: &str, file: Option<String>, key: &str) -> Option<(String, String)> {
    match env.var(var) {
        Some(v) => Some((v, format!("{key} (env {var})"))),
        None => file.map(|v| (v, key.to_owned())),
    }
}

fn secret(env: &dyn Env, var: &str, file: Option<String>) -> Option<SecretString> {
    env.var(var)
        .or(file.filter(|v| !v.is_empty()))
        .map(SecretString::from)
}

fn parse_duration(
    p: &mut Problems,
    key: &str,
    raw: Option<&str>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Duration {
    let Some(raw) = raw else { return default };
    match humantime::parse_duration(raw) {
        Ok(d) if d < min || d > max => {
            p.push(
                key,
                Some(raw),
                format!(
                    "must be between {} and {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            );
            default
        }
        Ok(d) => d,
        Err(e) => {
            p.push(
                key,
                Some(raw),
                format!("not a duration ({e}); write e.g. \"30m\", \"8h\", \"7d\""),
            );
            default
        }
    }
}

fn parse_http_url(p: &mut Problems, key: &str, raw: &str) -> Option<Url> {
    match Url::parse(raw) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Some(u),
        Ok(_) => {
            p.push(
                key,
                Some(raw),
                "must be an http:// or https:// URL with a host",
            );
            None
        }
        Err(e) => {
            p.push(key, Some(raw), format!("not a valid URL ({e})"));
            None
        }
    }
}

/// The URL without a trailing slash (clients append `/method` themselves).
fn api_url(p: &mut Problems, key: &str, raw: &str) -> Url {
    let trimmed = raw.trim_end_matches('/');
    parse_http_url(p, key, trimmed)
        .unwrap_or_else(|| Url::parse("http://invalid.invalid").expect("static URL"))
}

pub fn validate(
    raw: RawConfig,
    env: &dyn Env,
    unknown: Vec<String>,
) -> Result<Config, super::ConfigErrors> {
    let mut p = Problems(Vec::new());
    for key in unknown {
        p.push(
            &key,
            None,
            "unknown key (check the spelling; see config/accessbot.example.toml)",
        );
    }

    // [server]
    let listen = match layered(env, "ACCESSBOT_LISTEN", raw.server.listen, "server.listen") {
        None => SocketAddr::from(([0, 0, 0, 0], 8080)),
        Some((v, key)) => v.parse().unwrap_or_else(|_| {
            p.push(
                &key,
                Some(&v),
                "must be an address and port, e.g. \"0.0.0.0:8080\"",
            );
            SocketAddr::from(([0, 0, 0, 0], 8080))
        }),
    };
    let public_url = layered(
        env,
        "ACCESSBOT_PUBLIC_URL",
        raw.server.public_url,
        "server.public_url",
    )
    .and_then(|(v, key)| parse_http_url(&mut p, &key, v.trim_end_matches('/')));

    // [database]
    let db_url = layered(env, "DATABASE_URL", raw.database.url, "database.url")
        .unwrap_or_else(|| ("sqlite://accessbot.db".into(), "database.url".into()));
    if !(db_url.0.starts_with("sqlite:")
        || db_url.0.starts_with("postgres://")
        || db_url.0.starts_with("postgresql://"))
    {
        p.push(
            &db_url.1,
            Some(&super::redact_url(&db_url.0)),
            "must start with sqlite: or postgres://",
        );
    }
    let max_connections = raw.database.max_connections.unwrap_or(10);
    if max_connections == 0 {
        p.push("database.max_connections", Some("0"), "must be at least 1");
    }

    // [slack]
    let slack_api = layered(
        env,
        "ACCESSBOT_SLACK_API_URL",
        raw.slack.api_url,
        "slack.api_url",
    )
    .unwrap_or_else(|| ("https://slack.com/api".into(), "slack.api_url".into()));
    let slack_api_url = api_url(&mut p, &slack_api.1, &slack_api.0);
    let command = raw.slack.command.unwrap_or_else(|| "/access".into());
    if !command.starts_with('/')
        || command.len() < 2
        || command.len() > 32
        || !command[1..]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_'))
    {
        p.push(
            "slack.command",
            Some(&command),
            "must be / followed by up to 31 lower-case letters, digits, '-' or '_'",
        );
    }
    let slack_timeout = parse_duration(
        &mut p,
        "slack.request_timeout",
        raw.slack.request_timeout.as_deref(),
        Duration::from_secs(10),
        Duration::from_secs(1),
        Duration::from_secs(120),
    );

    // [tailscale]
    let ts_api = layered(
        env,
        "ACCESSBOT_TAILSCALE_API_URL",
        raw.tailscale.api_url,
        "tailscale.api_url",
    )
    .unwrap_or_else(|| {
        (
            "https://api.tailscale.com".into(),
            "tailscale.api_url".into(),
        )
    });
    let ts_api_url = api_url(&mut p, &ts_api.1, &ts_api.0);
    let tailnet = layered(
        env,
        "TAILSCALE_TAILNET",
        raw.tailscale.tailnet,
        "tailscale.tailnet",
    )
    .map(|(v, key)| {
        if v.is_empty() || v.contains('/') || v.chars().any(char::is_whitespace) {
            p.push(
                &key,
                Some(&v),
                "must be \"-\" (the credential's tailnet) or a tailnet name without '/' or spaces",
            );
        }
        v
    })
    .unwrap_or_else(|| "-".into());
    let api_key = secret(env, "TAILSCALE_API_KEY", raw.tailscale.api_key);
    let client_id = env
        .var("TAILSCALE_OAUTH_CLIENT_ID")
        .or(raw.tailscale.oauth_client_id.filter(|v| !v.is_empty()));
    let client_secret = secret(
        env,
        "TAILSCALE_OAUTH_CLIENT_SECRET",
        raw.tailscale.oauth_client_secret,
    );
    let auth = match (client_id, client_secret, api_key) {
        // An OAuth client is preferred: its tokens are short-lived and scoped.
        (Some(client_id), Some(client_secret), _) => Some(TailscaleAuth::OAuth {
            client_id,
            client_secret,
        }),
        (Some(_), None, _) => {
            p.push(
                "tailscale.oauth_client_secret",
                None,
                "TAILSCALE_OAUTH_CLIENT_SECRET must be set with TAILSCALE_OAUTH_CLIENT_ID",
            );
            None
        }
        (None, Some(_), _) => {
            p.push(
                "tailscale.oauth_client_id",
                None,
                "TAILSCALE_OAUTH_CLIENT_ID must be set with TAILSCALE_OAUTH_CLIENT_SECRET",
            );
            None
        }
        (None, None, Some(key)) => Some(TailscaleAuth::ApiKey(key)),
        (None, None, None) => None,
    };
    let ts_timeout = parse_duration(
        &mut p,
        "tailscale.request_timeout",
        raw.tailscale.request_timeout.as_deref(),
        Duration::from_secs(15),
        Duration::from_secs(1),
        Duration::from_secs(120),
    );
    let device_cache_ttl = parse_duration(
        &mut p,
        "tailscale.device_cache_ttl",
        raw.tailscale.device_cache_ttl.as_deref(),
        Duration::from_secs(60),
        Duration::from_secs(1),
        Duration::from_secs(3600),
    );

    // [requests]
    let pending_timeout = parse_duration(
        &mut p,
        "requests.pending_timeout",
        raw.requests.pending_timeout.as_deref(),
        Duration::from_secs(24 * 3600),
        Duration::from_secs(60),
        MAX_MAX_DURATION,
    );
    let remind_after = raw.requests.remind_after.as_deref().map(|r| {
        let d = parse_duration(
            &mut p,
            "requests.remind_after",
            Some(r),
            pending_timeout,
            Duration::from_secs(60),
            MAX_MAX_DURATION,
        );
        if d >= pending_timeout {
            p.push(
                "requests.remind_after",
                Some(r),
                "must be shorter than requests.pending_timeout",
            );
        }
        d
    });

    // [worker]
    let poll_interval = parse_duration(
        &mut p,
        "worker.poll_interval",
        raw.worker.poll_interval.as_deref(),
        Duration::from_secs(2),
        Duration::from_millis(10),
        Duration::from_secs(60),
    );
    let reconcile_interval = parse_duration(
        &mut p,
        "worker.reconcile_interval",
        raw.worker.reconcile_interval.as_deref(),
        Duration::from_secs(300),
        Duration::from_secs(1),
        Duration::from_secs(24 * 3600),
    );

    // [[profiles]]
    if raw.profiles.is_empty() {
        p.push(
            "profiles",
            None,
            "at least one [[profiles]] entry is required",
        );
    }
    let mut profiles: Vec<Profile> = Vec::new();
    for (i, rp) in raw.profiles.into_iter().enumerate() {
        if let Some(profile) = validate_profile(&mut p, i, rp) {
            if let Some(prev) = profiles
                .iter()
                .position(|q| q.attribute.same_key(&profile.attribute))
            {
                p.push(
                    &format!("profiles[{i}].attribute"),
                    Some(profile.attribute.as_str()),
                    format!("is already used by profiles[{prev}] (keys are case-insensitive)"),
                );
            }
            profiles.push(profile);
        }
    }

    if !p.0.is_empty() {
        return Err(super::ConfigErrors(p.0));
    }
    Ok(Config {
        server: ServerConfig { listen, public_url },
        database: DatabaseConfig {
            url: SecretString::from(db_url.0),
            max_connections,
        },
        slack: SlackConfig {
            api_url: slack_api_url,
            socket_mode: raw.slack.socket_mode.unwrap_or(false),
            command,
            signing_secret: secret(env, "SLACK_SIGNING_SECRET", raw.slack.signing_secret),
            bot_token: secret(env, "SLACK_BOT_TOKEN", raw.slack.bot_token),
            app_token: secret(env, "SLACK_APP_TOKEN", raw.slack.app_token),
            request_timeout: slack_timeout,
        },
        tailscale: TailscaleConfig {
            api_url: ts_api_url,
            tailnet,
            auth,
            request_timeout: ts_timeout,
            device_cache_ttl,
        },
        requests: RequestsConfig {
            pending_timeout,
            remind_after,
        },
        worker: WorkerConfig {
            enabled: raw.worker.enabled.unwrap_or(true),
            poll_interval,
            reconcile_interval,
        },
        profiles,
    })
}

/// Validates one `[[profiles]]` entry; `None` when it has problems (all recorded).
fn validate_profile(p: &mut Problems, i: usize, rp: RawProfile) -> Option<Profile> {
    let before = p.0.len();
    let key = |field: &str| format!("profiles[{i}].{field}");

    let attribute = match rp.attribute.as_deref() {
        None => {
            p.push(
                &key("attribute"),
                None,
                "is required, e.g. \"custom:prodAccess\"",
            );
            None
        }
        Some(a) => AttributeKey::parse(a)
            .map_err(|e| p.push(&key("attribute"), Some(a), e))
            .ok(),
    };

    let description = rp.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        p.push(
            &key("description"),
            Some(&description),
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        );
    }

    let max_duration = match rp.max_duration.as_deref() {
        None => {
            p.push(&key("max_duration"), None, "is required, e.g. \"8h\"");
            MIN_MAX_DURATION
        }
        Some(raw) => parse_duration(
            p,
            &key("max_duration"),
            Some(raw),
            MIN_MAX_DURATION,
            MIN_MAX_DURATION,
            MAX_MAX_DURATION,
        ),
    };

    let mut approvers = Vec::new();
    for (j, a) in rp.approvers.iter().enumerate() {
        match ApproverRef::parse(a) {
            Ok(r) if approvers.contains(&r) => p.push(
                &format!("profiles[{i}].approvers[{j}]"),
                Some(a),
                "is listed twice",
            ),
            Ok(r) => approvers.push(r),
            Err(rule) => p.push(&format!("profiles[{i}].approvers[{j}]"), Some(a), rule),
        }
    }

    let can_self_approve = rp.can_self_approve.unwrap_or(false);
    let confirm_self_approval = rp.confirm_self_approval.unwrap_or(false);
    if confirm_self_approval && !can_self_approve {
        p.push(
            &key("confirm_self_approval"),
            Some("true"),
            "only applies when can_self_approve = true",
        );
    }

    let notify_channel = rp.notify_channel.as_deref().and_then(|c| {
        match SlackChannelId::parse(c) {
            Ok(id) if !id.as_str().starts_with('D') => Some(id),
            _ => {
                p.push(&key("notify_channel"), Some(c), "must be a channel ID such as \"C06TH49GKHC\" (channel details → About, at the bottom), not a name");
                None
            }
        }
    });

    let devices = match rp.devices.as_deref() {
        None => DevicePolicy::Own,
        Some(d) => DevicePolicy::parse(d).unwrap_or_else(|| {
            p.push(
                &key("devices"),
                Some(d),
                "must be one of \"own\", \"own_and_tagged\", \"any\"",
            );
            DevicePolicy::Own
        }),
    };

    let value = match rp.value {
        None => AttributeValue::default(),
        Some(v) => {
            let shown = v.to_string();
            let parsed = match &v {
                toml::Value::Boolean(b) => Ok(AttributeValue::Bool(*b)),
                toml::Value::Integer(n) => AttributeValue::int(*n),
                toml::Value::String(s) => AttributeValue::string(s),
                _ => Err(crate::domain::attribute::AttributeValueError::WrongType),
            };
            parsed
                .map_err(|e| p.push(&key("value"), Some(&shown), e))
                .unwrap_or_default()
        }
    };

    if p.0.len() > before {
        return None;
    }
    Some(Profile {
        attribute: attribute?,
        description,
        max_duration,
        approvers,
        can_self_approve,
        confirm_self_approval,
        notify_channel,
        devices,
        value,
    })
}
