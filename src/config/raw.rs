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

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawServer {
    pub listen: Option<String>,
    pub public_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawDatabase {
    pub url: Option<String>,
    pub max_connections: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawSlack {
    pub api_url: Option<String>,
    pub socket_mode: Option<bool>,
    pub command: Option<String>,
    pub signing_secret: Option<String>,
    pub bot_token: Option<String>,
    pub app_token: Option<String>,
    pub request_timeout: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawTailscale {
    pub api_url: Option<String>,
    pub tailnet: Option<String>,
    pub api_key: Option<String>,
    pub oauth_client_id: Option<String>,
    pub oauth_client_secret: Option<String>,
    pub request_timeout: Option<String>,
    pub device_cache_ttl: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawRequests {
    pub pending_timeout: Option<String>,
    pub remind_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawWorker {
    pub enabled: Option<bool>,
    pub poll_interval: Option<String>,
    pub reconcile_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawProfile {
    pub attribute: Option<String>,
    pub description: Option<String>,
    pub max_duration: Option<String>,
    pub approvers: Vec<String>,
    pub can_self_approve: Option<bool>,
    pub confirm_self_approval: Option<bool>,
    pub notify_channel: Option<String>,
    pub devices: Option<String>,
    pub value: Option<toml::Value>,
}
