//! Device directory lookups on a 10,000-device tailnet: what a Slack
//! options request does (owner lookup, then a typed 3-letter query).
//!
//! `cargo bench --bench device_lookup` prints per-lookup percentiles from a
//! plain measurement loop first, then criterion's estimates.

use std::hint::black_box;
use std::time::{Duration, Instant};

use accessbot::domain::NodeId;
use accessbot::tailscale::{Device, DeviceIndex};
use chrono::{TimeZone, Utc};
use criterion::Criterion;

const DEVICES: usize = 10_000;
const OWNERS: usize = 500;
const WORDS: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

fn tailnet() -> DeviceIndex {
    let base = Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap();
    let devices = (0..DEVICES)
        .map(|i| {
            let host = format!("{}-{i:05}", WORDS[i % WORDS.len()]);
            Device {
                node_id: NodeId::parse(&format!("n{i:05}CNTRL")).unwrap(),
                name: format!("{host}.tail1234.ts.net"),
                hostname: host,
                user: format!("User{}@Example.com", i % OWNERS),
                os: ["linux", "macOS", "windows", "iOS"][i % 4].into(),
                addresses: vec![
                    format!("100.64.{}.{}", i / 256, i % 256),
                    format!("fd7a:115c:a1e0::{i:x}"),
                ],
                tags: if i % 10 == 3 {
                    vec!["tag:server".into()]
                } else {
                    vec![]
                },
                last_seen: (i % 13 != 5).then(|| base - chrono::Duration::minutes(i as i64)),
                created: Some(base - chrono::Duration::days(90)),
                authorized: true,
            }
        })
        .collect();
    DeviceIndex::new(devices)
}

fn percentiles(name: &str, samples: usize, mut lookup: impl FnMut() -> usize) {
    let mut took: Vec<Duration> = (0..samples)
        .map(|_| {
            let started = Instant::now();
            black_box(lookup());
            started.elapsed()
        })
        .collect();
    took.sort();
    let at = |q: f64| took[((took.len() as f64 * q) as usize).min(took.len() - 1)];
    println!(
        "{name:<28} n={samples}  median {:>10.3?}  p99 {:>10.3?}  max {:>10.3?}",
        at(0.5),
        at(0.99),
        took[took.len() - 1]
    );
}

fn main() {
    let index = tailnet();
    println!(
        "device lookups on {} devices ({OWNERS} owners)",
        index.len()
    );
    let owner = "user7@example.com";
    assert_eq!(index.owned_by(owner).len(), 20);
    assert!(!index.search("lph").is_empty());
    percentiles("owned_by(email)", 20_000, || {
        index.owned_by(black_box(owner)).len()
    });
    percentiles("search(\"lph\")", 5_000, || {
        index.search(black_box("lph")).len()
    });
    percentiles("search(\"100.64.1.\")", 5_000, || {
        index.search(black_box("100.64.1.")).len()
    });
    percentiles("search(\"\") (all)", 2_000, || {
        index.search(black_box("")).len()
    });
    percentiles("DeviceIndex::new (build)", 20, || {
        DeviceIndex::new(index.devices().to_vec()).len()
    });

    let mut c = Criterion::default().configure_from_args();
    c.bench_function("owned_by/10k", |b| {
        b.iter(|| index.owned_by(black_box(owner)).len())
    });
    c.bench_function("search_3_letters/10k", |b| {
        b.iter(|| index.search(black_box("lph")).len())
    });
    c.final_summary();
}
