//! The tailnet's devices: [`FakeDevice`] (built to look like what
//! Tailscale sends), `GET /api/v2/tailnet/{tailnet}/devices` and
//! `GET /api/v2/device/{id}` (node ID, or the legacy numeric ID).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::auth::{Principal, SCOPE_DEVICES_READ};
use super::server::error;
use super::{FakeTailnet, Shared};

/// A device of the fake tailnet. Build with [`FakeDevice::owned`] or
/// [`FakeDevice::tagged_server`], then adjust with the builder methods.
#[derive(Debug, Clone)]
pub struct FakeDevice {
    pub node_id: String,
    /// The legacy numeric ID (also accepted in paths).
    pub id: String,
    /// The machine name; the MagicDNS name is `{hostname}.tail-fake.ts.net`
    /// unless [`FakeDevice::name`] sets another.
    pub hostname: String,
    pub name: String,
    pub user: String,
    pub os: String,
    pub addresses: Vec<String>,
    pub tags: Vec<String>,
    pub last_seen: Option<DateTime<Utc>>,
    /// `None` is sent as `""`, as Tailscale does for external devices.
    pub created: Option<DateTime<Utc>>,
    pub authorized: bool,
    /// Shared in from another tailnet (`isExternal: true`).
    pub external: bool,
    /// Raw JSON changes applied last: `Some(v)` sets a field, `None` removes it.
    pub overrides: Vec<(String, Option<Value>)>,
}

static NEXT_LEGACY_ID: AtomicU64 = AtomicU64::new(100_000_000_000);

impl FakeDevice {
    /// An untagged device owned by `email`, seen just now (by the system
    /// clock), with addresses derived from `node_id`.
    pub fn owned(node_id: &str, hostname: &str, email: &str) -> Self {
        let h = node_id
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32));
        Self {
            node_id: node_id.to_owned(),
            id: NEXT_LEGACY_ID.fetch_add(1, Ordering::Relaxed).to_string(),
            hostname: hostname.to_owned(),
            name: format!("{hostname}.tail-fake.ts.net"),
            user: email.to_owned(),
            os: "linux".into(),
            addresses: vec![
                format!(
                    "100.{}.{}.{}",
                    64 + h % 64,
                    (h >> 6) % 256,
                    1 + (h >> 14) % 254
                ),
                format!("fd7a:115c:a1e0::{:x}", h & 0xffff),
            ],
            tags: Vec::new(),
            last_seen: Some(Utc::now()),
            created: Some(Utc::now() - chrono::Duration::days(30)),
            authorized: true,
            external: false,
            overrides: Vec::new(),
        }
    }

    /// A tagged server (registered by `admin@example.com`, owned by its tags).
    pub fn tagged_server(node_id: &str, hostname: &str, tags: &[&str]) -> Self {
        Self::owned(node_id, hostname, "admin@example.com").tagged(tags)
    }

    pub fn tagged(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }

    pub fn last_seen(mut self, at: DateTime<Utc>) -> Self {
        self.last_seen = Some(at);
        self
    }

    /// `lastSeen` absent from the JSON.
    pub fn never_seen(mut self) -> Self {
        self.last_seen = None;
        self
    }

    pub fn os(mut self, os: &str) -> Self {
        self.os = os.to_owned();
        self
    }

    pub fn addresses(mut self, addresses: &[&str]) -> Self {
        self.addresses = addresses.iter().map(|a| (*a).to_owned()).collect();
        self
    }

    /// The MagicDNS name (default `{hostname}.tail-fake.ts.net`).
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    pub fn legacy_id(mut self, id: &str) -> Self {
        self.id = id.to_owned();
        self
    }

    /// `created: ""`, as for external devices.
    pub fn created_empty(mut self) -> Self {
        self.created = None;
        self
    }

    /// Shared into this tailnet from another one: listed with
    /// `isExternal: true` and `created: ""`, as Tailscale does, and only
    /// its own tailnet may set its attributes.
    pub fn shared_in(mut self) -> Self {
        self.external = true;
        self.created = None;
        self
    }

    /// Set a raw JSON field (e.g. an unknown one) in the device object.
    pub fn with_field(mut self, field: &str, value: Value) -> Self {
        self.overrides.push((field.to_owned(), Some(value)));
        self
    }

    /// Remove a field from the device object.
    pub fn without_field(mut self, field: &str) -> Self {
        self.overrides.push((field.to_owned(), None));
        self
    }

    /// The device object as Tailscale's API sends it.
    pub fn to_json(&self) -> Value {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut o = Map::new();
        o.insert("addresses".into(), json!(self.addresses));
        o.insert("id".into(), json!(self.id));
        o.insert("nodeId".into(), json!(self.node_id));
        o.insert("user".into(), json!(self.user));
        o.insert("name".into(), json!(self.name));
        o.insert("hostname".into(), json!(self.hostname));
        o.insert("clientVersion".into(), json!("1.80.2-t1234abcd"));
        o.insert("updateAvailable".into(), json!(false));
        o.insert("os".into(), json!(self.os));
        o.insert(
            "created".into(),
            json!(self.created.as_ref().map(time).unwrap_or_default()),
        );
        if let Some(seen) = &self.last_seen {
            o.insert("lastSeen".into(), json!(time(seen)));
        }
        o.insert("keyExpiryDisabled".into(), json!(false));
        o.insert("expires".into(), json!("2030-01-01T00:00:00Z"));
        o.insert("authorized".into(), json!(self.authorized));
        o.insert("isExternal".into(), json!(self.external));
        o.insert("machineKey".into(), json!(format!("mkey:{}", self.node_id)));
        o.insert("nodeKey".into(), json!(format!("nodekey:{}", self.node_id)));
        o.insert("blocksIncomingConnections".into(), json!(false));
        o.insert("tailnetLockKey".into(), json!(""));
        o.insert("tailnetLockError".into(), json!(""));
        if !self.tags.is_empty() {
            o.insert("tags".into(), json!(self.tags));
        }
        for (field, value) in &self.overrides {
            match value {
                Some(v) => o.insert(field.clone(), v.clone()),
                None => o.remove(field),
            };
        }
        Value::Object(o)
    }
}

