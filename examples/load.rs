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
#[path = "../tests/support/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../tests/support/db.rs"]
mod db;
#[allow(dead_code)]
#[path = "../tests/support/fake_slack/mod.rs"]
mod fake_slack;
#[allow(dead_code)]
#[path = "../tests/support/fake_socket.rs"]
mod fake_socket;
#[allow(dead_code)]
#[path = "../tests/support/fake_tailscale/mod.rs"]
mod fake_tailscale;
#[allow(dead_code)]
#[path = "../tests/support/payloads.rs"]
mod payloads;

use std::process::Stdio;
use std::time::{Duration, Instant};

use accessbot::domain::{RequestId, RequestStatus, SlackUserId};
use accessbot::edge::signature;
use accessbot::store::{DynStore, RequestFilter};
use app::{prod_request, ALICE, ALICE_LAPTOP, BOB, SIGNING_SECRET};
use fake_slack::{FakeSlack, FakeUser, OpenView, BOT_TOKEN};
use fake_tailscale::{FakeDevice, FakeTailnet};
use payloads::FormInput;
use serde_json::Value;

const PROFILES: &str = r#"
[[profiles]]
attribute = "custom:prodAccess"
description = "Production"
max_duration = "8h"
approvers = ["bob@example.com"]
"#;

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

/// The service under test, its fakes and a way to sign what Slack would send.
struct Target {
    base: String,
    pid: u32,
    http: reqwest::Client,
    slack: FakeSlack,
    tailnet: FakeTailnet,
    store: DynStore,
}

