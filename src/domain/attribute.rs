//! Tailscale device posture attributes: the key and value rules Tailscale
//! enforces, as types that cannot hold anything Tailscale would refuse.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Largest integer Tailscale accepts as an attribute value (2^53 − 1, the
/// largest integer a JSON number holds exactly).
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;
/// Longest attribute key, prefix included.
pub const MAX_KEY_LEN: usize = 50;
/// Longest string attribute value.
pub const MAX_STRING_VALUE_LEN: usize = 50;
/// The only prefix an API client may write.
pub const CUSTOM_PREFIX: &str = "custom:";

/// Tailscale's rule for the text of keys and string values: at most `max`
/// characters, each an ASCII letter, a digit, `_` or `also` (`:` in keys,
/// `.` in values). The error says which part broke it.
fn check_text<E>(
    s: &str,
    max: usize,
    also: char,
    too_long: fn(usize) -> E,
    illegal: fn(char) -> E,
) -> Result<(), E> {
    let len = s.chars().count();
    if len > max {
        return Err(too_long(len));
    }
    match s
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == also))
    {
        Some(c) => Err(illegal(c)),
        None => Ok(()),
    }
}

/// A `custom:*` posture attribute key: ≤ 50 chars of `[A-Za-z0-9_:]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AttributeKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeKeyError {
    #[error("must start with \"custom:\"")]
    MissingPrefix,
    #[error("needs a name after \"custom:\"")]
    EmptyName,
    #[error("must be at most 50 characters (is {0})")]
    TooLong(usize),
    #[error("may only contain letters, digits, underscore and colon (found {0:?})")]
    IllegalChar(char),
}

impl AttributeKey {
    pub fn parse(raw: &str) -> Result<Self, AttributeKeyError> {
        let name = raw
            .strip_prefix(CUSTOM_PREFIX)
            .ok_or(AttributeKeyError::MissingPrefix)?;
        if name.is_empty() {
            return Err(AttributeKeyError::EmptyName);
        }
        check_text(
            raw,
            MAX_KEY_LEN,
            ':',
            AttributeKeyError::TooLong,
            AttributeKeyError::IllegalChar,
        )?;
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part after `custom:`, as used in a policy posture name.
    pub fn name(&self) -> &str {
        &self.0[CUSTOM_PREFIX.len()..]
    }

    /// Tailscale treats keys case-insensitively when checking uniqueness.
    pub fn same_key(&self, other: &AttributeKey) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

string_newtype_impls!(AttributeKey);

/// A posture attribute value: a boolean, an integer within ±(2^53 − 1), or
/// a string of ≤ 50 chars of `[A-Za-z0-9_.]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum AttributeValue {
    Bool(bool),
    Int(i64),
    Str(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttributeValueError {
    #[error("integer must be within ±9007199254740991 (2^53 − 1)")]
    IntOutOfRange,
    #[error("string must not be empty")]
    EmptyString,
    #[error("string must be at most 50 characters (is {0})")]
    StringTooLong(usize),
    #[error("string may only contain letters, digits, underscore and period (found {0:?})")]
    IllegalChar(char),
    #[error("must be a boolean, an integer or a string")]
    WrongType,
}

/// Which JSON type a value has; Tailscale allows one type per key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttributeValueType {
    Bool,
    Int,
    Str,
}

impl AttributeValue {
    pub fn int(n: i64) -> Result<Self, AttributeValueError> {
        if n.unsigned_abs() > MAX_SAFE_INTEGER as u64 {
            return Err(AttributeValueError::IntOutOfRange);
        }
        Ok(Self::Int(n))
    }

    pub fn string(s: &str) -> Result<Self, AttributeValueError> {
        if s.is_empty() {
            return Err(AttributeValueError::EmptyString);
        }
        check_text(
            s,
            MAX_STRING_VALUE_LEN,
            '.',
            AttributeValueError::StringTooLong,
            AttributeValueError::IllegalChar,
        )?;
        Ok(Self::Str(s.to_owned()))
    }

    /// Parse a JSON value (as found in config or a Tailscale response).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, AttributeValueError> {
        match v {
            serde_json::Value::Bool(b) => Ok(Self::Bool(*b)),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Self::int(i),
                None if n.is_u64() => Err(AttributeValueError::IntOutOfRange),
                None => Err(AttributeValueError::WrongType),
            },
            serde_json::Value::String(s) => Self::string(s),
            _ => Err(AttributeValueError::WrongType),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Bool(b) => serde_json::Value::Bool(*b),
            Self::Int(i) => serde_json::Value::from(*i),
            Self::Str(s) => serde_json::Value::String(s.clone()),
        }
    }

    pub fn value_type(&self) -> AttributeValueType {
        match self {
            Self::Bool(_) => AttributeValueType::Bool,
            Self::Int(_) => AttributeValueType::Int,
            Self::Str(_) => AttributeValueType::Str,
        }
    }
}

