//! What can go wrong talking to Tailscale, sorted into transient (retry
//! later) and permanent (tell a person), with messages a person can act on.

use std::time::Duration;

/// The OAuth scopes accessbot needs, named in every 403 message.
pub const REQUIRED_SCOPES: &str = "devices:core:read, devices:posture_attributes";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TailscaleError {
    /// 429: Tailscale asks us to slow down.
    #[error("Tailscale is rate limiting accessbot (HTTP 429{})", wait_hint(.retry_after))]
    RateLimited { retry_after: Option<Duration> },

    /// 5xx (and 408): trouble on Tailscale's side.
    #[error("Tailscale had a server error (HTTP {status}): {message}")]
    Server {
        status: u16,
        message: String,
        retry_after: Option<Duration>,
    },

    #[error("Tailscale did not answer within {}", humantime::format_duration(*.0))]
    Timeout(Duration),

    /// Connection refused, DNS, TLS, a body cut short…
    #[error("cannot reach the Tailscale API: {0}")]
    Transport(String),

    /// 400: Tailscale refused the request; `message` is Tailscale's own.
    #[error("Tailscale refused the request: {message}")]
    BadRequest { message: String },

    /// 401, also after a fresh OAuth token.
    #[error("Tailscale rejected accessbot's credentials (HTTP 401: {message}); check TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET (the key may have expired or been revoked)")]
    Unauthorized { message: String },

    /// 403: the credential lacks a scope or role.
    #[error("Tailscale denied the request (HTTP 403: {message}); the OAuth client or API key needs the scopes {REQUIRED_SCOPES} (an API key's owner must be an Owner, Admin, Network admin or IT admin)")]
    Forbidden { message: String },

    /// 404: the device (or tailnet) does not exist (any more).
    #[error("Tailscale does not know that device or tailnet (HTTP 404: {message}); it may have been removed from the tailnet")]
    NotFound { message: String },

    /// Any other 4xx.
    #[error("Tailscale answered HTTP {status}: {message}")]
    Http { status: u16, message: String },

    /// A 2xx whose body is not what the API documents.
    #[error("Tailscale sent an answer accessbot cannot read: {0}")]
    InvalidResponse(String),

    /// A path segment that cannot be sent safely (caught before any request).
    #[error("invalid Tailscale API path segment {0:?}")]
    InvalidInput(String),
}

fn wait_hint(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!(
            ", retry after {}",
            humantime::format_duration(Duration::from_secs(d.as_secs()))
        ),
        None => String::new(),
    }
}

impl TailscaleError {
    /// Worth retrying later: rate limits, server errors, timeouts, network trouble.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::RateLimited { .. } | Self::Server { .. } | Self::Timeout(_) | Self::Transport(_)
        )
    }

    /// How long Tailscale asked us to wait (`Retry-After`), if it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } | Self::Server { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The HTTP status Tailscale answered with, if it answered at all.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::RateLimited { .. } => Some(429),
            Self::Server { status, .. } | Self::Http { status, .. } => Some(*status),
            Self::BadRequest { .. } => Some(400),
            Self::Unauthorized { .. } => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::NotFound { .. } => Some(404),
            Self::Timeout(_)
            | Self::Transport(_)
            | Self::InvalidResponse(_)
            | Self::InvalidInput(_) => None,
        }
    }

    /// Sort a non-2xx answer. `message` is Tailscale's `{"message": …}` or the body text.
    pub fn from_status(status: u16, message: String, retry_after: Option<Duration>) -> Self {
        match status {
            400 => Self::BadRequest { message },
            401 => Self::Unauthorized { message },
            403 => Self::Forbidden { message },
            404 => Self::NotFound { message },
            429 => Self::RateLimited { retry_after },
            408 | 500..=599 => Self::Server {
                status,
                message,
                retry_after,
            },
            _ => Self::Http { status, message },
        }
    }

    /// The label for the `status` of the call-latency metric.
    pub(crate) fn metric_status(&self) -> String {
        match self {
            Self::Timeout(_) => "timeout".into(),
            Self::Transport(_) => "transport".into(),
            Self::InvalidResponse(_) => "invalid_response".into(),
            Self::InvalidInput(_) => "invalid_input".into(),
            other => other
                .status()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "error".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_sort_into_transient_and_permanent() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(
                TailscaleError::from_status(s, "x".into(), None).is_transient(),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 422] {
            let e = TailscaleError::from_status(s, "x".into(), None);
            assert!(!e.is_transient(), "{s}");
            assert_eq!(e.status(), Some(s));
        }
        assert!(TailscaleError::Timeout(Duration::from_secs(1)).is_transient());
        assert!(TailscaleError::Transport("refused".into()).is_transient());
        assert!(!TailscaleError::InvalidResponse("x".into()).is_transient());
    }

    #[test]
    fn retry_after_is_kept_for_rate_limits_and_server_errors() {
        let d = Some(Duration::from_secs(7));
        assert_eq!(
            TailscaleError::from_status(429, String::new(), d).retry_after(),
            d
        );
        assert_eq!(
            TailscaleError::from_status(503, String::new(), d).retry_after(),
            d
        );
        assert_eq!(
            TailscaleError::from_status(400, String::new(), d).retry_after(),
            None
        );
    }

    #[test]
    fn messages_tell_a_person_what_to_do() {
        let forbidden = TailscaleError::from_status(403, "nope".into(), None).to_string();
        assert!(forbidden.contains("devices:core:read"), "{forbidden}");
        assert!(
            forbidden.contains("devices:posture_attributes"),
            "{forbidden}"
        );
        let bad = TailscaleError::from_status(400, "expiry must be in the future".into(), None);
        assert!(bad.to_string().contains("expiry must be in the future"));
        let limited = TailscaleError::RateLimited {
            retry_after: Some(Duration::from_secs(30)),
        };
        assert!(limited.to_string().contains("30s"), "{limited}");
        assert!(TailscaleError::from_status(401, "x".into(), None)
            .to_string()
            .contains("TAILSCALE_API_KEY"));
    }

    #[test]
    fn metric_status_labels() {
        assert_eq!(
            TailscaleError::from_status(503, String::new(), None).metric_status(),
            "503"
        );
        assert_eq!(
            TailscaleError::Timeout(Duration::from_secs(1)).metric_status(),
            "timeout"
        );
        assert_eq!(
            TailscaleError::Transport(String::new()).metric_status(),
            "transport"
        );
    }
}
