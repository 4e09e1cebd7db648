//! Load and memory of a built `accessbot` binary, measured from outside
//! the process against the test fakes (Slack and a tailnet of `--devices`
//! devices) on SQLite. `scripts/load.sh` builds the release binary and
//! runs this; see the README's performance section.
//!
//! It measures, in one run:
//! - resident memory (VmRSS) idle with the device list cached, and after
//!   30 full requests (shortcut, device options, submit, approve, grant);
//! - `/healthz` and a signed click on an already decided request (a
//!   replayed Approve), each flooded by `wrk` at 8 connections, in three
//!   alternating rounds (medians reported);
//! - first clicks on 50 different decided requests at once, and first
//!   approvals of 50 different pending requests at once.
//!
//! `cargo run --example load -- --binary target/release/accessbot
//!  [--devices 10000] [--memory-only] [--seconds 10]`.
//! Not a test: it prints numbers and asserts nothing about time.

// The test support, less `bin` (which only test and bench targets can
// build), as modules of this crate's root: they name each other `super::`.
#[allow(dead_code)]
#[path = "../../tests/support/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../../tests/support/db.rs"]
mod db;
#[allow(dead_code)]
#[path = "../../tests/support/fake_slack/mod.rs"]
mod fake_slack;
#[allow(dead_code)]
#[path = "../../tests/support/fake_socket.rs"]
mod fake_socket;
#[allow(dead_code)]
#[path = "../../tests/support/fake_tailscale/mod.rs"]
mod fake_tailscale;
#[allow(dead_code)]
#[path = "../../tests/support/payloads.rs"]
mod payloads;
mod service;
mod wrk;

use std::time::{Duration, Instant};

use service::Target;

struct Args {
    binary: String,
    devices: usize,
    memory_only: bool,
    seconds: u32,
}

fn args() -> Args {
    let mut a = Args {
        binary: "target/release/accessbot".into(),
        devices: 10_000,
        memory_only: false,
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--binary" => a.binary = it.next().expect("--binary PATH"),
            "--devices" => a.devices = it.next().and_then(|n| n.parse().ok()).expect("--devices N"),
            "--seconds" => a.seconds = it.next().and_then(|n| n.parse().ok()).expect("--seconds N"),
            "--memory-only" => a.memory_only = true,
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// All of `bodies` posted at once; the slowest answer's time (ms).
async fn at_once(t: &Target, bodies: Vec<String>) -> f64 {
    let posts = bodies.into_iter().map(|body| async move {
        let started = Instant::now();
        let (status, _) = t.post(body).await;
        assert_eq!(status, 200);
        started.elapsed()
    });
    let took = futures::future::join_all(posts).await;
    took.into_iter().max().unwrap().as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = args();
    let dir = tempfile::tempdir().unwrap();
    let (t, mut child) = service::start(&args.binary, args.devices, dir.path()).await;
    println!("accessbot {} with {} devices", args.binary, args.devices);

    // Idle, with the device list cached (an options request loads it).
    let first = t.full_request(true).await;
    t.wait_until_settled(&[first]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = t.rss_mib();
    let mut decided = vec![first];
    for _ in 1..30 {
        decided.push(t.full_request(true).await);
    }
    t.wait_until_settled(&decided).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!("rss_idle_mib {idle:.1}");
    println!("rss_after_30_requests_mib {:.1}", t.rss_mib());

    if !args.memory_only {
        // A replayed Approve on a decided request, signed once.
        let body = t.approve_click(decided[0]).await;
        let (ts, sig) = service::sign(&body);
        let script = dir.path().join("click.lua");
        std::fs::write(
            &script,
            format!(
                "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\nwrk.headers[\"X-Slack-Request-Timestamp\"] = \"{ts}\"\nwrk.headers[\"X-Slack-Signature\"] = \"{sig}\"\n"
            ),
        )
        .unwrap();
        let (ephemeral, updates) = (
            t.slack.count("chat.postEphemeral"),
            t.slack.count("chat.update"),
        );
        // Alternating rounds, medians: the generator shares the machine.
        let (mut health, mut click) = (Vec::new(), Vec::new());
        for _ in 0..wrk::ROUNDS {
            health.push(wrk::flood(
                &format!("{}/healthz", t.base),
                args.seconds,
                None,
            ));
            click.push(wrk::flood(
                &format!("{}/slack/interactions", t.base),
                args.seconds,
                Some(&script),
            ));
        }
        let (rps, p99) = wrk::medians(health);
        let (rps_click, p99_click) = wrk::medians(click);
        println!("healthz_rps {rps:.0}");
        println!("healthz_p99_ms {p99:.2}");
        println!("decided_click_rps {rps_click:.0}");
        println!("decided_click_p99_ms {p99_click:.2}");
        println!("decided_click_ratio {:.2}", rps_click / rps);
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!(
            "decided_click_ephemerals {}",
            t.slack.count("chat.postEphemeral") - ephemeral
        );
        println!(
            "decided_click_updates {}",
            t.slack.count("chat.update") - updates
        );

        // First clicks on 50 different decided requests, at once.
        let mut others = decided[1..].to_vec();
        for _ in others.len()..50 {
            others.push(t.full_request(true).await);
        }
        t.wait_until_settled(&others).await;
        let mut bodies = Vec::new();
        for id in &others {
            bodies.push(t.approve_click(*id).await);
        }
        println!(
            "first_decided_clicks_50_max_ms {:.2}",
            at_once(&t, bodies).await
        );

        // First approvals of 50 different pending requests, at once.
        let mut pending = Vec::new();
        for _ in 0..50 {
            pending.push(t.full_request(false).await);
        }
        let mut bodies = Vec::new();
        for id in &pending {
            bodies.push(t.approve_click(*id).await);
        }
        println!("first_approvals_50_max_ms {:.2}", at_once(&t, bodies).await);
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(t.tailnet);
}
