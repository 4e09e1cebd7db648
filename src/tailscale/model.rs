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
mod tests {
    use super::*;

    /// The device object from Tailscale's API documentation, in full.
    const DOCS_DEVICE: &str = r#"{
      "addresses": ["100.87.74.78", "fd7a:115c:a1e0:ac82:4843:ca90:697d:c36e"],
      "id": "393735751060",
      "nodeId": "n5SUKe8CNTRL",
      "user": "amelie@example.com",
      "name": "pangolin.tailfe8c.ts.net",
      "hostname": "pangolin",
      "clientVersion": "",
      "updateAvailable": false,
      "os": "linux",
      "created": "2022-12-01T05:23:30Z",
      "lastSeen": "2022-12-01T05:23:30Z",
      "keyExpiryDisabled": true,
      "expires": "2023-05-30T04:44:05Z",
      "authorized": true,
      "isExternal": true,
      "machineKey": "",
      "nodeKey": "nodekey:01234567890abcdef",
      "blocksIncomingConnections": false,
      "enabledRoutes": ["10.0.0.0/16", "192.168.1.0/24"],
      "advertisedRoutes": ["10.0.0.0/16", "192.168.1.0/24"],
      "clientConnectivity": {
        "endpoints": ["199.9.14.201:59128", "192.68.0.21:59128"],
        "mappingVariesByDestIP": false,
        "latency": {
          "Dallas": { "latencyMs": 60.463043 },
          "New York City": { "preferred": true, "latencyMs": 31.323811 }
        },
        "clientSupports": {
          "hairPinning": false, "ipv6": false, "pcp": false,
          "pmp": false, "udp": true, "upnp": false
        }
      },
      "tags": ["tag:golink"],
      "tailnetLockError": "",
      "tailnetLockKey": "",
      "postureIdentity": { "serialNumbers": ["CP74LFQJXM"] }
    }"#;

    fn parse(json: &str) -> Option<Device> {
        device_from_json(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn reads_the_documented_device_object() {
        let d = parse(DOCS_DEVICE).expect("device");
        assert_eq!(d.node_id.as_str(), "n5SUKe8CNTRL");
        assert_eq!(d.name, "pangolin.tailfe8c.ts.net");
        assert_eq!(d.hostname, "pangolin");
        assert_eq!(d.user, "amelie@example.com");
        assert_eq!(d.os, "linux");
        assert_eq!(d.addresses[0], "100.87.74.78");
        assert_eq!(d.tags, vec!["tag:golink".to_owned()]);
        assert!(d.is_tagged());
        assert_eq!(
            d.last_seen.map(rfc3339_utc).as_deref(),
            Some("2022-12-01T05:23:30Z")
        );
        assert!(d.created.is_some());
        assert!(d.authorized);
    }

    #[test]
    fn tells_shared_in_devices_apart() {
        let docs: serde_json::Value = serde_json::from_str(DOCS_DEVICE).unwrap();
        assert!(is_shared_in(&docs));
        assert!(!is_shared_in(&serde_json::json!({ "isExternal": false })));
        assert!(!is_shared_in(&serde_json::json!({ "nodeId": "nABC" })));
    }

    #[test]
    fn tolerates_empty_created_missing_fields_and_nulls() {
        let d = parse(
            r#"{"nodeId":"nABC","created":"","user":"bob@example.com","addresses":null,"future":{"x":1}}"#,
        )
        .expect("device");
        assert_eq!(d.created, None);
        assert_eq!(d.last_seen, None);
        assert!(d.tags.is_empty());
        assert!(d.addresses.is_empty());
        assert!(!d.is_tagged());
        assert!(d.authorized);
        let zero = parse(r#"{"nodeId":"nABC","lastSeen":"0001-01-01T00:00:00Z"}"#).unwrap();
        assert_eq!(zero.last_seen, None);
        let garbage = parse(r#"{"nodeId":"nABC","lastSeen":"yesterday","created":17}"#).unwrap();
        assert_eq!(garbage.last_seen, None);
    }

    #[test]
    fn falls_back_to_the_legacy_id_and_skips_devices_without_one() {
        assert_eq!(parse(r#"{"id": 12345}"#).unwrap().node_id.as_str(), "12345");
        assert_eq!(parse(r#"{"nodeId": "../etc"}"#), None);
        assert_eq!(parse(r#"{}"#), None);
        assert_eq!(device_from_json(serde_json::json!([1, 2])), None);
    }

    #[test]
    fn attributes_tolerate_missing_expiries() {
        let w: WireAttributes =
            serde_json::from_str(r#"{"attributes":{"custom:prod":true,"node:os":"linux"}}"#)
                .unwrap();
        let a = DeviceAttributes::from(w);
        let key = AttributeKey::parse("custom:prod").unwrap();
        assert_eq!(a.value(&key), Some(AttributeValue::Bool(true)));
        assert_eq!(a.expiry(&key), None);
        assert_eq!(a.custom().count(), 1);

        let w: WireAttributes = serde_json::from_str(
            r#"{"attributes":{"custom:prod":true},"expiries":{"custom:prod":"2030-01-01T00:00:00Z"}}"#,
        )
        .unwrap();
        let a = DeviceAttributes::from(w);
        assert_eq!(
            a.expiry(&key).map(rfc3339_utc).as_deref(),
            Some("2030-01-01T00:00:00Z")
        );
        let empty: WireAttributes = serde_json::from_str("{}").unwrap();
        assert!(DeviceAttributes::from(empty).attributes.is_empty());
    }

    #[test]
    fn set_body_truncates_comments_on_char_boundaries_and_omits_no_expiry() {
        let v = AttributeValue::Bool(true);
        // 2 bytes each: 100 of them fill the 200 bytes.
        let long = "é".repeat(250);
        let body = SetAttributeBody::new(&v, None, &long);
        assert_eq!(body.comment.len(), 200);
        assert_eq!(body.comment.chars().count(), 100);
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json.get("expiry"), None);
        assert_eq!(json["value"], serde_json::json!(true));

        let at = DateTime::parse_from_rfc3339("2030-01-02T03:04:05.678+02:00")
            .unwrap()
            .with_timezone(&Utc);
        let body = SetAttributeBody::new(&v, Some(at), "short");
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["expiry"], "2030-01-02T01:04:05Z");
        assert_eq!(json["comment"], "short");
        assert_eq!(truncate_chars("abc", 200), "abc");
        assert_eq!(truncate_chars("日本語", 2), "日本");
    }

    #[test]
    fn comments_are_cut_to_200_bytes_on_a_char_boundary() {
        // 3 bytes a character: 66 fit (198 bytes), the 67th would not.
        let japanese = "本番環境への緊急アクセスが必要です".repeat(10);
        let cut = truncate_bytes(&japanese, MAX_COMMENT_BYTES);
        assert_eq!((cut.len(), cut.chars().count()), (198, 66));
        assert!(japanese.starts_with(cut));
        // 4 bytes an emoji after one ASCII byte: 49 fit (197 bytes).
        let emoji = format!("!{}", "🔥".repeat(60));
        let cut = truncate_bytes(&emoji, MAX_COMMENT_BYTES);
        assert_eq!(cut.len(), 197);
        assert_eq!(truncate_bytes("short", MAX_COMMENT_BYTES), "short");
        assert_eq!(truncate_bytes("日本", 2), "");
    }
}
