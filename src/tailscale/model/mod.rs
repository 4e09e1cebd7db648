//! Devices and posture attributes: the wire format Tailscale sends (read
//! tolerantly: fields go missing, `created` may be `""`, unknown fields come
//! and go) and the types the rest of accessbot uses.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize};

use crate::domain::{AttributeKey, AttributeValue, NodeId};

/// A device of the tailnet, as accessbot uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub node_id: NodeId,
    /// The MagicDNS name (`alice-laptop.tail1234.ts.net`), may be empty.
    pub name: String,
    /// The machine name.
    pub hostname: String,
    /// Who registered it; its owner unless it is tagged.
    pub user: String,
    pub os: String,
    /// Tailscale IPs, IPv4 first as Tailscale sends them.
    pub addresses: Vec<String>,
    /// Empty for a device owned by a person.
    pub tags: Vec<String>,
    /// `None` when Tailscale has never seen it (or does not say).
    pub last_seen: Option<DateTime<Utc>>,
    /// `None` for external (shared-in) devices, whose `created` is `""`.
    pub created: Option<DateTime<Utc>>,
    /// Whether the device was approved to join (true when Tailscale does not say).
    pub authorized: bool,
}

impl Device {
    /// A tagged device is owned by its tags, not by a person.
    pub fn is_tagged(&self) -> bool {
        !self.tags.is_empty()
    }
}

/// `GET /api/v2/device/{id}/attributes`: every posture attribute of a
/// device (`custom:*` and Tailscale's own `node:*`), and the expiries of
/// those that have one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceAttributes {
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub expiries: BTreeMap<String, DateTime<Utc>>,
}

impl DeviceAttributes {
    /// The raw JSON value of an attribute.
    pub fn get(&self, key: &AttributeKey) -> Option<&serde_json::Value> {
        self.attributes.get(key.as_str())
    }

    /// The value of a `custom:*` attribute, if it is present and valid.
    pub fn value(&self, key: &AttributeKey) -> Option<AttributeValue> {
        self.get(key)
            .and_then(|v| AttributeValue::from_json(v).ok())
    }

    /// When the attribute expires, if it does.
    pub fn expiry(&self, key: &AttributeKey) -> Option<DateTime<Utc>> {
        self.expiries.get(key.as_str()).copied()
    }

    /// The `custom:*` attributes only.
    pub fn custom(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.attributes
            .iter()
            .filter(|(k, _)| k.starts_with(crate::domain::attribute::CUSTOM_PREFIX))
            .map(|(k, v)| (k.as_str(), v))
    }
}

// ---- wire format ---------------------------------------------------------

/// `GET /api/v2/tailnet/{tailnet}/devices`. Each device is first only
/// delimited (its text borrowed from the body, never built into a JSON
/// tree: with 10,000 devices that tree is tens of MiB), so that one odd
/// entry cannot make the whole list unreadable.
#[derive(Debug, Deserialize)]
pub(crate) struct WireDeviceList<'a> {
    #[serde(borrow, default, deserialize_with = "null_as_default")]
    pub devices: Vec<&'a serde_json::value::RawValue>,
}

/// A device as Tailscale sends it; every field optional, unknown ones ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireDevice {
    #[serde(deserialize_with = "null_as_default")]
    node_id: String,
    /// The legacy numeric ID, also accepted wherever a device is named.
    #[serde(deserialize_with = "string_or_number")]
    id: String,
    #[serde(deserialize_with = "null_as_default")]
    name: String,
    #[serde(deserialize_with = "null_as_default")]
    hostname: String,
    #[serde(deserialize_with = "null_as_default")]
    user: String,
    #[serde(deserialize_with = "null_as_default")]
    os: String,
    #[serde(deserialize_with = "null_as_default")]
    addresses: Vec<String>,
    #[serde(deserialize_with = "null_as_default")]
    tags: Vec<String>,
    #[serde(deserialize_with = "lenient_time")]
    last_seen: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "lenient_time")]
    created: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "null_as_default")]
    authorized: Option<bool>,
    #[serde(deserialize_with = "null_as_default")]
    is_external: bool,
}

