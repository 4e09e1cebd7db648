//! The free-text reason a requester gives.

use serde::Serialize;

/// Longest reason accepted (the request form enforces the same limit).
pub const MAX_REASON_LEN: usize = 500;

/// A trimmed, non-empty reason of at most [`MAX_REASON_LEN`] characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Reason(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("Please say why you need access.")]
    Empty,
    #[error("Please keep the reason under {MAX_REASON_LEN} characters (it has {0}).")]
    TooLong(usize),
}

impl Reason {
    pub fn parse(raw: &str) -> Result<Self, ReasonError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ReasonError::Empty);
        }
        let len = trimmed.chars().count();
        if len > MAX_REASON_LEN {
            return Err(ReasonError::TooLong(len));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_newtype_impls!(Reason);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(
            Reason::parse("  deploy hotfix  ").unwrap().as_str(),
            "deploy hotfix"
        );
        assert_eq!(Reason::parse(" \n\t "), Err(ReasonError::Empty));
        assert!(Reason::parse(&"é".repeat(MAX_REASON_LEN)).is_ok());
        assert_eq!(
            Reason::parse(&"x".repeat(MAX_REASON_LEN + 1)),
            Err(ReasonError::TooLong(MAX_REASON_LEN + 1))
        );
    }
}
