//! An immutable, searchable snapshot of the tailnet's devices. Everything a
//! lookup compares is lower-cased once when the index is built, and the
//! searchable text of all devices is laid out in two flat buffers scanned
//! with SIMD substring search, so lookups on tens of thousands of devices
//! stay well under a millisecond.

use std::cmp::Ordering;
use std::collections::HashMap;

use memchr::memmem;

use super::Device;
use crate::domain::NodeId;

pub struct DeviceIndex {
    devices: Vec<Device>,
    keys: Vec<SearchKeys>,
    /// Lower-cased owner e-mail → that person's untagged devices, ranked.
    by_owner: HashMap<String, Vec<usize>>,
    by_node: HashMap<NodeId, usize>,
    /// Every device, by short name (the order of search results within a rank).
    by_name: Vec<usize>,
    /// Short names and hostnames, matched anywhere.
    names: FlatText,
    /// MagicDNS names, node IDs and IPs, matched from their start.
    prefixes: FlatText,
}

/// One `\n`-separated record of fields per device, in `by_name` order.
#[derive(Default)]
struct FlatText {
    text: Vec<u8>,
    /// Where each record starts; record `k` belongs to `by_name[k]`.
    starts: Vec<usize>,
}

impl FlatText {
    fn push_record<'a>(&mut self, fields: impl IntoIterator<Item = &'a str>) {
        self.starts.push(self.text.len());
        for field in fields {
            self.text.push(b'\n');
            self.text.extend_from_slice(field.as_bytes());
        }
    }

    /// The record (position in `by_name`) holding byte `at`.
    fn record_at(&self, at: usize) -> usize {
        self.starts.partition_point(|&s| s <= at) - 1
    }
}

/// The lower-cased fields a query is compared with.
struct SearchKeys {
    /// First label of the MagicDNS name, or the hostname when there is none.
    short: String,
    name: String,
    hostname: String,
    node_id: String,
    addresses: Vec<String>,
}

impl SearchKeys {
    fn of(d: &Device) -> Self {
        let name = d.name.to_lowercase();
        let hostname = d.hostname.to_lowercase();
        let short = match name.split('.').next() {
            Some(s) if !s.is_empty() => s.to_owned(),
            _ => hostname.clone(),
        };
        Self {
            short,
            name,
            hostname,
            node_id: d.node_id.as_str().to_lowercase(),
            addresses: d.addresses.iter().map(|a| a.to_lowercase()).collect(),
        }
    }

    fn fields(&self) -> impl Iterator<Item = &str> {
        [
            self.short.as_str(),
            self.hostname.as_str(),
            self.name.as_str(),
            self.node_id.as_str(),
        ]
        .into_iter()
        .chain(self.addresses.iter().map(String::as_str))
    }

    /// For a device known to match `q`: 0 = a field is `q`, 1 = a field
    /// starts with it, 2 = it is inside the short name or hostname. (Only
    /// those match inside: every MagicDNS name ends in the same tailnet
    /// domain, which would match everything.)
    fn rank(&self, q: &str) -> usize {
        if self.fields().any(|f| f == q) {
            0
        } else if self.fields().any(|f| f.starts_with(q)) {
            1
        } else {
            2
        }
    }
}

/// Most recently seen first, never seen last; then by name for a stable order.
fn by_recency(a: (&Device, &SearchKeys), b: (&Device, &SearchKeys)) -> Ordering {
    match (a.0.last_seen, b.0.last_seen) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.1.short.cmp(&b.1.short))
    .then_with(|| a.0.node_id.cmp(&b.0.node_id))
}

impl DeviceIndex {
    pub fn new(devices: Vec<Device>) -> Self {
        let keys: Vec<SearchKeys> = devices.iter().map(SearchKeys::of).collect();
        let mut by_owner: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, d) in devices.iter().enumerate() {
            if !d.is_tagged() && !d.user.trim().is_empty() {
                by_owner
                    .entry(d.user.trim().to_lowercase())
                    .or_default()
                    .push(i);
            }
        }
        for owned in by_owner.values_mut() {
            owned.sort_by(|&a, &b| by_recency((&devices[a], &keys[a]), (&devices[b], &keys[b])));
        }
        let by_node = devices
            .iter()
            .enumerate()
            .map(|(i, d)| (d.node_id.clone(), i))
            .collect();
        let mut by_name: Vec<usize> = (0..devices.len()).collect();
        by_name.sort_by(|&a, &b| {
            keys[a]
                .short
                .cmp(&keys[b].short)
                .then_with(|| devices[a].node_id.cmp(&devices[b].node_id))
        });
        let mut names = FlatText::default();
        let mut prefixes = FlatText::default();
        for &i in &by_name {
            let k = &keys[i];
            let hostname = (k.hostname != k.short).then_some(k.hostname.as_str());
            names.push_record(std::iter::once(k.short.as_str()).chain(hostname));
            prefixes.push_record(
                [k.name.as_str(), k.node_id.as_str()]
                    .into_iter()
                    .chain(k.addresses.iter().map(String::as_str)),
            );
        }
        Self {
            devices,
            keys,
            by_owner,
            by_node,
            by_name,
            names,
            prefixes,
        }
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Every device, in the order Tailscale listed them.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn get(&self, node: &NodeId) -> Option<&Device> {
        self.by_node.get(node).map(|&i| &self.devices[i])
    }

