//! The generated Slack app manifest validates against Slack's published
//! manifest schema (slackapi/manifest-schema, kept in tests/data) and
//! Slack's rule that request URLs are HTTPS, and the checked-in
//! `config/slack-app-manifest.yaml` is what the example config generates.

use std::path::Path;
use std::process::Command;

use accessbot::config::Config;
use accessbot::manifest::{manifest, render_yaml};
use serde_json::Value;

const SCHEMA: &str = include_str!("data/slack-manifest.schema.1.0.0.json");
const EXAMPLE: &str = include_str!("../config/accessbot.example.toml");
const NO_ENV: [(&str, &str); 0] = [];

fn assert_valid(manifest: &Value) {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("Slack's schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(manifest)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "manifest does not validate: {errors:#?}");
    let plain_http = urls(manifest)
        .into_iter()
        .filter(|u| !u.starts_with("https://"))
        .collect::<Vec<_>>();
    assert!(
        plain_http.is_empty(),
        "Slack refuses request URLs that are not HTTPS: {plain_http:?}"
    );
}

/// Every URL in the manifest.
fn urls(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) if s.contains("://") => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(urls).collect(),
        Value::Object(o) => o.values().flat_map(urls).collect(),
        _ => Vec::new(),
    }
}

fn example(socket_mode: bool) -> Config {
    let text = EXAMPLE.replace(
        "socket_mode = false",
        &format!("socket_mode = {socket_mode}"),
    );
    Config::from_toml(&text, &NO_ENV).unwrap()
}

#[test]
fn http_mode_manifest_validates_against_slacks_schema() {
    let config = example(false);
    let m = manifest(&config, config.server.public_url.as_ref());
    assert_valid(&m);
    // And the YAML is the same document.
    let back: Value = serde_norway::from_str(&render_yaml(&m).unwrap()).unwrap();
    assert_valid(&back);
    assert_eq!(back, m);
}

#[test]
fn socket_mode_manifest_validates_against_slacks_schema() {
    let config = example(true);
    let m = manifest(&config, None);
    assert_valid(&m);
    assert_eq!(m["settings"]["socket_mode_enabled"], true);
    assert!(m["settings"]["interactivity"].get("request_url").is_none());
}

#[test]
fn a_broken_manifest_is_caught_by_the_schema() {
    // Guards the guard: the validator really rejects what Slack would.
    let config = example(false);
    let mut m = manifest(&config, config.server.public_url.as_ref());
    m["features"]["shortcuts"][0]["name"] = Value::from("A shortcut name that is far too long");
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    assert!(!jsonschema::is_valid(&schema, &m));
}

#[test]
fn checked_in_manifest_is_up_to_date() {
    let config = example(false);
    let expected = render_yaml(&manifest(&config, config.server.public_url.as_ref())).unwrap();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/slack-app-manifest.yaml");
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if std::env::var_os("UPDATE_MANIFEST").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    assert_eq!(
        actual, expected,
        "config/slack-app-manifest.yaml is stale: run `UPDATE_MANIFEST=1 cargo test --test manifest`"
    );
}

#[test]
fn cli_prints_the_manifest_for_a_url() {
    let out = Command::new(env!("CARGO_BIN_EXE_accessbot"))
        .args([
            "--config",
            "config/accessbot.example.toml",
            "manifest",
            "--url",
            "https://jit.example.net",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = String::from_utf8(out.stdout).unwrap();
    let m: Value = serde_norway::from_str(&yaml).unwrap();
    assert_valid(&m);
    assert_eq!(
        m["settings"]["interactivity"]["request_url"],
        "https://jit.example.net/slack/interactions"
    );
}

#[test]
fn cli_refuses_a_plain_http_url() {
    let run = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_accessbot"))
            .args([
                "--config",
                "config/accessbot.example.toml",
                "manifest",
                "--url",
                url,
            ])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap()
    };
    let out = run("http://jit.example.net");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--url") && stderr.contains("must be https://"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "no manifest for a URL Slack refuses");
    // On this machine, for development behind a tunnel, plain http is fine.
    let out = run("http://localhost:8080");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
