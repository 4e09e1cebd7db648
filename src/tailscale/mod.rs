//! The Tailscale API as accessbot uses it: devices (for the request form
//! and its validation) and `custom:*` posture attributes (the grants).
//!
//! - [`TailscaleClient`]: the API calls, with API-key or OAuth auth,
//!   retries of transient failures and typed errors ([`TailscaleError`]).
//! - [`DeviceDirectory`]: the tailnet's devices cached in memory, and the
//!   [`DeviceIndex`] lookups the Slack form needs.

mod auth;
mod client;
mod directory;
mod error;
mod index;
mod model;
mod retry;
mod transport;

pub use client::TailscaleClient;
pub use directory::DeviceDirectory;
pub use error::{TailscaleError, REQUIRED_SCOPES};
pub use index::DeviceIndex;
pub use model::{
    rfc3339_utc, truncate_bytes, truncate_chars, Device, DeviceAttributes, MAX_COMMENT_BYTES,
};
pub use retry::RetryPolicy;
