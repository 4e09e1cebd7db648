//! Everything that speaks Slack.

pub mod ack;
pub mod api;
pub mod blocks;
pub mod forms;
pub mod handlers;
pub mod home;
pub mod messages;
pub mod payload;
pub mod people;
pub mod signature;
pub mod socket;
pub mod views;
