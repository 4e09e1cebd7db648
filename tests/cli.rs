//! The `accessbot` binary as an operator meets it: `check` on good and bad
//! configs, `serve` refusing to start without its secrets, and `serve` with
//! the example config answering, refusing unsigned Slack requests and
//! stopping cleanly on SIGTERM. Nothing leaves the machine: the Slack and
//! Tailscale API URLs point at closed local ports.

mod support;

use accessbot::edge::signature;
use serde_json::{json, Value};

use support::bin::{
    self, example_config, ExampleServe, Finished, Server, BOT_TOKEN, SIGNING_SECRET,
    TAILSCALE_API_KEY,
};

fn assert_no_panic(out: &Finished) {
    let all = out.all();
    for sign in ["panicked", "backtrace", "RUST_BACKTRACE", "stack backtrace"] {
        assert!(!all.contains(sign), "output mentions {sign:?}:\n{all}");
    }
}

#[tokio::test]
async fn check_names_each_of_three_mistakes_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("accessbot.toml");
    std::fs::write(
        &config,
        r#"
[[profiles]]
attribute = "prodAccess"
description = "Production"
max_duration = "90d"
devices = "all"
"#,
    )
    .unwrap();
    let config = config.to_str().unwrap();
    // A panic would print its backtrace with this set.
    let out = bin::run(
        &["--config", config, "check"],
        &[("RUST_BACKTRACE", "1")],
        None,
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_no_panic(&out);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "one line per mistake:\n{}", out.all());
    for (line, key, value) in [
        (lines[0], "profiles[0].attribute", "\"prodAccess\""),
        (lines[1], "profiles[0].max_duration", "\"90d\""),
        (lines[2], "profiles[0].devices", "\"all\""),
    ] {
        assert!(
            line.contains(key) && line.contains(value),
            "{line:?} should name {key} and {value}"
        );
    }
    assert!(lines[0].contains("custom:"), "says the rule: {}", lines[0]);
}

#[tokio::test]
async fn check_accepts_the_example_config_with_a_one_line_summary() {
    let config = example_config();
    let out = bin::run(
        &["--config", config.to_str().unwrap(), "check"],
        &[
            ("SLACK_SIGNING_SECRET", SIGNING_SECRET),
            ("SLACK_BOT_TOKEN", BOT_TOKEN),
            ("TAILSCALE_API_KEY", TAILSCALE_API_KEY),
        ],
        None,
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", out.all());
    assert!(lines[0].contains("is valid"), "{}", lines[0]);
    assert!(
        lines[0].contains("2 profile(s)")
            && lines[0].contains("custom:prodAccess")
            && lines[0].contains("custom:stagingAccess"),
        "summarises the profiles: {}",
        lines[0]
    );
    assert!(!out.all().contains(BOT_TOKEN), "never prints a secret");
}

#[tokio::test]
async fn serve_without_secrets_names_each_missing_variable_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accessbot.db");
    let db_url = format!("sqlite://{}", db.display());
    let config = example_config();
    let out = bin::run(
        &["--config", config.to_str().unwrap(), "serve"],
        &[("DATABASE_URL", &db_url), ("RUST_BACKTRACE", "1")],
        None,
    )
    .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_no_panic(&out);
    for var in [
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "TAILSCALE_API_KEY",
    ] {
        assert!(out.stderr.contains(var), "names {var}:\n{}", out.stderr);
    }
    assert!(!db.exists(), "refused before touching the database");
}

/// A Slack-signed POST to `/slack/events`.
async fn signed_event(server: &Server, body: &Value, secret: &str) -> reqwest::Response {
    let body = body.to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = signature::sign(secret.as_bytes(), &ts, body.as_bytes());
    reqwest::Client::new()
        .post(server.url("/slack/events"))
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn serve_with_the_example_config_answers_refuses_unsigned_and_stops_on_sigterm() {
    let local = ExampleServe::new();
    let server = local.start().await;
    let http = reqwest::Client::new();

    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200, "the database answers");

    let unsigned = http
        .post(server.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("payload=%7B%22type%22%3A%22shortcut%22%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);

    // The signing secret from the environment is the one in use: a request
    // signed with it passes, one signed with anything else does not.
    let verification = json!({ "type": "url_verification", "challenge": "c-123" });
    let forged = signed_event(&server, &verification, "some-other-secret").await;
    assert_eq!(forged.status(), 401);
    let genuine = signed_event(&server, &verification, SIGNING_SECRET).await;
    assert_eq!(genuine.status(), 200);
    assert_eq!(genuine.json::<Value>().await.unwrap()["challenge"], "c-123");

    let out = server.terminate().await;
    assert_eq!(out.code, Some(0), "clean exit on SIGTERM:\n{}", out.all());
    assert_no_panic(&out);
    for secret in [SIGNING_SECRET, BOT_TOKEN, TAILSCALE_API_KEY] {
        assert!(!out.all().contains(secret), "a secret was logged");
    }
}

/// A migration init container has the database URL and nothing else: no
/// profiles, no secrets, maybe a config file meant for `serve` only.
#[tokio::test]
async fn migrate_needs_only_the_database_url() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("init.db").display());
    let out = bin::run(
        &["migrate"],
        &[("DATABASE_URL", db.as_str())],
        Some(dir.path()),
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("is up to date"), "{}", out.all());

    // A config file whose other sections would not pass `check`.
    let config = dir.path().join("accessbot.toml");
    let file_db = format!("sqlite://{}", dir.path().join("file.db").display());
    std::fs::write(
        &config,
        format!("[server]\nlisten = \"nowhere\"\n[database]\nurl = \"{file_db}\"\n"),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = bin::run(&["--config", config, "migrate"], &[], None).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(dir.path().join("file.db").exists(), "{}", out.all());
}

#[tokio::test]
async fn migrate_never_shows_a_password_given_in_the_query() {
    let port = bin::closed_port();
    let url = format!(
        "postgres://accessbot@127.0.0.1:{port}/db?password=hunter2-secret&connect_timeout=2"
    );
    let out = bin::run(&["migrate"], &[("DATABASE_URL", url.as_str())], None).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.all().contains("password=***"), "{}", out.all());
    assert!(!out.all().contains("hunter2"), "{}", out.all());
}
