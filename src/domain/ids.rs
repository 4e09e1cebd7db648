//! Identifiers that arrive from Slack or Tailscale and end up in URLs, SQL
//! and messages: each can only hold a well-formed value.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} {value:?}: {rule}")]
pub struct IdError {
    pub what: &'static str,
    pub value: String,
    pub rule: &'static str,
}

fn is_upper_alnum(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Declares a string newtype with `parse`, `as_str`, `Display`, serde and
/// `FromStr`, validated by `$check`.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $what:literal, $rule:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, IdError> {
                let check: fn(&str) -> bool = $check;
                if check(raw) {
                    Ok(Self(raw.to_owned()))
                } else {
                    Err(IdError {
                        what: $what,
                        value: raw.chars().take(64).collect(),
                        rule: $rule,
                    })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        string_newtype_impls!($name);

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::parse(s)
            }
        }
    };
}

string_id!(
    /// A Slack user ID (`U…` or, on Enterprise Grid, `W…`).
    SlackUserId,
    "Slack user ID",
    "must be U or W followed by 2–20 uppercase letters or digits",
    |s| {
        (3..=21).contains(&s.len())
            && (s.starts_with('U') || s.starts_with('W'))
            && is_upper_alnum(s)
    }
);

string_id!(
    /// A Slack conversation ID: public (`C…`), private (`G…`) or DM (`D…`).
    SlackChannelId,
    "Slack channel ID",
    "must be C, G or D followed by 2–20 uppercase letters or digits",
    |s| {
        (3..=21).contains(&s.len())
            && (s.starts_with('C') || s.starts_with('G') || s.starts_with('D'))
            && is_upper_alnum(s)
    }
);

string_id!(
    /// A Tailscale node ID (`nodeId`, e.g. `nTCJJ46CNTRL`, or a legacy numeric ID).
    NodeId,
    "Tailscale node ID",
    "must be 1–64 letters or digits",
    |s| (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
);

/// An access request's ID: a UUIDv7, so IDs sort by creation time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(uuid::Uuid);

impl RequestId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn from_uuid(u: uuid::Uuid) -> Self {
        Self(u)
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        uuid::Uuid::parse_str(raw).map(Self).map_err(|_| IdError {
            what: "request ID",
            value: raw.chars().take(64).collect(),
            rule: "must be a UUID",
        })
    }
}

impl Default for RequestId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for RequestId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_user_ids() {
        for ok in ["U024BE7LH", "W012A3CDE", "U1"] {
            let parsed = SlackUserId::parse(ok);
            assert_eq!(parsed.is_ok(), ok.len() >= 3, "{ok}");
        }
        for bad in [
            "",
            "u024be7lh",
            "C024BE7LH",
            "U024-BE7",
            "U024BE7LH<script>",
        ] {
            assert!(SlackUserId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn channel_ids() {
        for ok in ["C06TH49GKHC", "G01ABC", "D024BE91L"] {
            assert!(SlackChannelId::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "#general", "U024BE7LH", "c06th49gkhc"] {
            assert!(SlackChannelId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn node_ids() {
        assert!(NodeId::parse("nTCJJ46CNTRL").is_ok());
        assert!(NodeId::parse("12345").is_ok());
        for bad in ["", "../etc", "n1/attributes", "a b", &"n".repeat(65)] {
            assert!(NodeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_ids_sort_by_creation() {
        let a = RequestId::new();
        let b = RequestId::new();
        assert!(a < b);
        assert_eq!(RequestId::parse(&a.to_string()).unwrap(), a);
        assert!(RequestId::parse("not-a-uuid").is_err());
    }

    #[test]
    fn ids_deserialize_through_parse() {
        let ok: SlackUserId = serde_json::from_str("\"U024BE7LH\"").unwrap();
        assert_eq!(ok.as_str(), "U024BE7LH");
        assert!(serde_json::from_str::<SlackUserId>("\"nope\"").is_err());
    }
}
