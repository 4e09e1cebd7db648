//! A submitted request form, as the requester left it: raw text per
//! question, none of it trusted until the use case has checked it.

use std::collections::BTreeMap;

/// The request form's questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// The profile, by attribute key.
    Profile,
    /// The device, by node ID.
    Device,
    /// Seconds.
    Duration,
    /// A Slack user ID; empty or absent means "no approval needed".
    Approver,
    Reason,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Profile,
        Field::Device,
        Field::Duration,
        Field::Approver,
        Field::Reason,
    ];
}

/// The answers given, by question.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Submission(BTreeMap<Field, String>);

impl Submission {
    pub fn new(answers: impl IntoIterator<Item = (Field, String)>) -> Self {
        Self(answers.into_iter().collect())
    }

    /// The answer to `field`, if any.
    pub fn get(&self, field: Field) -> Option<&str> {
        self.0.get(&field).map(String::as_str)
    }
}

/// Problems to show next to the form's questions.
pub type FieldErrors = BTreeMap<Field, String>;