impl Target {
    async fn post(&self, body: String) -> (u16, Value) {
        let (ts, sig) = sign(&body);
        let resp = self
            .http
            .post(format!("{}/slack/interactions", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .expect("the service answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }

    async fn open_form(&self) -> OpenView {
        let trigger = self.slack.trigger_for(ALICE);
        let (status, _) = self
            .post(form(&payloads::shortcut(ALICE, "request_access", &trigger)))
            .await;
        assert_eq!(status, 200);
        let id = wait("the form opens", || {
            let opened = self.slack.calls_to("views.open");
            opened
                .iter()
                .any(|c| c["trigger_id"] == trigger.as_str())
                .then(|| self.slack.last_view_of(ALICE).map(|v| v.id))
                .flatten()
        })
        .await;
        wait("the approvers are shown", || {
            self.slack
                .view(&id)
                .filter(|v| v.view.to_string().contains("\"approver\""))
        })
        .await
    }

    /// Shortcut, device options, submit, approve; the request's ID.
    async fn full_request(&self, approve: bool) -> RequestId {
        let view = self.open_form().await;
        let state = payloads::form_state(
            &view.view,
            &FormInput {
                profile: Some("custom:prodAccess".into()),
                ..Default::default()
            },
        );
        let options = payloads::block_suggestion(
            ALICE,
            payloads::view_payload(&view, state),
            "device",
            "alice",
        );
        let (_, listed) = self.post(form(&options)).await;
        assert!(
            listed.to_string().contains(ALICE_LAPTOP),
            "options: {listed}"
        );
        let state = payloads::form_state(&view.view, &prod_request());
        let submission = payloads::view_submission(ALICE, payloads::view_payload(&view, state));
        let (_, answer) = self.post(form(&submission)).await;
        assert_eq!(answer["response_action"], "update", "{answer}");
        let id = self.latest_request().await;
        if approve {
            self.approve(id).await;
        }
        id
    }

    async fn latest_request(&self) -> RequestId {
        let filter = RequestFilter {
            requester: Some(SlackUserId::parse(ALICE).unwrap()),
            limit: Some(1),
            ..Default::default()
        };
        self.store.list_requests(&filter).await.unwrap()[0].id
    }

    /// The signed body of Bob's Approve click on request `id`.
    async fn approve_click(&self, id: RequestId) -> String {
        let key = id.to_string();
        let dm = wait("the approver's message", || {
            self.slack
                .messages_in(BOB)
                .into_iter()
                .find(|m| m.blocks.to_string().contains(&key))
        })
        .await;
        form(&payloads::message_button(
            BOB,
            &dm.channel,
            &dm.ts,
            "approve",
            &key,
            "t.1",
        ))
    }

    async fn approve(&self, id: RequestId) {
        let click = self.approve_click(id).await;
        assert_eq!(self.post(click).await.0, 200);
    }

    async fn wait_until_settled(&self, ids: &[RequestId]) {
        for id in ids {
            loop {
                let r = self.store.get_request(*id).await.unwrap().unwrap();
                if r.status == RequestStatus::Active {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

fn sign(body: &str) -> (String, String) {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = signature::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes());
    (ts, sig)
}

async fn wait<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = found() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn start(args: &Args, dir: &std::path::Path) -> (Target, std::process::Child) {
    let slack = FakeSlack::start().await;
    let tailnet = FakeTailnet::start().await;
    slack.add_user(FakeUser::new(ALICE, "alice@example.com", "Alice Archer"));
    slack.add_user(FakeUser::new(BOB, "bob@example.com", "Bob Baker"));
    tailnet.add_device(FakeDevice::owned(
        ALICE_LAPTOP,
        "alice-laptop",
        "alice@example.com",
    ));
    tailnet.add_devices((1..args.devices).map(|i| {
        FakeDevice::owned(
            &format!("nDev{i:06}"),
            &format!("host-{i:06}"),
            &format!("user{}@example.com", i % 2000),
        )
    }));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("accessbot.toml");
    let db = format!("sqlite://{}", dir.join("accessbot.db").display());
    // A short device cache TTL: the 30 requests see several background
    // refreshes of the device list, as hours of real use would.
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[tailscale]\ndevice_cache_ttl = \"2s\"\n{PROFILES}"
    );
    std::fs::write(&config, toml).unwrap();
    let child = std::process::Command::new(&args.binary)
        .arg("serve")
        .env("ACCESSBOT_CONFIG", &config)
        .env("DATABASE_URL", &db)
        .env("ACCESSBOT_SLACK_API_URL", slack.url())
        .env("ACCESSBOT_TAILSCALE_API_URL", tailnet.url())
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("TAILSCALE_API_KEY", tailnet.api_key())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    let store = accessbot::store::connect(&db, 2).await.unwrap();
    let pid = child.id();
    (
        Target {
            base,
            pid,
            http,
            slack,
            tailnet,
            store,
        },
        child,
    )
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the service never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `wrk` at 8 connections for `seconds`: requests per second and p99 (ms).
fn flood(url: &str, seconds: u32, script: Option<&std::path::Path>) -> (f64, f64) {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args(["-t2", "-c8", &format!("-d{seconds}s"), "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk output: {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| millis(v.trim()))
        .unwrap_or_else(|| panic!("wrk output: {text}"));
    if text.contains("Non-2xx") {
        println!(
            "  note: wrk saw non-2xx answers: {}",
            text.lines().find(|l| l.contains("Non-2xx")).unwrap()
        );
    }
    (rps, p99)
}

fn millis(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// Flood rounds per endpoint; the medians are reported.
const ROUNDS: usize = 3;

/// The median requests per second and the median p99 of `rounds`.
fn medians(rounds: Vec<(f64, f64)>) -> (f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        median(rounds.iter().map(|r| r.0).collect()),
        median(rounds.iter().map(|r| r.1).collect()),
    )
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
    let (t, mut child) = start(&args, dir.path()).await;
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
        let (ts, sig) = sign(&body);
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
        for _ in 0..ROUNDS {
            health.push(flood(&format!("{}/healthz", t.base), args.seconds, None));
            click.push(flood(
                &format!("{}/slack/interactions", t.base),
                args.seconds,
                Some(&script),
            ));
        }
        let (rps, p99) = medians(health);
        let (rps_click, p99_click) = medians(click);
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
