//! What `POST /api/v2/device/{id}/attributes/{key}` accepts, by
//! Tailscale's documented rules. Each refusal is the message of a 400.
//!
//! - Keys: `custom:` prefix, ≤ 50 chars, `[A-Za-z0-9_:]`, unique
//!   case-insensitively across the tailnet.
//! - Values: boolean; integer within ±(2^53 − 1); string ≤ 50 chars of
//!   `[A-Za-z0-9_.]`. One value type per key while any device holds the key.
//! - `expiry`: RFC 3339 and in the future; `comment` ≤ 200 bytes of UTF-8
//!   (the API names no limit; the fake holds clients to the strictest
//!   reading, so a non-ASCII comment that only fits in characters fails).

use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::attributes::FakeAttribute;

const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// The attribute a write asks for, checked in the order Tailscale reports
/// problems: key, body, value, conflicts with other devices, expiry, comment.
pub(super) fn check_write(
    key: &str,
    body: &Bytes,
    existing: &HashMap<String, BTreeMap<String, FakeAttribute>>,
    now: DateTime<Utc>,
) -> Result<FakeAttribute, String> {
    check_key(key)?;
    let body: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(o)) => o,
        _ => return Err("request body must be a JSON object".into()),
    };
    let value = body.get("value").ok_or("missing attribute value")?;
    let kind = check_value(value)?;
    check_tailnet_wide(key, kind, existing)?;
    Ok(FakeAttribute {
        value: value.clone(),
        expiry: check_expiry(body.get("expiry"), now)?,
        comment: check_comment(body.get("comment"))?,
    })
}

pub(super) fn check_key(key: &str) -> Result<(), String> {
    if !key.starts_with("custom:") || key.len() == "custom:".len() {
        return Err(format!(
            "invalid attribute key {key:?}: must be \"custom:\" followed by a name"
        ));
    }
    if key.chars().count() > 50 {
        return Err(format!(
            "invalid attribute key {key:?}: longer than 50 characters"
        ));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return Err(format!(
            "invalid attribute key {key:?}: only letters, numbers, underscores and colons are allowed"
        ));
    }
    Ok(())
}

/// The JSON type name of a valid value, or why it is invalid.
fn check_value(value: &Value) -> Result<&'static str, String> {
    match value {
        Value::Bool(_) => Ok("boolean"),
        Value::Number(n) => {
            let fits = n
                .as_i64()
                .map(|i| i.unsigned_abs() <= MAX_SAFE_INTEGER as u64)
                .unwrap_or(false);
            if fits {
                Ok("number")
            } else if n.is_f64() {
                Err(format!(
                    "invalid attribute value {n}: numbers must be integers"
                ))
            } else {
                Err(format!(
                    "invalid attribute value {n}: numbers must be within ±(2^53 − 1)"
                ))
            }
        }
        Value::String(s) => {
            if s.chars().count() > 50 {
                Err("invalid attribute value: strings may be at most 50 characters".into())
            } else if !s
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                Err(format!(
                    "invalid attribute value {s:?}: only letters, numbers, underscores and periods are allowed"
                ))
            } else {
                Ok("string")
            }
        }
        other => Err(format!(
            "invalid attribute value {other}: must be a string, number or boolean"
        )),
    }
}

fn type_name(value: &Value) -> &'static str {
    check_value(value).unwrap_or("invalid")
}

/// Keys are unique case-insensitively, and hold one value type, across
/// every device of the tailnet.
fn check_tailnet_wide(
    key: &str,
    kind: &str,
    existing: &HashMap<String, BTreeMap<String, FakeAttribute>>,
) -> Result<(), String> {
    for (other_node, attrs) in existing {
        for (other_key, a) in attrs {
            if other_key.eq_ignore_ascii_case(key) && other_key != key {
                return Err(format!(
                    "attribute key {key:?} conflicts with existing key {other_key:?} (keys are unique case-insensitively)"
                ));
            }
            if other_key == key && type_name(&a.value) != kind {
                return Err(format!(
                    "attribute {key:?} already holds {} values (on device {other_node}); cannot set a {kind}",
                    type_name(&a.value)
                ));
            }
        }
    }
    Ok(())
}

fn check_expiry(
    expiry: Option<&Value>,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, String> {
    match expiry {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) if t.with_timezone(&Utc) > now => Ok(Some(t.with_timezone(&Utc))),
            Ok(_) => Err(format!("expiry {s:?} must be in the future")),
            Err(_) => Err(format!("invalid expiry {s:?}: must be an RFC 3339 time")),
        },
        Some(other) => Err(format!("invalid expiry {other}: must be a string")),
    }
}

fn check_comment(comment: Option<&Value>) -> Result<String, String> {
    match comment {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(c)) if c.len() <= 200 => Ok(c.clone()),
        Some(Value::String(c)) => Err(format!(
            "comment must be at most 200 bytes (it has {})",
            c.len()
        )),
        Some(other) => Err(format!("invalid comment {other}: must be a string")),
    }
}
