//! accessbot: just-in-time, time-bound Tailscale access through Slack.

pub mod allocator;
pub mod audit;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod edge;
pub mod flow;
pub mod manifest;
pub mod metrics;
pub mod slack;
pub mod startup;
pub mod state;
pub mod store;
pub mod tailscale;
pub mod telemetry;
pub mod worker;
