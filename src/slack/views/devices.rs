//! Devices as the request form shows them.

use serde_json::{json, Value};

use crate::domain::DeviceSnapshot;
use crate::slack::blocks::{fit, limits};

/// "alice-laptop · macOS · 100.64.0.1", cut to Slack's option limit.
pub fn label(s: &DeviceSnapshot) -> String {
    let mut parts = vec![s.name.clone()];
    if !s.os.is_empty() {
        parts.push(s.os.clone());
    }
    if let Some(ip) = s.addresses.first() {
        parts.push(ip.clone());
    }
    fit(&parts.join(" · "), limits::OPTION_TEXT)
}

/// The answer to the device menu's options request: labelled groups, or an
/// empty list.
pub fn options(groups: &[(&str, Vec<DeviceSnapshot>)]) -> Value {
    if groups.is_empty() {
        return json!({ "options": [] });
    }
    let option_groups: Vec<Value> = groups
        .iter()
        .map(|(label_text, devices)| {
            let options: Vec<Value> = devices
                .iter()
                .map(|d| json!({ "text": { "type": "plain_text", "text": label(d) }, "value": d.node_id.as_str() }))
                .collect();
            json!({ "label": { "type": "plain_text", "text": label_text }, "options": options })
        })
        .collect();
    json!({ "option_groups": option_groups })
}
