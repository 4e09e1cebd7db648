//! One HTTP exchange with Tailscale: send, sort the answer into a body or
//! a [`TailscaleError`], and record it in the call-latency metric.

use std::time::{Duration, Instant};

use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response};

use super::model::{truncate_chars, WireError};
use super::TailscaleError;
use crate::metrics::Metrics;

/// Longest error text from Tailscale we carry into messages.
const MAX_MESSAGE_CHARS: usize = 300;

/// Send one request; a 2xx yields its body, anything else an error.
pub(crate) async fn exchange(
    metrics: &Metrics,
    operation: &'static str,
    timeout: Duration,
    request: RequestBuilder,
) -> Result<Vec<u8>, TailscaleError> {
    let started = Instant::now();
    let result = match request.send().await {
        Ok(response) => read(response, timeout).await,
        Err(e) => Err(transport_error(&e, timeout)),
    };
    let status = match &result {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.metric_status(),
    };
    metrics.observe_tailscale_call(operation, &status, started.elapsed());
    if let Err(e) = &result {
        tracing::debug!(operation, error = %e, "Tailscale API call failed");
    }
    result
}

async fn read(response: Response, timeout: Duration) -> Result<Vec<u8>, TailscaleError> {
    let status = response.status();
    let retry_after = retry_after(&response);
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(&e, timeout))?;
    if status.is_success() {
        return Ok(Vec::from(body));
    }
    Err(TailscaleError::from_status(
        status.as_u16(),
        message_of(&body, status),
        retry_after,
    ))
}

fn transport_error(e: &reqwest::Error, timeout: Duration) -> TailscaleError {
    if e.is_timeout() {
        TailscaleError::Timeout(timeout)
    } else {
        // Without the URL: it is in the logs' span already and may be long.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        TailscaleError::Transport(truncate_chars(&text, MAX_MESSAGE_CHARS).to_owned())
    }
}

/// `Retry-After` in seconds (Tailscale does not send HTTP dates).
fn retry_after(response: &Response) -> Option<Duration> {
    let raw = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs: f64 = raw.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Tailscale's `{"message": …}`, else the body text, else the status text.
fn message_of(body: &[u8], status: reqwest::StatusCode) -> String {
    if let Ok(e) = serde_json::from_slice::<WireError>(body) {
        if !e.message.trim().is_empty() {
            return truncate_chars(e.message.trim(), MAX_MESSAGE_CHARS).to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("no details given")
            .to_owned()
    } else {
        truncate_chars(text, MAX_MESSAGE_CHARS).to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_from_the_json_body_or_the_text() {
        let s = reqwest::StatusCode::BAD_REQUEST;
        assert_eq!(
            message_of(br#"{"message":"invalid value"}"#, s),
            "invalid value"
        );
        assert_eq!(message_of(b"plain words", s), "plain words");
        assert_eq!(message_of(b"", s), "Bad Request");
        assert_eq!(message_of(&[b'x'; 1000], s).len(), MAX_MESSAGE_CHARS);
    }
}
