//! The collector every section reports into, and the rules single values
//! follow (durations, URLs, channel IDs, choices), so that a new key is one
//! call that names it.

use std::fmt;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::super::Env;
use crate::domain::SlackChannelId;

/// A public base URL Slack may call: Slack refuses request URLs that are
/// not `https://`; plain `http://` is let through for `localhost` and
/// `127.0.0.1` only, for development. `Err` is the rule broken.
pub fn parse_public_url(raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| format!("not a valid URL ({e}); write e.g. https://accessbot.example.com"))?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1"));
    match url.scheme() {
        _ if url.host().is_none() => Err("must be an https:// URL with a host".to_owned()),
        "https" => Ok(url),
        "http" if local => Ok(url),
        "http" => Err(
            "must be https://: Slack refuses request URLs that are not HTTPS (http:// is accepted only for localhost and 127.0.0.1, for development)"
                .to_owned(),
        ),
        _ => Err("must be an https:// URL with a host".to_owned()),
    }
}

/// Every problem found so far, one line each, in the order found.
#[derive(Default)]
pub(super) struct Problems(Vec<String>);

impl Problems {
    /// `key "value": rule`, or `key: rule` when there is no value to show.
    pub fn push(&mut self, key: &str, value: Option<&str>, rule: impl fmt::Display) {
        match value {
            Some(v) => self.0.push(format!("{key} {v:?}: {rule}")),
            None => self.0.push(format!("{key}: {rule}")),
        }
    }

    pub fn count(&self) -> usize {
        self.0.len()
    }

    /// `value` when nothing was found, else every problem.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<String>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    /// The value, or `None` once reported missing (`example` shows one).
    pub fn required<'a>(
        &mut self,
        key: &str,
        raw: &'a Option<String>,
        example: &str,
    ) -> Option<&'a str> {
        if raw.is_none() {
            self.push(key, None, format!("is required, e.g. {example}"));
        }
        raw.as_deref()
    }

    /// A duration within `rule`'s range; `rule.default` when absent, and
    /// when wrong (reported).
    pub fn duration(&mut self, key: &str, raw: &Option<String>, rule: DurationRule) -> Duration {
        let Some(raw) = raw else { return rule.default };
        self.duration_in_range(key, raw, rule.min, rule.max)
            .unwrap_or(rule.default)
    }

    /// A duration between `min` and `max`, or `None` when it is not one (reported).
    pub fn duration_in_range(
        &mut self,
        key: &str,
        raw: &str,
        min: Duration,
        max: Duration,
    ) -> Option<Duration> {
        let rule = match humantime::parse_duration(raw) {
            Ok(d) if (min..=max).contains(&d) => return Some(d),
            Ok(_) => format!(
                "must be between {} and {}",
                humantime::format_duration(min),
                humantime::format_duration(max)
            ),
            Err(e) => format!("not a duration ({e}); write e.g. \"30m\", \"8h\", \"7d\""),
        };
        self.push(key, Some(raw), rule);
        None
    }

    /// An `http(s)://` URL with a host, or `None` (reported).
    pub fn http_url(&mut self, key: &str, raw: &str) -> Option<Url> {
        let rule = match Url::parse(raw) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
                return Some(u)
            }
            Ok(_) => "must be an http:// or https:// URL with a host".to_owned(),
            Err(e) => format!("not a valid URL ({e})"),
        };
        self.push(key, Some(raw), rule);
        None
    }

    /// The public base URL Slack calls, or `None` (reported).
    pub fn public_url(&mut self, key: &str, raw: &str) -> Option<Url> {
        parse_public_url(raw)
            .map_err(|rule| self.push(key, Some(raw), rule))
            .ok()
    }

    /// A base URL without its trailing slash (clients append `/method`
    /// themselves); a placeholder when wrong (reported).
    pub fn api_url(&mut self, key: &str, raw: &str) -> Url {
        self.http_url(key, raw.trim_end_matches('/'))
            .unwrap_or_else(|| Url::parse("http://invalid.invalid").expect("static URL"))
    }

    /// A channel's ID (public or private; a DM is not a channel), or `None`
    /// when absent or wrong (reported).
    pub fn channel_id(&mut self, key: &str, raw: &Option<String>) -> Option<SlackChannelId> {
        let raw = raw.as_deref()?;
        match SlackChannelId::parse(raw) {
            Ok(id) if !id.as_str().starts_with('D') => Some(id),
            _ => {
                self.push(key, Some(raw), "must be a channel ID such as \"C06TH49GKHC\" (channel details → About, at the bottom), not a name");
                None
            }
        }
    }

    /// One of a fixed set of names; `default` when absent, and when wrong
    /// (reported with `rule`, which lists the names).
    pub fn choice<T>(
        &mut self,
        key: &str,
        raw: &Option<String>,
        default: T,
        parse: impl FnOnce(&str) -> Option<T>,
        rule: &str,
    ) -> T {
        let Some(raw) = raw else { return default };
        parse(raw).unwrap_or_else(|| {
            self.push(key, Some(raw), rule);
            default
        })
    }
}

/// A duration setting's default and the range it must fall in.
#[derive(Clone, Copy)]
pub(super) struct DurationRule {
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl DurationRule {
    /// A duration setting's rule: its default, then the range it must fall in.
    pub(super) const fn new(default: Duration, min: Duration, max: Duration) -> Self {
        Self { default, min, max }
    }
}

pub(super) const fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The value from the environment if set, else from the file, with the key
/// to name in messages (which says when it came from the environment).
pub(super) fn layered(
    env: &dyn Env,
    var: &str,
    file: Option<String>,
    key: &str,
) -> Option<(String, String)> {
    match env.var(var) {
        Some(v) => Some((v, format!("{key} (env {var})"))),
        None => file.map(|v| (v, key.to_owned())),
    }
}

/// Like [`layered`], with `default` when neither sets it.
pub(super) fn layered_or(
    env: &dyn Env,
    var: &str,
    file: Option<String>,
    key: &str,
    default: &str,
) -> (String, String) {
    layered(env, var, file, key).unwrap_or_else(|| (default.to_owned(), key.to_owned()))
}

/// A secret from the environment, else from the file; empty means unset.
pub(super) fn secret(env: &dyn Env, var: &str, file: Option<String>) -> Option<SecretString> {
    env.var(var)
        .or(file.filter(|v| !v.is_empty()))
        .map(SecretString::from)
}
