//! `accessbot audit` on a real history: the flow runs in the test harness
//! (fake Slack and tailnet, real database), the app stops, and the real
//! binary exports what the database holds as JSON, CSV and a table.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use accessbot::domain::AccessRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;

use support::app::*;
use support::bin::{self, Finished};
use support::db::{Backend, TestDb};
use support::payloads::FormInput;

/// A reason with everything that breaks naive CSV: a comma, quotes and a
/// line break.
const AWKWARD_REASON: &str = "rotate the \"prod\" keys, then\nverify INC-42";
/// A reason a spreadsheet would run as a formula.
const FORMULA_REASON: &str = "=HYPERLINK(\"http://evil.example\",\"click\")";

/// Three finished requests on one database, the app stopped.
struct History {
    db: Arc<TestDb>,
    config_dir: tempfile::TempDir,
    /// Created ten days ago, approved by bob, granted, expired.
    expired: AccessRequest,
    /// Denied by bob.
    denied: AccessRequest,
    /// Cancelled by alice.
    cancelled: AccessRequest,
    /// When the last two were created.
    start: DateTime<Utc>,
}

impl History {
    /// The app a history is built in: its clock starts ten days back.
    fn app(backend: Backend) -> AppOptions {
        AppOptions::new(backend).clock_behind(chrono::Duration::days(10))
    }

    /// Runs three requests to their end in `app`, then stops it.
    async fn build(app: TestApp) -> History {
        // The app's clock starts ten days back (see `History::app`).
        let start = app.clock.now() + chrono::Duration::days(10);

        let expired = app
            .request(
                ALICE,
                FormInput {
                    reason: Some(AWKWARD_REASON.into()),
                    ..prod_request()
                },
            )
            .await;
        app.click(BOB, BOB, "approve", expired.id).await;
        app.wait_for_status(expired.id, "active").await;
        app.clock.set(start);
        let expired = app.wait_for_status(expired.id, "expired").await;

        let denied = app
            .request(
                ALICE,
                FormInput {
                    device: Some(ALICE_PHONE.into()),
                    reason: Some("read the payment logs".into()),
                    ..prod_request()
                },
            )
            .await;
        app.click(BOB, BOB, "deny", denied.id).await;
        let denied = app.wait_for_status(denied.id, "denied").await;

        let cancelled = app
            .request(
                ALICE,
                FormInput {
                    device: Some(ALICE_PHONE.into()),
                    reason: Some(FORMULA_REASON.into()),
                    ..prod_request()
                },
            )
            .await;
        app.click(ALICE, ALICE, "cancel", cancelled.id).await;
        let cancelled = app.wait_for_status(cancelled.id, "cancelled").await;

        app.settle().await;
        let db = app.db.clone();
        app.stop().await;

        // The audit command reads only the database; one profile makes the
        // config valid.
        let config_dir = tempfile::tempdir().unwrap();
        std::fs::write(
            config_dir.path().join("accessbot.toml"),
            "[[profiles]]\nattribute = \"custom:prodAccess\"\nmax_duration = \"8h\"\n",
        )
        .unwrap();
        History {
            db,
            config_dir,
            expired,
            denied,
            cancelled,
            start,
        }
    }

    async fn audit(&self, args: &[&str]) -> Finished {
        audit_with(self.config_dir.path(), &self.db.url, args).await
    }

    /// `audit` with `args` must succeed; its stdout.
    async fn export(&self, args: &[&str]) -> String {
        let out = self.audit(args).await;
        assert_eq!(out.code, Some(0), "audit {args:?}:\n{}", out.all());
        out.stdout
    }

    async fn json(&self, args: &[&str]) -> Value {
        let args = [&["--format", "json"], args].concat();
        serde_json::from_str(&self.export(&args).await).expect("the export is JSON")
    }

    /// The IDs a JSON export with `args` lists, in order.
    async fn ids(&self, args: &[&str]) -> Vec<String> {
        self.json(args).await["requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }
}

async fn audit_with(config_dir: &Path, db_url: &str, args: &[&str]) -> Finished {
    let config = config_dir.join("accessbot.toml");
    let mut all = vec!["--config", config.to_str().unwrap(), "audit"];
    all.extend_from_slice(args);
    bin::run(
        &all,
        &[("DATABASE_URL", db_url), ("RUST_BACKTRACE", "1")],
        None,
    )
    .await
}

fn id(r: &AccessRequest) -> String {
    r.id.to_string()
}

/// The keys every exported request has, whatever its state.
const RECORD_KEYS: [&str; 21] = [
    "id",
    "status",
    "requester",
    "requester_email",
    "approver",
    "decided_by",
    "attribute",
    "value",
    "node_id",
    "device",
    "device_owner",
    "device_tags",
    "device_os",
    "device_addresses",
    "duration_seconds",
    "reason",
    "created_at",
    "decided_at",
    "expires_at",
    "failure_reason",
    "events",
];

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("{v} is not a time"))
        .parse()
        .unwrap_or_else(|e| panic!("{v} is not RFC 3339: {e}"))
}

