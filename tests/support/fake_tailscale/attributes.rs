//! Posture attributes: `GET /api/v2/device/{id}/attributes` →
//! `{"attributes": {…}, "expiries": {…}}` (`custom:*` plus a `node:os`;
//! `expiries` left out when none expire), and `POST` / `DELETE` of
//! `/api/v2/device/{id}/attributes/{key}` (deleting an absent key is a 200).
//! What a write accepts is in `attribute_rules`. Attributes past their
//! expiry are gone the moment the fake's clock passes it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, MutexGuard};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::attribute_rules::{check_key, check_write};
use super::auth::{Principal, SCOPE_ATTRIBUTES};
use super::devices::{device_not_found, FakeDevice};
use super::server::{bad_request, error};
use super::{FakeTailnet, Shared, TailnetState};

/// A posture attribute as the fake stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAttribute {
    pub value: Value,
    pub expiry: Option<DateTime<Utc>>,
    pub comment: String,
}

/// What a successful POST/DELETE answers (all are 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WriteReply {
    /// `{}`, as documented.
    #[default]
    EmptyObject,
    /// `null`.
    Null,
    /// No body at all.
    Empty,
    /// The device's attributes object.
    Attributes,
}

#[derive(Default)]
pub(super) struct Attributes {
    /// Node ID → key → attribute.
    by_node: HashMap<String, BTreeMap<String, FakeAttribute>>,
    write_reply: WriteReply,
}

impl Attributes {
    /// Drop attributes whose expiry has passed.
    fn prune(&mut self, now: DateTime<Utc>) {
        for attrs in self.by_node.values_mut() {
            attrs.retain(|_, a| a.expiry.is_none_or(|e| e > now));
        }
    }

    pub(super) fn remove_device(&mut self, node_id: &str) {
        self.by_node.remove(node_id);
    }
}

impl FakeTailnet {
    /// The device's current `custom:*` attributes (expired ones dropped).
    pub fn attributes(&self, node_id: &str) -> BTreeMap<String, FakeAttribute> {
        let (state, _) = current_state(&self.shared);
        state
            .attributes
            .by_node
            .get(node_id)
            .cloned()
            .unwrap_or_default()
    }

    pub fn attribute(&self, node_id: &str, key: &str) -> Option<FakeAttribute> {
        self.attributes(node_id).remove(key)
    }

    /// Remove an attribute behind accessbot's back (as an admin could in
    /// the console); true if it was there.
    pub fn remove_attribute(&self, node_id: &str, key: &str) -> bool {
        self.shared
            .state()
            .attributes
            .by_node
            .get_mut(node_id)
            .is_some_and(|attrs| attrs.remove(key).is_some())
    }

    /// Pre-seed an attribute, bypassing the API's rules.
    pub fn put_attribute(
        &self,
        node_id: &str,
        key: &str,
        value: Value,
        expiry: Option<DateTime<Utc>>,
        comment: &str,
    ) {
        self.shared
            .state()
            .attributes
            .by_node
            .entry(node_id.to_owned())
            .or_default()
            .insert(
                key.to_owned(),
                FakeAttribute {
                    value,
                    expiry,
                    comment: comment.to_owned(),
                },
            );
    }

    /// What successful POSTs and DELETEs answer (default `{}`).
    pub fn set_write_reply(&self, reply: WriteReply) {
        self.shared.state().attributes.write_reply = reply;
    }
}

fn attributes_json(state: &TailnetState, device: &FakeDevice) -> Value {
    let mut attributes = Map::new();
    let mut expiries = Map::new();
    attributes.insert("node:os".into(), json!(device.os));
    if let Some(attrs) = state.attributes.by_node.get(&device.node_id) {
        for (key, a) in attrs {
            attributes.insert(key.clone(), a.value.clone());
            if let Some(e) = a.expiry {
                expiries.insert(
                    key.clone(),
                    json!(e.to_rfc3339_opts(SecondsFormat::Secs, true)),
                );
            }
        }
    }
    let mut body = json!({ "attributes": attributes });
    if !expiries.is_empty() {
        body["expiries"] = Value::Object(expiries);
    }
    body
}

/// The state with expired attributes gone, and the time that decided it.
fn current_state(shared: &Shared) -> (MutexGuard<'_, TailnetState>, DateTime<Utc>) {
    let now = shared.clock.now();
    let mut state = shared.state();
    state.attributes.prune(now);
    (state, now)
}

/// The node ID of the device `id` names (node ID or legacy ID).
fn node_id(state: &TailnetState, id: &str) -> Option<String> {
    state.devices.get(id).map(|d| d.node_id.clone())
}

/// `GET /api/v2/device/{id}/attributes`.
pub(super) async fn list(
    State(shared): State<Arc<Shared>>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = who.refuse(SCOPE_ATTRIBUTES, true) {
        return r;
    }
    let (state, _) = current_state(&shared);
    match state.devices.get(&id) {
        Some(d) => Json(attributes_json(&state, d)).into_response(),
        None => device_not_found(),
    }
}

/// `POST /api/v2/device/{id}/attributes/{key}` `{"value", "expiry", "comment"}`.
pub(super) async fn set(
    State(shared): State<Arc<Shared>>,
    Extension(who): Extension<Principal>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    if let Some(r) = who.refuse(SCOPE_ATTRIBUTES, false) {
        return r;
    }
    let (mut state, now) = current_state(&shared);
    let Some(node_id) = node_id(&state, &id) else {
        return device_not_found();
    };
    if state.devices.get(&node_id).is_some_and(|d| d.external) {
        return error(
            StatusCode::FORBIDDEN,
            "posture attributes of a shared-in device can only be set by the tailnet it belongs to",
        );
    }
    let attribute = match check_write(&key, &body, &state.attributes.by_node, now) {
        Ok(a) => a,
        Err(m) => return bad_request(m),
    };
    state
        .attributes
        .by_node
        .entry(node_id.clone())
        .or_default()
        .insert(key, attribute);
    write_reply(&state, &node_id)
}

/// `DELETE /api/v2/device/{id}/attributes/{key}`.
pub(super) async fn delete(
    State(shared): State<Arc<Shared>>,
    Extension(who): Extension<Principal>,
    Path((id, key)): Path<(String, String)>,
) -> Response {
    if let Some(r) = who.refuse(SCOPE_ATTRIBUTES, false) {
        return r;
    }
    let (mut state, _) = current_state(&shared);
    let Some(node_id) = node_id(&state, &id) else {
        return device_not_found();
    };
    if let Err(m) = check_key(&key) {
        return bad_request(m);
    }
    if let Some(attrs) = state.attributes.by_node.get_mut(&node_id) {
        attrs.remove(&key);
    }
    write_reply(&state, &node_id)
}

fn write_reply(state: &TailnetState, node_id: &str) -> Response {
    match state.attributes.write_reply {
        WriteReply::EmptyObject => Json(json!({})).into_response(),
        WriteReply::Null => Json(Value::Null).into_response(),
        WriteReply::Empty => StatusCode::OK.into_response(),
        WriteReply::Attributes => {
            let device = state.devices.get(node_id).expect("device exists");
            Json(attributes_json(state, device)).into_response()
        }
    }
}
