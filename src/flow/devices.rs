//! Devices as the request flow sees them: options for the form, and the
//! snapshot stored with a request.

use crate::domain::policy::{device_allowed, is_own_device, DeviceFacts};
use crate::domain::{DevicePolicy, DeviceSnapshot, NodeId, Profile};
use crate::tailscale::Device;

pub fn facts(d: &Device) -> DeviceFacts<'_> {
    DeviceFacts {
        owner: &d.user,
        tagged: !d.tags.is_empty(),
    }
}

/// The first label of the MagicDNS name ("alice-laptop" of "alice-laptop.tail1.ts.net").
pub fn short_name(d: &Device) -> &str {
    let name = if d.name.is_empty() {
        &d.hostname
    } else {
        &d.name
    };
    name.split('.').next().unwrap_or(name)
}

pub fn snapshot(d: &Device) -> DeviceSnapshot {
    DeviceSnapshot {
        node_id: d.node_id.clone(),
        name: short_name(d).to_owned(),
        owner: if d.tags.is_empty() {
            d.user.clone()
        } else {
            String::new()
        },
        tags: d.tags.clone(),
        os: d.os.clone(),
        addresses: d.addresses.clone(),
    }
}

/// The most devices the menu offers (Slack shows at most 100 options).
pub const MAX_OPTIONS: usize = 100;

/// Option groups for the device menu: the requester's own devices first
/// (already ranked), then whatever else the profile allows, matching `query`.
pub fn option_groups<'a>(
    profile: &Profile,
    email: Option<&str>,
    own: Vec<&'a Device>,
    matching: Vec<&'a Device>,
    query: &str,
) -> Vec<(&'static str, Vec<&'a Device>)> {
    let q = query.trim().to_ascii_lowercase();
    let own: Vec<&Device> = own.into_iter().filter(|d| matches_query(d, &q)).collect();
    let mut groups = Vec::new();
    let budget = MAX_OPTIONS;
    let own_taken: Vec<&Device> = own.into_iter().take(budget).collect();
    let left = budget - own_taken.len();
    if !own_taken.is_empty() {
        groups.push(("Your devices", own_taken));
    }
    if profile.devices != DevicePolicy::Own && left > 0 {
        let (tagged, others): (Vec<&Device>, Vec<&Device>) = matching
            .into_iter()
            .filter(|d| !is_own_device(facts(d), email) && device_allowed(profile, facts(d), email))
            .partition(|d| !d.tags.is_empty());
        let tagged: Vec<&Device> = tagged.into_iter().take(left).collect();
        let left = left - tagged.len();
        if !tagged.is_empty() {
            groups.push(("Tagged devices", tagged));
        }
        let others: Vec<&Device> = others.into_iter().take(left).collect();
        if !others.is_empty() {
            groups.push(("Other people's devices", others));
        }
    }
    groups
}

fn matches_query(d: &Device, q: &str) -> bool {
    q.is_empty()
        || d.name.to_ascii_lowercase().contains(q)
        || d.hostname.to_ascii_lowercase().contains(q)
        || d.addresses.iter().any(|a| a.starts_with(q))
        || d.node_id.as_str().to_ascii_lowercase().starts_with(q)
}

/// Parse a device option value coming back from Slack.
pub fn parse_node_id(raw: &str) -> Option<NodeId> {
    NodeId::parse(raw).ok()
}
