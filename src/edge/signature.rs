//! Verifies that a request comes from Slack: HMAC-SHA256 with the signing
//! secret over `v0:{timestamp}:{raw body}`, a timestamp within five minutes.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far a request's timestamp may be from our clock, either way.
pub const MAX_CLOCK_SKEW_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing X-Slack-Request-Timestamp or X-Slack-Signature header")]
    MissingHeaders,
    #[error("X-Slack-Request-Timestamp is not a number")]
    BadTimestamp,
    #[error("request timestamp is more than five minutes from now")]
    Stale,
    #[error("X-Slack-Signature is malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
}

/// The `v0=…` signature Slack would send for this request.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks the headers' values against the body at time `now` (Unix seconds).
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::MissingHeaders);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if (now - ts).abs() > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale);
    }
    let given = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Malformed)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    if expected.as_slice().ct_eq(&given).into() {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's documented example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    #[test]
    fn slacks_documented_vector_signs_and_verifies() {
        assert_eq!(sign(SECRET, TS, BODY.as_bytes()), SIG);
        assert_eq!(
            verify(SECRET, Some(TS), Some(SIG), BODY.as_bytes(), 1531420618),
            Ok(())
        );
    }

    #[test]
    fn any_change_is_a_mismatch() {
        let now = 1531420618;
        let mut body = BODY.as_bytes().to_vec();
        body[0] = b'T';
        assert_eq!(
            verify(SECRET, Some(TS), Some(SIG), &body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other-secret", Some(TS), Some(SIG), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
        let other_ts = "1531420619";
        assert_eq!(
            verify(SECRET, Some(other_ts), Some(SIG), BODY.as_bytes(), now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn timestamps_must_be_numeric_and_fresh() {
        let body = BODY.as_bytes();
        let now = 1531420618;
        assert_eq!(
            verify(SECRET, Some(TS), Some(SIG), body, now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, Some(TS), Some(SIG), body, now - 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(SECRET, Some(TS), Some(SIG), body, now + 300), Ok(()));
        assert_eq!(
            verify(SECRET, Some("soon"), Some(SIG), body, now),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn missing_or_malformed_headers() {
        let body = BODY.as_bytes();
        assert_eq!(
            verify(SECRET, None, Some(SIG), body, 0),
            Err(SignatureError::MissingHeaders)
        );
        assert_eq!(
            verify(SECRET, Some(TS), None, body, 0),
            Err(SignatureError::MissingHeaders)
        );
        let now = 1531420618;
        assert_eq!(
            verify(SECRET, Some(TS), Some("v1=abcd"), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, Some(TS), Some("v0=zz"), body, now),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, Some(TS), Some("v0=abcd"), body, now),
            Err(SignatureError::Mismatch)
        );
    }
}
