//! The alerts and the dashboard: every metric they name is one accessbot
//! exports after a whole flow (or one kube-state-metrics and Prometheus
//! provide), with labels it has; both files have the shape their tools load.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::promql::selectors;
use crate::support::app::*;
use crate::support::db::Backend;
use crate::{read, strings, yaml_file};

pub const ALERTS: &str = "deploy/prometheus/alerts.yaml";
pub const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yaml";
pub const DASHBOARD: &str = "deploy/grafana/accessbot.json";

/// Metrics from elsewhere: readiness comes from kube-state-metrics (the
/// pods' readiness probe is /readyz), scraping from Prometheus itself.
const EXTERNAL_METRICS: [&str; 3] = [
    "kube_deployment_status_replicas_available",
    "kube_pod_status_ready",
    "up",
];
/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: [&str; 4] = ["job", "instance", "namespace", "pod"];

/// `(expression, where)` of every alerting rule.
pub fn alert_exprs() -> Vec<(String, String)> {
    let alerts = yaml_file(ALERTS);
    alerts["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap())
        .map(|r| {
            (
                r["expr"].as_str().unwrap().to_owned(),
                format!("alert {}", r["alert"].as_str().unwrap()),
            )
        })
        .collect()
}

/// `(expression, where)` of every dashboard query, the panel id included.
pub fn dashboard_exprs() -> Vec<(String, String, u64)> {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).unwrap();
    dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| {
            p["targets"].as_array().into_iter().flatten().map(move |t| {
                (
                    t["expr"].as_str().unwrap().to_owned(),
                    format!("panel {:?}", p["title"].as_str().unwrap()),
                    p["id"].as_u64().unwrap(),
                )
            })
        })
        .collect()
}

/// Label names per metric family (histogram series under their family's
/// name), from Prometheus text.
fn exported(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut histograms = BTreeSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            families.entry(name.to_owned()).or_default();
            if kind == "histogram" {
                histograms.insert(name.to_owned());
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            let name_end = line.find(['{', ' ']).unwrap();
            let mut family = &line[..name_end];
            for suffix in ["_bucket", "_sum", "_count"] {
                if let Some(base) = family.strip_suffix(suffix) {
                    if histograms.contains(base) {
                        family = base;
                    }
                }
            }
            let labels = families.entry(family.to_owned()).or_default();
            if line[name_end..].starts_with('{') {
                let inner = &line[name_end + 1..line.rfind('}').unwrap()];
                for pair in inner.split("\",") {
                    labels.insert(pair.split('=').next().unwrap().to_owned());
                }
            }
        }
    }
    families
}

