//! The inbound edge: everything that receives Slack. The HTTP router and
//! its signature check, Socket Mode, payload parsing and acks. Handlers
//! parse what Slack sent, call the use cases in `flow` with domain input,
//! and answer within Slack's 3 seconds.

pub mod ack;
pub mod extend;
pub mod forms;
pub mod handlers;
pub mod payload;
pub mod router;
pub mod server;
pub mod signature;
pub mod socket;
pub mod team;
