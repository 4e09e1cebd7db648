#![allow(dead_code)]
//! Shared by the integration tests: fakes of the services accessbot talks to.

pub mod fake_tailscale;