/// The family a series name belongs to: itself, or the histogram it is a
/// `_bucket`, `_sum` or `_count` of.
fn family_of<'a>(name: &'a str, families: &BTreeMap<String, BTreeSet<String>>) -> Option<&'a str> {
    if families.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .filter(|base| families.get(*base).is_some_and(|l| l.contains("le")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_in_alerts_and_dashboard_is_exported_after_a_whole_flow() {
    // The deployment's database; labelled series appear once observed.
    let app = spawn_app!(AppOptions::new(Backend::Postgres));
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    app.click(ALICE, ALICE, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
    app.settle().await;
    let families = exported(&app.metrics().await);
    assert!(
        families["accessbot_interaction_ack_seconds"].contains("kind"),
        "{families:?}"
    );

    let exprs = alert_exprs()
        .into_iter()
        .chain(dashboard_exprs().into_iter().map(|(e, w, _)| (e, w)));
    let mut problems = Vec::new();
    let mut checked = 0;
    for (expr, place) in exprs {
        let found = selectors(&expr);
        assert!(!found.is_empty(), "{place}: no metric in {expr}");
        for s in found {
            checked += 1;
            if EXTERNAL_METRICS.contains(&s.metric.as_str()) {
                continue;
            }
            let Some(family) = family_of(&s.metric, &families) else {
                problems.push(format!("{place}: {} is not exported", s.metric));
                continue;
            };
            for label in &s.labels {
                if !families[family].contains(label) && !TARGET_LABELS.contains(&label.as_str()) {
                    problems.push(format!("{place}: {} has no label {label}", s.metric));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked > 30, "only {checked} selectors found");
}

#[test]
fn alerts_cover_what_a_security_team_pages_on() {
    let alerts = yaml_file(ALERTS);
    let groups = alerts["groups"].as_array().unwrap();
    let mut names = BTreeSet::new();
    for group in groups {
        assert!(group["name"].is_string());
        for rule in group["rules"].as_array().unwrap() {
            let keys: BTreeSet<&str> = rule
                .as_object()
                .unwrap()
                .keys()
                .map(|k| k.as_str())
                .collect();
            let allowed = BTreeSet::from(["alert", "expr", "for", "labels", "annotations"]);
            assert!(keys.is_subset(&allowed), "{keys:?}");
            let name = rule["alert"].as_str().expect("an alerting rule");
            assert!(name.starts_with("Accessbot"), "{name}");
            assert!(names.insert(name.to_owned()), "{name} twice");
            assert!(rule["expr"].as_str().is_some_and(|e| !e.trim().is_empty()));
            if let Some(wait) = rule.get("for") {
                let wait = wait.as_str().unwrap();
                assert!(
                    humantime::parse_duration(wait).is_ok(),
                    "{name}: for {wait}"
                );
            }
            let severity = rule["labels"]["severity"].as_str().unwrap();
            assert!(["critical", "warning"].contains(&severity), "{name}");
            for key in ["summary", "description"] {
                assert!(
                    rule["annotations"][key]
                        .as_str()
                        .is_some_and(|s| s.len() > 10),
                    "{name} has a {key}"
                );
            }
        }
    }
    // The issue's list, each by the metric that tells it.
    let exprs: Vec<String> = alert_exprs().into_iter().map(|(e, _)| e).collect();
    let watched = |what: &str| exprs.iter().any(|e| e.contains(what));
    for what in [
        "accessbot_grants_total{result=\"failed\"}",
        "accessbot_revoke_failures_total",
        "accessbot_lingering_grants",
        "accessbot_dead_jobs",
        "accessbot_job_oldest_due_age_seconds",
        "accessbot_slack_api_duration_seconds_count{status!=\"ok\"}",
        "accessbot_tailscale_api_duration_seconds_count{status!=\"ok\"}",
        "time() - max without (instance, pod) (accessbot_reconcile_last_success_timestamp_seconds)",
        "kube_deployment_status_replicas_available",
        "kube_pod_status_ready",
    ] {
        assert!(watched(what), "no alert on {what}");
    }

    // Every alert has a promtool unit test in which it fires.
    let tests = yaml_file(ALERT_TESTS);
    assert_eq!(strings(&tests["rule_files"]), ["alerts.yaml"]);
    let tested: BTreeSet<String> = tests["tests"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["alert_rule_test"].as_array().unwrap())
        .filter(|case| case["exp_alerts"].as_array().is_some_and(|a| !a.is_empty()))
        .map(|case| case["alertname"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tested, names, "alerts without a firing test");
}

#[test]
fn the_dashboard_has_the_panels_the_issue_asks_for() {
    let d: Value = serde_json::from_str(&read(DASHBOARD)).unwrap();
    assert_eq!(d["uid"], "accessbot");
    assert!(d["title"].is_string() && d["schemaVersion"].as_u64() >= Some(36));
    let variables = d["templating"]["list"].as_array().unwrap();
    let datasource = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .unwrap();
    assert_eq!(datasource["query"], "prometheus");
    let ds_ref = format!("${{{}}}", datasource["name"].as_str().unwrap());

    let mut ids = BTreeSet::new();
    for p in d["panels"].as_array().unwrap() {
        let title = p["title"].as_str().unwrap();
        assert!(ids.insert(p["id"].as_u64().unwrap()), "{title}: id twice");
        let grid = &p["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24 && grid["h"].as_u64() > Some(0), "{title}");
        if p["type"] == "row" {
            continue;
        }
        assert!(["stat", "timeseries"].contains(&p["type"].as_str().unwrap()));
        assert_eq!(p["datasource"]["uid"], ds_ref.as_str(), "{title}");
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds");
    }

    let exprs: Vec<String> = dashboard_exprs().into_iter().map(|(e, ..)| e).collect();
    let shown = |what: &str| exprs.iter().any(|e| e.contains(what));
    for what in [
        "sum by (outcome) (increase(accessbot_requests_total",
        "sum by (decision) (increase(accessbot_decisions_total",
        "accessbot_active_grants",
        "accessbot_job_queue_depth",
        "accessbot_job_oldest_due_age_seconds",
        "sum by (le, method, status) (rate(accessbot_slack_api_duration_seconds_bucket",
        "sum by (le, operation, status) (rate(accessbot_tailscale_api_duration_seconds_bucket",
        "sum by (le, kind) (rate(accessbot_interaction_ack_seconds_bucket",
    ] {
        assert!(shown(what), "no panel shows {what}");
    }
    // Ack latency is drawn against Slack's 3 s.
    let ack = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["title"].as_str().unwrap().starts_with("Ack latency"))
        .unwrap();
    let steps = ack["fieldConfig"]["defaults"]["thresholds"]["steps"]
        .as_array()
        .unwrap();
    assert!(steps.iter().any(|s| s["value"] == 3), "{steps:?}");
    assert_eq!(ack["fieldConfig"]["defaults"]["unit"], "s");
}
