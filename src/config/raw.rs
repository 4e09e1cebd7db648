//! The config file as written: loosely typed so that validation can report
//! every problem at once instead of stopping at the first.

use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    pub server: RawServer,
    pub database: RawDatabase,
    pub slack: RawSlack,
    pub tailscale: RawTailscale,
    pub requests: RawRequests,
    pub worker: RawWorker,
    pub profiles: Vec<RawProfile>,
}

/// Declares a section as written: `a, b: T;` gives the keys `a` and `b`,
/// each an `Option<T>` (`None` when the file leaves it out).
macro_rules! raw_section {
    ($(#[$doc:meta])* $name:ident { $($($key:ident),+: $ty:ty;)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Default, Deserialize)]
        #[serde(default)]
        pub struct $name {
            $($(pub $key: Option<$ty>,)+)+
        }
    };
}

raw_section! {
    /// `[server]`
    RawServer {
        listen, public_url, metrics_listen: String;
        max_connections, max_in_flight: u32;
        header_timeout, body_timeout, shutdown_timeout: String;
    }
}

raw_section! {
    /// `[database]`
    RawDatabase {
        url: String;
        max_connections: u32;
    }
}

raw_section! {
    /// `[slack]`
    RawSlack {
        api_url, command, request_timeout: String;
        socket_mode: bool;
        signing_secret, bot_token, app_token: String;
    }
}

raw_section! {
    /// `[tailscale]`
    RawTailscale {
        api_url, tailnet, request_timeout, device_cache_ttl: String;
        api_key, oauth_client_id, oauth_client_secret: String;
    }
}

raw_section! {
    /// `[requests]`
    RawRequests {
        pending_timeout, remind_after: String;
    }
}

raw_section! {
    /// `[worker]`
    RawWorker {
        enabled: bool;
        poll_interval, reconcile_interval, missing_attribute: String;
    }
}

raw_section! {
    /// One `[[profiles]]` entry.
    RawProfile {
        attribute, description, max_duration: String;
        approvers: Vec<String>;
        can_self_approve, confirm_self_approval, allow_guests: bool;
        notify_channel, devices: String;
        // A boolean, an integer or a string: validation checks which.
        value: toml::Value;
        approval, approval_channel, review_within: String;
        extend_without_approval: String;
        approvals_required: i64;
        break_glass: bool;
        auto_approve: Vec<String>;
    }
}
