//! Everything that speaks Slack.

pub mod signature;