async fn json_carries_the_whole_trail(backend: Backend) {
    let h = History::build(spawn_app!(History::app(backend))).await;
    let doc = h.json(&[]).await;
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["since"], Value::Null);
    assert_eq!(doc["statuses"], serde_json::json!([]));
    let requests = doc["requests"].as_array().unwrap();
    let ids: Vec<&str> = requests.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [id(&h.expired), id(&h.denied), id(&h.cancelled)],
        "oldest first"
    );
    let expected_keys: BTreeSet<String> = RECORD_KEYS.iter().map(|k| k.to_string()).collect();
    for r in requests {
        assert_eq!(keys(r), expected_keys, "the same keys for every request");
    }

    let done = &requests[0];
    assert_eq!(done["status"], "expired");
    assert_eq!(done["requester"], ALICE);
    assert_eq!(done["requester_email"], "alice@example.com");
    assert_eq!(done["approver"], BOB);
    assert_eq!(done["decided_by"], BOB);
    assert_eq!(done["attribute"], PROD);
    assert_eq!(done["value"], true);
    assert_eq!(done["node_id"], ALICE_LAPTOP);
    assert_eq!(done["device"], "alice-laptop");
    assert_eq!(done["duration_seconds"], 3600);
    assert_eq!(done["reason"], AWKWARD_REASON);
    assert_eq!(time(&done["created_at"]), h.expired.created_at);
    assert_eq!(time(&done["decided_at"]), h.expired.decided_at.unwrap());
    assert_eq!(time(&done["expires_at"]), h.expired.expires_at.unwrap());
    assert_eq!(done["failure_reason"], Value::Null);

    // Every event the database holds, in order, with actor and time.
    let stored =
        h.db.unmigrated_store(1)
            .await
            .audit_events(h.expired.id)
            .await
            .unwrap();
    let events = done["events"].as_array().unwrap();
    assert_eq!(events.len(), stored.len(), "{events:#?}");
    for (got, want) in events.iter().zip(&stored) {
        assert_eq!(time(&got["at"]), want.at);
        assert_eq!(got["actor"], want.actor.as_str());
        assert_eq!(got["action"], want.action.as_str());
        assert_eq!(got["detail"], want.detail);
    }
    let transitions: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["action"] != "notified")
        .map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(
        transitions,
        [
            ("created", ALICE),
            ("approved", BOB),
            ("attribute_set", "system"),
            ("active", "system"),
            ("expired", "system"),
        ]
    );
    let times: Vec<DateTime<Utc>> = events.iter().map(|e| time(&e["at"])).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");

    let denied = &requests[1];
    assert_eq!(denied["status"], "denied");
    assert_eq!(denied["decided_by"], BOB);
    assert_eq!(denied["expires_at"], Value::Null);
    let cancelled = &requests[2];
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["decided_by"], Value::Null);
    assert_eq!(
        cancelled["reason"], FORMULA_REASON,
        "JSON keeps the exact text"
    );
    let last = cancelled["events"]
        .as_array()
        .unwrap()
        .iter()
        .rfind(|e| e["action"] != "notified");
    assert_eq!(last.unwrap()["actor"], ALICE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_carries_the_whole_trail_on_sqlite() {
    json_carries_the_whole_trail(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_carries_the_whole_trail_on_postgres() {
    json_carries_the_whole_trail(Backend::Postgres).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_has_a_header_and_one_row_per_request() {
    let h = History::build(spawn_app!(History::app(Backend::Sqlite))).await;
    let text = h.export(&["--format", "csv"]).await;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let mut expected: Vec<&str> = RECORD_KEYS[..RECORD_KEYS.len() - 1].to_vec();
    expected.extend(["event_count", "trail"]);
    assert_eq!(header, expected, "the documented columns, in order");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3, "one row per request:\n{text}");
    let ids: Vec<&str> = rows.iter().map(|r| &r[col("id")]).collect();
    assert_eq!(ids, [id(&h.expired), id(&h.denied), id(&h.cancelled)]);

    let done = &rows[0];
    assert_eq!(&done[col("reason")], AWKWARD_REASON, "round-trips exactly");
    assert_eq!(&done[col("status")], "expired");
    assert_eq!(&done[col("approver")], BOB);
    assert_eq!(&done[col("decided_by")], BOB);
    assert_eq!(&done[col("value")], "true");
    assert_eq!(&done[col("device")], "alice-laptop");
    assert_eq!(
        time(&Value::from(&done[col("expires_at")])),
        h.expired.expires_at.unwrap()
    );
    let trail = &done[col("trail")];
    for step in [
        format!("{ALICE} created"),
        format!("{BOB} approved"),
        "system active".into(),
        "system expired".into(),
    ] {
        assert!(trail.contains(&step), "{step:?} missing from {trail:?}");
    }
    let events: usize = done[col("event_count")].parse().unwrap();
    assert_eq!(trail.split("; ").count(), events, "{trail}");

    assert_eq!(&rows[1][col("status")], "denied");
    assert!(rows[1][col("trail")].contains(&format!("{BOB} denied")));
    assert_eq!(&rows[2][col("status")], "cancelled");
    assert!(rows[2][col("trail")].contains(&format!("{ALICE} cancelled")));
    assert_eq!(
        rows[2][col("reason")],
        format!("'{FORMULA_REASON}"),
        "a formula is defused for spreadsheets"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_lists_each_request_on_one_line() {
    let h = History::build(spawn_app!(History::app(Backend::Sqlite))).await;
    // Table is the default format.
    let text = h.export(&[]).await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "header, three requests, count:\n{text}");
    assert!(lines[0].starts_with("CREATED") && lines[0].contains("TRAIL"));
    for (line, r, status) in [
        (lines[1], &h.expired, "expired"),
        (lines[2], &h.denied, "denied"),
        (lines[3], &h.cancelled, "cancelled"),
    ] {
        assert!(line.contains(&id(r)) && line.contains(status), "{line}");
    }
    assert!(lines[1].contains("custom:prodAccess=true") && lines[1].contains("alice-laptop"));
    assert!(
        lines[1].contains("rotate the \"prod\" keys, then\\nverify"),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].contains(&format!("{BOB} approved")),
        "{}",
        lines[1]
    );
    assert_eq!(lines[4], "3 request(s)");
    // The columns line up: each status starts where the header's does.
    let at = lines[0].find("STATUS").unwrap();
    for line in &lines[1..4] {
        let status = &line[at..];
        assert!(
            ["expired", "denied", "cancelled"]
                .iter()
                .any(|s| status.starts_with(s)),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_since_filter() {
    let h = History::build(spawn_app!(History::app(Backend::Sqlite))).await;
    assert_eq!(h.ids(&["--status", "denied"]).await, [id(&h.denied)]);
    assert_eq!(
        h.ids(&["--status", "cancelled,denied"]).await,
        [id(&h.denied), id(&h.cancelled)]
    );
    assert_eq!(
        h.ids(&["--status", "expired", "--status", "denied"]).await,
        [id(&h.expired), id(&h.denied)]
    );
    assert!(h.ids(&["--status", "active"]).await.is_empty());

    // The expired request is ten days old; the others are from today.
    assert_eq!(
        h.ids(&["--since", "2d"]).await,
        [id(&h.denied), id(&h.cancelled)]
    );
    assert_eq!(h.ids(&["--since", "30d"]).await.len(), 3);
    let five_days_before = (h.start - chrono::Duration::days(5)).to_rfc3339();
    assert_eq!(
        h.ids(&["--since", &five_days_before]).await,
        [id(&h.denied), id(&h.cancelled)]
    );
    let doc = h.json(&["--since", "2d", "--status", "denied"]).await;
    assert_eq!(doc["statuses"], serde_json::json!(["denied"]));
    assert!(doc["since"].is_string());
    assert_eq!(doc["requests"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_options_exit_2_with_a_clear_message_before_touching_the_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("accessbot.toml"),
        "[[profiles]]\nattribute = \"custom:prodAccess\"\nmax_duration = \"8h\"\n",
    )
    .unwrap();
    let db = dir.path().join("accessbot.db");
    let url = format!("sqlite://{}", db.display());
    for (args, names) in [
        (
            &["--format", "xml"][..],
            &["--format", "\"xml\"", "table, json or csv"][..],
        ),
        (
            &["--status", "denied,approve"],
            &["--status", "\"approve\"", "timed_out"],
        ),
        (
            &["--since", "7x"],
            &["--since", "\"7x\"", "7d", "2026-01-31"],
        ),
        (&["--since", "last week"], &["--since", "\"last week\""]),
    ] {
        let out = audit_with(dir.path(), &url, args).await;
        assert_eq!(out.code, Some(2), "{args:?}:\n{}", out.all());
        assert!(out.stdout.is_empty(), "{args:?} printed an export");
        for name in names {
            assert!(
                out.stderr.contains(name),
                "{args:?}: {name:?} missing from {}",
                out.stderr
            );
        }
        assert!(!out.all().contains("panicked"), "{}", out.all());
    }
    assert!(!db.exists(), "no database was created");

    // A database that is not there is an error, not an empty export.
    let out = audit_with(dir.path(), &url, &["--format", "json"]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("no database at"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(!db.exists(), "the export never creates a database");
}