impl WireDevice {
    /// `None` when the device has no usable ID (neither `nodeId` nor `id`).
    pub(crate) fn into_device(self) -> Option<Device> {
        let node_id = NodeId::parse(&self.node_id)
            .or_else(|_| NodeId::parse(&self.id))
            .ok()?;
        Some(Device {
            node_id,
            name: self.name,
            hostname: self.hostname,
            user: self.user,
            os: self.os,
            addresses: self.addresses,
            tags: self.tags,
            last_seen: self.last_seen,
            created: self.created,
            authorized: self.authorized.unwrap_or(true),
        })
    }
}

/// A device shared into this tailnet from another (`isExternal`): only
/// its own tailnet can set its posture attributes, so accessbot leaves it
/// out.
pub(crate) fn is_shared_in(device: &serde_json::Value) -> bool {
    device.get("isExternal") == Some(&serde_json::Value::Bool(true))
}

/// What one entry of the device list is, read from its JSON text keeping
/// only the fields accessbot uses.
pub(crate) enum Listed {
    Usable(Device),
    /// Shared in from another tailnet ([`is_shared_in`]).
    SharedIn,
    /// No usable node ID, or not a device at all.
    Unusable,
}

pub(crate) fn device_from_raw(raw: &serde_json::value::RawValue) -> Listed {
    match serde_json::from_str::<WireDevice>(raw.get()) {
        Ok(w) if w.is_external => Listed::SharedIn,
        Ok(w) => w.into_device().map_or(Listed::Unusable, Listed::Usable),
        Err(_) => Listed::Unusable,
    }
}

/// Parse one device from its JSON, `None` if it is unusable.
#[cfg(test)]
pub(crate) fn device_from_json(v: serde_json::Value) -> Option<Device> {
    serde_json::from_value::<WireDevice>(v)
        .ok()
        .and_then(WireDevice::into_device)
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct WireAttributes {
    #[serde(deserialize_with = "null_as_default")]
    attributes: BTreeMap<String, serde_json::Value>,
    #[serde(deserialize_with = "null_as_default")]
    expiries: BTreeMap<String, serde_json::Value>,
}

impl From<WireAttributes> for DeviceAttributes {
    fn from(w: WireAttributes) -> Self {
        let expiries = w
            .expiries
            .into_iter()
            .filter_map(|(k, v)| Some((k, v.as_str().and_then(parse_time)?)))
            .collect();
        Self {
            attributes: w.attributes,
            expiries,
        }
    }
}

/// `POST /api/v2/device/{id}/attributes/{key}`.
#[derive(Debug, Serialize)]
pub(crate) struct SetAttributeBody<'a> {
    pub value: &'a AttributeValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry: Option<String>,
    pub comment: String,
}

/// The longest comment accessbot sends with an attribute change: 200
/// bytes of UTF-8. Tailscale's API reference names no limit for
/// `comment`; accessbot keeps to 200 and counts bytes, so that a limit
/// enforced in bytes can never refuse a non-ASCII reason (a refusal fails
/// the grant for good). The one definition of that rule, for every
/// comment accessbot writes.
pub const MAX_COMMENT_BYTES: usize = 200;

impl<'a> SetAttributeBody<'a> {
    pub(crate) fn new(
        value: &'a AttributeValue,
        expiry: Option<DateTime<Utc>>,
        comment: &str,
    ) -> Self {
        Self {
            value,
            expiry: expiry.map(rfc3339_utc),
            comment: truncate_bytes(comment, MAX_COMMENT_BYTES).to_owned(),
        }
    }
}

/// `2025-01-31T12:00:00Z`.
pub fn rfc3339_utc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The first `max` characters of `s`, cut on a char boundary.
pub fn truncate_chars(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// The longest start of `s` of at most `max` bytes that ends on a char
/// boundary (never half a character).
pub fn truncate_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let end = (0..=max)
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

/// `POST /api/v2/oauth/token`.
#[derive(Debug, Deserialize)]
pub(crate) struct WireToken {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// The scopes granted, space-separated.
    #[serde(default)]
    pub scope: Option<String>,
}

/// Tailscale's error body.
#[derive(Debug, Deserialize)]
pub(crate) struct WireError {
    pub message: String,
}

// ---- tolerant field readers ----------------------------------------------

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => s,
        serde_json::Value::Number(n) => n.to_string(),
        _ => String::new(),
    })
}

/// RFC 3339, or `None` for `""`, garbage, or Go's zero time (year 1).
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => parse_time(&s),
        _ => None,
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .filter(|t| t.year() > 1970)
}

#[cfg(test)]
mod tests;