#[derive(Default)]
pub(super) struct Devices {
    list: Vec<FakeDevice>,
    /// Node ID and legacy ID → position in `list`.
    lookup: HashMap<String, usize>,
}

impl Devices {
    fn reindex(&mut self) {
        self.lookup.clear();
        for (i, d) in self.list.iter().enumerate() {
            self.lookup.insert(d.id.clone(), i);
            self.lookup.insert(d.node_id.clone(), i);
        }
    }

    /// The device with this node ID or legacy ID.
    pub(super) fn get(&self, id: &str) -> Option<&FakeDevice> {
        self.lookup.get(id).map(|&i| &self.list[i])
    }
}

impl FakeTailnet {
    /// Add a device (replacing one with the same node ID).
    pub fn add_device(&self, device: FakeDevice) {
        self.add_devices([device]);
    }

    pub fn add_devices(&self, devices: impl IntoIterator<Item = FakeDevice>) {
        let mut state = self.shared.state();
        let known = &mut state.devices;
        for device in devices {
            match known.lookup.get(&device.node_id).copied() {
                Some(i) => known.list[i] = device,
                None => known.list.push(device),
            }
        }
        known.reindex();
    }

    /// Remove a device and its attributes; `false` if it was not there.
    pub fn remove_device(&self, node_id: &str) -> bool {
        let mut state = self.shared.state();
        let before = state.devices.list.len();
        state.devices.list.retain(|d| d.node_id != node_id);
        state.attributes.remove_device(node_id);
        state.devices.reindex();
        state.devices.list.len() < before
    }

    /// Change a device in place (retag it, change its owner…); `false` if unknown.
    pub fn update_device(&self, node_id: &str, change: impl FnOnce(&mut FakeDevice)) -> bool {
        let mut state = self.shared.state();
        let known = &mut state.devices;
        let Some(i) = known.lookup.get(node_id).copied() else {
            return false;
        };
        change(&mut known.list[i]);
        known.reindex();
        true
    }

    pub fn devices(&self) -> Vec<FakeDevice> {
        self.shared.state().devices.list.clone()
    }
}

/// `GET /api/v2/tailnet/{tailnet}/devices` (`-` or [`FakeTailnet::TAILNET`]).
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(who): Extension<Principal>,
    Path(tailnet): Path<String>,
) -> Response {
    if let Some(r) = who.refuse(SCOPE_DEVICES_READ, true) {
        return r;
    }
    if tailnet != "-" && tailnet != FakeTailnet::TAILNET {
        return error(StatusCode::NOT_FOUND, "tailnet not found");
    }
    let devices: Vec<Value> = shared
        .state()
        .devices
        .list
        .iter()
        .map(FakeDevice::to_json)
        .collect();
    Json(json!({ "devices": devices })).into_response()
}

/// `GET /api/v2/device/{id}`.
pub(super) async fn get(
    State(shared): State<Arc<Shared>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = who.refuse(SCOPE_DEVICES_READ, true) {
        return r;
    }
    match shared.state().devices.get(&id) {
        Some(d) => Json(d.to_json()).into_response(),
        None => device_not_found(),
    }
}

pub(super) fn device_not_found() -> Response {
    error(StatusCode::NOT_FOUND, "device not found")
}
