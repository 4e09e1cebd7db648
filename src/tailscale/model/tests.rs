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
        serde_json::from_str(r#"{"attributes":{"custom:prod":true,"node:os":"linux"}}"#).unwrap();
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