impl Default for AttributeValue {
    fn default() -> Self {
        Self::Bool(true)
    }
}

impl fmt::Display for AttributeValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::Str(s) => write!(f, "\"{s}\""),
        }
    }
}

impl<'de> Deserialize<'de> for AttributeValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        Self::from_json(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_accepts_valid_keys() {
        for k in ["custom:prodAccess", "custom:a", "custom:x_y:z_9"] {
            assert_eq!(AttributeKey::parse(k).unwrap().as_str(), k);
        }
        assert_eq!(AttributeKey::parse("custom:prod").unwrap().name(), "prod");
    }

    #[test]
    fn key_length_edge_is_50() {
        let k50 = format!("custom:{}", "a".repeat(43));
        assert_eq!(k50.len(), 50);
        assert!(AttributeKey::parse(&k50).is_ok());
        let k51 = format!("custom:{}", "a".repeat(44));
        assert_eq!(
            AttributeKey::parse(&k51),
            Err(AttributeKeyError::TooLong(51))
        );
    }

    #[test]
    fn key_requires_custom_prefix_and_a_name() {
        use AttributeKeyError::{EmptyName, MissingPrefix};
        for (k, expected) in [
            ("prodAccess", MissingPrefix),
            ("Custom:prod", MissingPrefix),
            ("node:os", MissingPrefix),
            ("custom:", EmptyName),
            ("", MissingPrefix),
        ] {
            assert_eq!(AttributeKey::parse(k), Err(expected), "{k:?}");
        }
    }

    #[test]
    fn key_rejects_illegal_chars() {
        for (k, c) in [
            ("custom:prod-access", '-'),
            ("custom:prod access", ' '),
            ("custom:prod.access", '.'),
            ("custom:prödaccess", 'ö'),
            // The key goes into the Tailscale API path.
            ("custom:a/b", '/'),
            ("custom:a?b", '?'),
            ("custom:a%2Fb", '%'),
            ("custom:a#b", '#'),
        ] {
            assert_eq!(
                AttributeKey::parse(k),
                Err(AttributeKeyError::IllegalChar(c))
            );
        }
    }

    #[test]
    fn keys_compare_case_insensitively_for_uniqueness() {
        let a = AttributeKey::parse("custom:Prod").unwrap();
        let b = AttributeKey::parse("custom:prod").unwrap();
        assert!(a.same_key(&b));
        assert_ne!(a, b);
    }

    #[test]
    fn int_value_edges() {
        assert!(AttributeValue::int(MAX_SAFE_INTEGER).is_ok());
        assert!(AttributeValue::int(-MAX_SAFE_INTEGER).is_ok());
        for n in [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1] {
            assert_eq!(
                AttributeValue::int(n),
                Err(AttributeValueError::IntOutOfRange)
            );
        }
    }

    #[test]
    fn json_value_edges() {
        // Config files and Tailscale responses go through from_json.
        use serde_json::json;
        use AttributeValueError::{EmptyString, IntOutOfRange, WrongType};
        assert_eq!(
            AttributeValue::from_json(&json!(9_007_199_254_740_991_i64)),
            Ok(AttributeValue::Int(MAX_SAFE_INTEGER))
        );
        for (value, expected) in [
            (json!(9_007_199_254_740_992_i64), IntOutOfRange),
            (json!(-9_007_199_254_740_992_i64), IntOutOfRange),
            (json!(u64::MAX), IntOutOfRange),
            (json!(1.5), WrongType),
            (json!(null), WrongType),
            (json!(""), EmptyString),
        ] {
            assert_eq!(AttributeValue::from_json(&value), Err(expected), "{value}");
        }
    }

    #[test]
    fn string_value_edges() {
        use AttributeValueError::{EmptyString, IllegalChar, StringTooLong};
        assert!(AttributeValue::string(&"a".repeat(50)).is_ok());
        assert!(AttributeValue::string("v1.2_beta").is_ok());
        for (s, expected) in [
            ("a".repeat(51), StringTooLong(51)),
            (String::new(), EmptyString),
            ("a-b".to_owned(), IllegalChar('-')),
        ] {
            assert_eq!(AttributeValue::string(&s), Err(expected), "{s:?}");
        }
    }

    #[test]
    fn value_round_trips_json() {
        for v in [
            AttributeValue::Bool(true),
            AttributeValue::int(42).unwrap(),
            AttributeValue::string("prod").unwrap(),
        ] {
            let json = serde_json::to_value(&v).unwrap();
            assert_eq!(json, v.to_json());
            assert_eq!(AttributeValue::from_json(&json).unwrap(), v);
        }
        assert_eq!(AttributeValue::default(), AttributeValue::Bool(true));
    }
}