    /// The untagged devices whose `user` is `email` (case-insensitive),
    /// most recently seen first, never seen last.
    pub fn owned_by(&self, email: &str) -> Vec<&Device> {
        let email = email.trim();
        if email.is_empty() {
            return Vec::new();
        }
        self.by_owner
            .get(&email.to_lowercase())
            .map(|owned| owned.iter().map(|&i| &self.devices[i]).collect())
            .unwrap_or_default()
    }

    /// Devices matching `query` case-insensitively: by short name or
    /// hostname (anywhere in it), MagicDNS name, Tailscale IP or node ID
    /// (from the start). Exact matches first, then prefixes, then the rest;
    /// by name within each. An empty query lists every device by name.
    pub fn search(&self, query: &str) -> Vec<&Device> {
        let q: String = query
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .flat_map(char::to_lowercase)
            .collect();
        if q.is_empty() {
            return self.by_name.iter().map(|&i| &self.devices[i]).collect();
        }
        // Mark the records that match: anywhere in a name, or at the start
        // of a field (a field starts right after its "\n").
        let mut matched = vec![false; self.by_name.len()];
        for at in memmem::find_iter(&self.names.text, q.as_bytes()) {
            matched[self.names.record_at(at)] = true;
        }
        let at_field_start = format!("\n{q}");
        for at in memmem::find_iter(&self.prefixes.text, at_field_start.as_bytes()) {
            matched[self.prefixes.record_at(at)] = true;
        }
        let mut ranked: [Vec<&Device>; 3] = Default::default();
        for (record, &i) in self.by_name.iter().enumerate() {
            if matched[record] {
                ranked[self.keys[i].rank(&q)].push(&self.devices[i]);
            }
        }
        let [mut exact, prefix, inside] = ranked;
        exact.extend(prefix);
        exact.extend(inside);
        exact
    }
}

impl std::fmt::Debug for DeviceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIndex")
            .field("devices", &self.devices.len())
            .field("owners", &self.by_owner.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, Utc};

    use super::*;

    fn device(id: &str, name: &str, user: &str, ip: &str) -> Device {
        Device {
            node_id: NodeId::parse(id).unwrap(),
            name: format!("{name}.tail1234.ts.net"),
            hostname: name.to_owned(),
            user: user.to_owned(),
            os: "linux".into(),
            addresses: vec![ip.to_owned(), "fd7a:115c:a1e0::1".into()],
            tags: vec![],
            last_seen: None,
            created: None,
            authorized: true,
        }
    }

    fn seen(mut d: Device, at: DateTime<Utc>) -> Device {
        d.last_seen = Some(at);
        d
    }

    fn names(devices: Vec<&Device>) -> Vec<&str> {
        devices.into_iter().map(|d| d.hostname.as_str()).collect()
    }

    #[test]
    fn owned_by_ranks_recent_first_never_seen_last_and_skips_tagged() {
        let now = Utc::now();
        let mut tagged = seen(
            device("n5", "alice-srv", "alice@example.com", "100.64.0.5"),
            now,
        );
        tagged.tags = vec!["tag:prod".into()];
        let idx = DeviceIndex::new(vec![
            device("n1", "alice-old", "alice@example.com", "100.64.0.1"),
            seen(
                device("n2", "alice-phone", "Alice@Example.com", "100.64.0.2"),
                now - Duration::days(3),
            ),
            seen(
                device("n3", "alice-laptop", "alice@example.com", "100.64.0.3"),
                now,
            ),
            seen(
                device("n4", "bob-laptop", "bob@example.com", "100.64.0.4"),
                now,
            ),
            tagged,
        ]);
        assert_eq!(
            names(idx.owned_by("ALICE@example.COM ")),
            ["alice-laptop", "alice-phone", "alice-old"]
        );
        assert_eq!(names(idx.owned_by("bob@example.com")), ["bob-laptop"]);
        assert!(idx.owned_by("carol@example.com").is_empty());
        assert!(idx.owned_by("").is_empty());
    }

    #[test]
    fn search_matches_names_ips_and_node_ids_best_first() {
        let idx = DeviceIndex::new(vec![
            device("nAAA1", "web-prod", "a@example.com", "100.64.1.1"),
            device("nBBB2", "prod", "a@example.com", "100.64.2.1"),
            device("nCCC3", "production-db", "a@example.com", "100.101.0.9"),
            device("nDDD4", "laptop", "a@example.com", "100.64.3.1"),
        ]);
        assert_eq!(
            names(idx.search("PROD")),
            ["prod", "production-db", "web-prod"]
        );
        assert_eq!(names(idx.search("100.64.")), ["laptop", "prod", "web-prod"]);
        assert_eq!(names(idx.search("100.101.0.9")), ["production-db"]);
        assert_eq!(names(idx.search("nccc")), ["production-db"]);
        assert_eq!(names(idx.search("laptop.tail1234")), ["laptop"]);
        // The shared tailnet domain does not match every device.
        assert!(idx.search("tail1234").is_empty());
        // Node IDs and IPs match from the start only.
        assert!(idx.search("CC3").is_empty());
        // A query cannot match across two fields of the flat text.
        assert!(idx.search("laptop\n100").is_empty());
        assert!(idx.search("db\nncc").is_empty());
        assert_eq!(idx.search("").len(), 4);
        assert_eq!(
            names(idx.search("  ")),
            ["laptop", "prod", "production-db", "web-prod"]
        );
        assert_eq!(
            idx.get(&NodeId::parse("nBBB2").unwrap()).unwrap().hostname,
            "prod"
        );
    }
}
