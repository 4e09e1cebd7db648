//! Outbound Slack: the Web API client, the people directory, and the
//! rendering of views and messages. What Slack sends us is `edge`'s.

pub mod api;
pub mod blocks;
pub mod messages;
pub mod notices;
pub mod people;
pub mod team;
pub mod views;
