//! The Tailscale API calls accessbot makes: list and read devices, read,
//! set and delete posture attributes. Transient failures are retried here
//! within a small budget; what is left over is the job queue's to retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::Retryable;
use chrono::{DateTime, Utc};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderValue, ACCEPT};
use reqwest::Method;
use url::Url;

use super::auth::{Auth, Credential};
use super::model::{
    device_from_raw, is_shared_in, Device, DeviceAttributes, Listed, SetAttributeBody,
    WireAttributes, WireDevice, WireDeviceList,
};
use super::transport::exchange;
use super::{RetryPolicy, TailscaleError};
use crate::clock::{DynClock, SystemClock};
use crate::config::{TailscaleAuth, TailscaleConfig};
use crate::domain::{AttributeKey, AttributeValue, NodeId};
use crate::metrics::Metrics;

/// Everything but RFC 3986 unreserved characters and `:` is escaped in a
/// path segment (Tailscale's own examples send `custom:key` as is).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':');

#[derive(Clone)]
pub struct TailscaleClient {
    http: reqwest::Client,
    /// `api_url` without a trailing slash.
    base: Arc<str>,
    tailnet: Arc<str>,
    timeout: Duration,
    auth_config: TailscaleAuth,
    auth: Arc<Auth>,
    metrics: Metrics,
    retry: RetryPolicy,
}

impl TailscaleClient {
    /// A client for `config`, with the system clock and the default retry policy.
    pub fn new(config: &TailscaleConfig, metrics: Metrics) -> anyhow::Result<Self> {
        let auth_config = config.auth.clone().ok_or_else(|| {
            anyhow::anyhow!(
                "no Tailscale credentials: set TAILSCALE_API_KEY, or TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET"
            )
        })?;
        let mut default_headers = reqwest::header::HeaderMap::new();
        default_headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .user_agent(concat!("accessbot/", env!("CARGO_PKG_VERSION")))
            .default_headers(default_headers)
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            // An API answer never needs a redirect; following one could send
            // credentials somewhere unexpected.
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let base: Arc<str> = config.api_url.as_str().trim_end_matches('/').into();
        let clock: DynClock = Arc::new(SystemClock);
        let auth = build_auth(
            &auth_config,
            &base,
            &http,
            config.request_timeout,
            &metrics,
            clock,
        )?;
        Ok(Self {
            http,
            base,
            tailnet: config.tailnet.as_str().into(),
            timeout: config.request_timeout,
            auth_config,
            auth: Arc::new(auth),
            metrics,
            retry: RetryPolicy::default(),
        })
    }

    /// Judge OAuth token lifetimes by `clock` (the app's clock, so tests
    /// can move time). Call before cloning: clones made earlier keep theirs.
    pub fn with_clock(mut self, clock: DynClock) -> Self {
        // The token URL was built once already, so this cannot fail now.
        if let Ok(auth) = build_auth(
            &self.auth_config,
            &self.base,
            &self.http,
            self.timeout,
            &self.metrics,
            clock,
        ) {
            self.auth = Arc::new(auth);
        }
        self
    }

    /// Retry transient failures by `policy` (tests shrink it to milliseconds).
    pub fn with_retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    fn url(&self, segments: &[&str]) -> Result<Url, TailscaleError> {
        build_url(&self.base, segments)
    }

    /// `/api/v2/device/{node}/attributes/{key}`: where one attribute is set or deleted.
    fn attribute_url(&self, node: &NodeId, key: &AttributeKey) -> Result<Url, TailscaleError> {
        let segments = [
            "api",
            "v2",
            "device",
            node.as_str(),
            "attributes",
            key.as_str(),
        ];
        self.url(&segments)
    }

    /// The scopes Tailscale granted the OAuth client; `None` for an API
    /// key (whose rights are its owner's and cannot be read), or when the
    /// token answer names none.
    pub async fn granted_scopes(&self) -> Result<Option<Vec<String>>, TailscaleError> {
        self.auth.granted_scopes().await
    }

