#![allow(dead_code)]
//! Shared helpers for the integration tests: real test databases, fakes of
//! the services accessbot talks to, Slack-shaped payloads and `spawn_app`.
//! Each test binary does `mod support;`.

pub mod app;
pub mod bin;
pub mod db;
pub mod fake_slack;
pub mod fake_socket;
pub mod fake_tailscale;
pub mod payloads;
