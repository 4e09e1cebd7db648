//! Credentials for the Tailscale API: an API key (HTTP Basic, empty
//! password), or an OAuth client whose short-lived Bearer token is cached,
//! refreshed before it expires, and fetched by one caller at a time however
//! many wait for it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::RequestBuilder;
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::model::WireToken;
use super::transport::exchange;
use super::TailscaleError;
use crate::clock::DynClock;
use crate::config::TailscaleAuth;
use crate::metrics::Metrics;

/// Lifetime assumed when the token answer does not say (Tailscale: 1 h).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);
/// Trust no token for longer than this, whatever the answer says.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Refresh this long before expiry (or at half-life for shorter tokens).
const REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// What one request is sent with.
#[derive(Clone)]
pub(crate) enum Credential {
    ApiKey(Arc<SecretString>),
    Bearer(Arc<SecretString>),
}

impl Credential {
    pub(crate) fn apply(&self, request: RequestBuilder) -> RequestBuilder {
        match self {
            Self::ApiKey(key) => request.basic_auth(key.expose_secret(), Some("")),
            Self::Bearer(token) => request.bearer_auth(token.expose_secret()),
        }
    }

    pub(crate) fn is_oauth(&self) -> bool {
        matches!(self, Self::Bearer(_))
    }
}

pub(crate) enum Auth {
    ApiKey(Arc<SecretString>),
    OAuth(Box<OAuthTokens>),
}

impl Auth {
    pub(crate) fn new(
        config: &TailscaleAuth,
        token_url: Url,
        http: reqwest::Client,
        timeout: Duration,
        metrics: Metrics,
        clock: DynClock,
    ) -> Self {
        match config {
            TailscaleAuth::ApiKey(key) => Self::ApiKey(Arc::new(key.clone())),
            TailscaleAuth::OAuth {
                client_id,
                client_secret,
            } => Self::OAuth(Box::new(OAuthTokens {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                token_url,
                http,
                timeout,
                metrics,
                clock,
                cached: Mutex::new(None),
            })),
        }
    }

    /// The credential for the next request (fetching a token if needed).
    pub(crate) async fn credential(&self) -> Result<Credential, TailscaleError> {
        match self {
            Self::ApiKey(key) => Ok(Credential::ApiKey(key.clone())),
            Self::OAuth(tokens) => tokens.current().await.map(Credential::Bearer),
        }
    }

    /// The scopes Tailscale granted the OAuth client (fetching a token if
    /// needed); `None` for an API key, or when the token answer names none.
    pub(crate) async fn granted_scopes(&self) -> Result<Option<Vec<String>>, TailscaleError> {
        match self {
            Self::ApiKey(_) => Ok(None),
            Self::OAuth(tokens) => tokens.granted_scopes().await,
        }
    }

    /// `used` was refused with a 401: drop it, unless someone already has.
    pub(crate) async fn reject(&self, used: &Credential) {
        if let (Self::OAuth(tokens), Credential::Bearer(token)) = (self, used) {
            tokens.reject(token).await;
        }
    }
}

pub(crate) struct OAuthTokens {
    client_id: String,
    client_secret: SecretString,
    token_url: Url,
    http: reqwest::Client,
    timeout: Duration,
    metrics: Metrics,
    clock: DynClock,
    /// Held across the fetch: the lock is the single flight.
    cached: Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Arc<SecretString>,
    refresh_at: DateTime<Utc>,
    scopes: Option<Vec<String>>,
}

impl OAuthTokens {
    async fn current(&self) -> Result<Arc<SecretString>, TailscaleError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if self.clock.now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    async fn granted_scopes(&self) -> Result<Option<Vec<String>>, TailscaleError> {
        self.current().await?;
        Ok(self
            .cached
            .lock()
            .await
            .as_ref()
            .and_then(|c| c.scopes.clone()))
    }

    async fn reject(&self, used: &Arc<SecretString>) {
        let mut cached = self.cached.lock().await;
        if cached
            .as_ref()
            .is_some_and(|c| c.token.expose_secret() == used.expose_secret())
        {
            *cached = None;
        }
    }

    async fn fetch(&self) -> Result<CachedToken, TailscaleError> {
        let issued_at = self.clock.now();
        let request = self.http.post(self.token_url.clone()).form(&[
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose_secret()),
            ("grant_type", "client_credentials"),
        ]);
        let body = exchange(&self.metrics, "oauth_token", self.timeout, request)
            .await
            .map_err(|e| match e {
                // The token endpoint's 400/401 both mean the client credentials are wrong.
                TailscaleError::BadRequest { message } => TailscaleError::Unauthorized {
                    message: format!("OAuth token request refused: {message}"),
                },
                other => other,
            })?;
        let wire: WireToken = serde_json::from_slice(&body)
            .map_err(|e| TailscaleError::InvalidResponse(format!("OAuth token answer: {e}")))?;
        if wire.access_token.is_empty() {
            return Err(TailscaleError::InvalidResponse(
                "OAuth token answer has an empty access_token".into(),
            ));
        }
        let lifetime = wire
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME)
            .min(MAX_TOKEN_LIFETIME);
        let margin = REFRESH_MARGIN.min(lifetime / 2);
        let refresh_at = issued_at
            + chrono::Duration::from_std(lifetime - margin).unwrap_or(chrono::Duration::zero());
        tracing::debug!(valid_for = ?lifetime, "fetched a Tailscale OAuth token");
        let scopes = wire
            .scope
            .map(|s| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .filter(|s| !s.is_empty());
        Ok(CachedToken {
            token: Arc::new(SecretString::from(wire.access_token)),
            refresh_at,
            scopes,
        })
    }
}