    /// All devices of the tailnet (Tailscale sends them all at once),
    /// without those shared in from other tailnets.
    pub async fn list_devices(&self) -> Result<Vec<Device>, TailscaleError> {
        let url = self.url(&["api", "v2", "tailnet", &self.tailnet, "devices"])?;
        let body = self.call("list_devices", Method::GET, url, None).await?;
        let list: WireDeviceList = serde_json::from_slice(&body)
            .map_err(|e| TailscaleError::InvalidResponse(format!("device list: {e}")))?;
        let (mut devices, mut shared_in, mut unusable) = (Vec::new(), 0, 0);
        for raw in &list.devices {
            match device_from_raw(raw) {
                Listed::Usable(d) => devices.push(d),
                Listed::SharedIn => shared_in += 1,
                Listed::Unusable => unusable += 1,
            }
        }
        if shared_in > 0 {
            tracing::debug!(
                count = shared_in,
                "leaving out devices shared in from other tailnets: only their own tailnet can set their attributes"
            );
        }
        if unusable > 0 {
            tracing::warn!(
                skipped = unusable,
                "Tailscale listed devices without a usable node ID; they are left out"
            );
        }
        Ok(devices)
    }

    /// One device; `None` when Tailscale does not know it (404), or it
    /// is shared in from another tailnet.
    pub async fn get_device(&self, node: &NodeId) -> Result<Option<Device>, TailscaleError> {
        let url = self.url(&["api", "v2", "device", node.as_str()])?;
        let body = match self.call("get_device", Method::GET, url, None).await {
            Ok(body) => body,
            Err(TailscaleError::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let invalid =
            |e: serde_json::Error| TailscaleError::InvalidResponse(format!("device {node}: {e}"));
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(invalid)?;
        if is_shared_in(&json) {
            return Ok(None);
        }
        let wire: WireDevice = serde_json::from_value(json).map_err(invalid)?;
        wire.into_device().map(Some).ok_or_else(|| {
            TailscaleError::InvalidResponse(format!("device {node} has no usable node ID"))
        })
    }

    /// A device's posture attributes and their expiries.
    pub async fn get_attributes(&self, node: &NodeId) -> Result<DeviceAttributes, TailscaleError> {
        let url = self.url(&["api", "v2", "device", node.as_str(), "attributes"])?;
        let body = self.call("get_attributes", Method::GET, url, None).await?;
        let wire: WireAttributes = serde_json::from_slice(&body).map_err(|e| {
            TailscaleError::InvalidResponse(format!("attributes of device {node}: {e}"))
        })?;
        Ok(wire.into())
    }

    /// Set `key` to `value` on a device, until `expiry` if given. The
    /// comment goes to Tailscale's audit log (cut to [`super::MAX_COMMENT_BYTES`]).
    pub async fn set_attribute(
        &self,
        node: &NodeId,
        key: &AttributeKey,
        value: &AttributeValue,
        expiry: Option<DateTime<Utc>>,
        comment: &str,
    ) -> Result<(), TailscaleError> {
        let url = self.attribute_url(node, key)?;
        let body = serde_json::to_value(SetAttributeBody::new(value, expiry, comment))
            .map_err(|e| TailscaleError::InvalidInput(e.to_string()))?;
        // Any 2xx is success, whatever its body ({}, null, the attributes).
        self.call("set_attribute", Method::POST, url, Some(&body))
            .await
            .map(|_| ())
    }

    /// Remove `key` from a device at once.
    pub async fn delete_attribute(
        &self,
        node: &NodeId,
        key: &AttributeKey,
    ) -> Result<(), TailscaleError> {
        let url = self.attribute_url(node, key)?;
        self.call("delete_attribute", Method::DELETE, url, None)
            .await
            .map(|_| ())
    }

    /// One call with retries of transient failures, within the policy.
    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: Url,
        json: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, TailscaleError> {
        let started = Instant::now();
        let policy = self.retry;
        let result = (|| self.attempt(operation, method.clone(), &url, json))
            .retry(policy.backoff())
            .when(TailscaleError::is_transient)
            .adjust(|e, backoff| policy.next_wait(started, e, backoff))
            .notify(|e, wait| {
                tracing::info!(operation, error = %e, wait = ?wait, "retrying Tailscale API call");
            })
            .await;
        if let Err(e) = &result {
            tracing::warn!(operation, error = %e, "Tailscale API call failed");
        }
        result
    }

    /// One attempt; a 401 on an OAuth token gets one fresh token and one resend.
    async fn attempt(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        json: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, TailscaleError> {
        let credential = self.auth.credential().await?;
        match self
            .send(operation, method.clone(), url, json, &credential)
            .await
        {
            Err(TailscaleError::Unauthorized { .. }) if credential.is_oauth() => {
                self.auth.reject(&credential).await;
                let fresh = self.auth.credential().await?;
                self.send(operation, method, url, json, &fresh).await
            }
            other => other,
        }
    }

    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        json: Option<&serde_json::Value>,
        credential: &Credential,
    ) -> Result<Vec<u8>, TailscaleError> {
        let mut request = credential.apply(self.http.request(method, url.clone()));
        if let Some(body) = json {
            request = request.json(body);
        }
        exchange(&self.metrics, operation, self.timeout, request).await
    }
}

fn build_auth(
    config: &TailscaleAuth,
    base: &str,
    http: &reqwest::Client,
    timeout: Duration,
    metrics: &Metrics,
    clock: DynClock,
) -> Result<Auth, TailscaleError> {
    Ok(Auth::new(
        config,
        build_url(base, &["api", "v2", "oauth", "token"])?,
        http.clone(),
        timeout,
        metrics.clone(),
        clock,
    ))
}

/// `{base}/seg/seg/…`, each segment percent-encoded; `.`/`..`/empty
/// segments are refused so no input can move the request elsewhere.
fn build_url(base: &str, segments: &[&str]) -> Result<Url, TailscaleError> {
    let mut raw = String::with_capacity(base.len() + 64);
    raw.push_str(base);
    for segment in segments {
        if segment.is_empty() || *segment == "." || *segment == ".." {
            return Err(TailscaleError::InvalidInput((*segment).to_owned()));
        }
        raw.push('/');
        raw.extend(utf8_percent_encode(segment, SEGMENT));
    }
    Url::parse(&raw).map_err(|e| TailscaleError::InvalidInput(format!("{raw}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn client(api_url: &str, tailnet: &str) -> TailscaleClient {
        TailscaleClient::new(
            &TailscaleConfig {
                api_url: Url::parse(api_url).unwrap(),
                tailnet: tailnet.into(),
                auth: Some(TailscaleAuth::ApiKey(SecretString::from("tskey-api-x"))),
                request_timeout: Duration::from_secs(5),
                device_cache_ttl: Duration::from_secs(60),
            },
            Metrics::new(),
        )
        .unwrap()
    }

    #[test]
    fn path_segments_are_encoded_and_cannot_escape() {
        let c = client("https://api.example.com/", "-");
        assert_eq!(
            c.url(&["api", "v2", "device", "n1", "attributes", "custom:prod_1"])
                .unwrap()
                .as_str(),
            "https://api.example.com/api/v2/device/n1/attributes/custom:prod_1"
        );
        assert_eq!(
            c.url(&["api", "v2", "tailnet", "a b/c?d#e%f", "devices"])
                .unwrap()
                .path(),
            "/api/v2/tailnet/a%20b%2Fc%3Fd%23e%25f/devices"
        );
        for bad in ["..", ".", ""] {
            assert!(matches!(
                c.url(&["api", bad]),
                Err(TailscaleError::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn keeps_a_base_path_prefix() {
        let c = client("http://proxy.internal/tailscale", "example.com");
        assert_eq!(
            c.url(&["api", "v2", "tailnet", &c.tailnet, "devices"])
                .unwrap()
                .as_str(),
            "http://proxy.internal/tailscale/api/v2/tailnet/example.com/devices"
        );
    }

    #[test]
    fn refuses_to_start_without_credentials() {
        let err = TailscaleClient::new(
            &TailscaleConfig {
                api_url: Url::parse("https://api.tailscale.com").unwrap(),
                tailnet: "-".into(),
                auth: None,
                request_timeout: Duration::from_secs(5),
                device_cache_ttl: Duration::from_secs(60),
            },
            Metrics::new(),
        )
        .err()
        .expect("an error");
        assert!(err.to_string().contains("TAILSCALE_API_KEY"));
    }
}
