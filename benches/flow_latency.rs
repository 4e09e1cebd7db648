//! End-to-end latency against the in-process fakes, on SQLite:
//! - a signed shortcut request → the `views.open` call reaching Slack
//!   (Slack's trigger is valid for 3 s);
//! - an approve click → the attribute POST reaching Tailscale.
//!
//! `cargo bench --bench flow_latency` prints the median, p90 and p99 of 100
//! runs of each. Not a test: nothing here asserts on time.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::app::{prod_request, AppOptions, ALICE, BOB};
use support::db::Backend;
use support::payloads;

const RUNS: usize = 100;

fn report(what: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    println!(
        "{what:<40} median {:>8.2?}  p90 {:>8.2?}  p99 {:>8.2?}  max {:>8.2?}  (n = {})",
        at(0.5),
        at(0.9),
        at(0.99),
        samples[samples.len() - 1],
        samples.len()
    );
}

async fn shortcut_to_views_open(app: &support::app::TestApp) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let trigger = app.slack.trigger_for(ALICE);
        let payload = payloads::shortcut(ALICE, "request_access", &trigger);
        let started = Instant::now();
        let resp = app.interact(&payload).await;
        assert_eq!(resp.status(), 200);
        let opened = loop {
            let call =
                app.slack.calls().into_iter().find(|c| {
                    c.method == "views.open" && c.params["trigger_id"] == trigger.as_str()
                });
            if let Some(c) = call {
                break c.at;
            }
            tokio::time::sleep(Duration::from_micros(100)).await;
        };
        samples.push(opened - started);
    }
    samples
}

async fn approve_to_attribute_post(app: &support::app::TestApp) -> Vec<Duration> {
    let mut pending = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let req = app.request(ALICE, prod_request()).await;
        let dm = app.message_with_button(BOB, "approve", req.id).await;
        pending.push((req.id, dm));
    }
    app.settle().await;
    let mut samples = Vec::with_capacity(RUNS);
    for (id, dm) in pending {
        // Each grant ends a second later than the one before, so the
        // device needs a write for each (one already carrying the expiry
        // would need none).
        app.advance(Duration::from_secs(1));
        let before = app.tailnet.count("POST", "/attributes/");
        let started = Instant::now();
        let resp = app.click_on(BOB, &dm, "approve", id).await;
        assert_eq!(resp.status(), 200);
        while app.tailnet.count("POST", "/attributes/") == before {
            tokio::time::sleep(Duration::from_micros(100)).await;
        }
        samples.push(started.elapsed());
        app.settle().await;
    }
    samples
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let app = AppOptions::new(Backend::Sqlite)
            .requests("pending_timeout = \"24h\"")
            .spawn()
            .await
            .unwrap();
        report(
            "signed shortcut → views.open",
            shortcut_to_views_open(&app).await,
        );
        report(
            "approve click → attribute POST",
            approve_to_attribute_post(&app).await,
        );
        app.stop().await;
    });
}
