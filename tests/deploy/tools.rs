//! The checks that need outside validators: the Kubernetes API schemas
//! (`kubernetes-validate`, PyPI, which ships them), kustomize's rendering
//! (`kubectl kustomize`) and Prometheus's own rule checker and rule unit
//! tests (`promtool`). `.ci/run` installs them and sets
//! `REQUIRE_DEPLOY_TOOLS=1`; without it a missing tool skips its test loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::manifests::{self, assert_restricted, container, kustomization, BASE, OVERLAYS};
use crate::monitoring::{dashboard_exprs, ALERTS, ALERT_TESTS};
use crate::{read, repo_path, strings, yaml_docs};

/// The oldest Kubernetes the manifests are checked against (besides the
/// newest the validator knows): the preStop `sleep` action needs 1.30.
const OLDEST_KUBERNETES: &str = "1.33";

fn required() -> bool {
    std::env::var("REQUIRE_DEPLOY_TOOLS").as_deref() == Ok("1")
}

/// `program args…`, if it runs and exits 0 (`--version` and the like);
/// otherwise the test fails under `REQUIRE_DEPLOY_TOOLS=1` or is skipped.
fn tool(program: &str, probe: &[&str], install: &str) -> Option<PathBuf> {
    let works = Command::new(program)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(PathBuf::from(program));
    }
    let why = format!("{program} is not available (install: {install})");
    if required() {
        panic!("REQUIRE_DEPLOY_TOOLS=1 but {why}");
    }
    eprintln!("\n*** SKIPPED deploy check: {why} ***\n");
    None
}

fn kubectl() -> Option<PathBuf> {
    tool(
        "kubectl",
        &["version", "--client"],
        "kubectl, which embeds kustomize",
    )
}

fn promtool() -> Option<PathBuf> {
    let program = std::env::var("PROMTOOL").unwrap_or_else(|_| "promtool".into());
    tool(&program, &["--version"], "see .ci/run")
}

fn kubernetes_validate() -> bool {
    tool(
        "python3",
        &["-m", "kubernetes_validate", "--version"],
        "python3 -m pip install kubernetes-validate",
    )
    .is_some()
}

fn run(program: &Path, args: &[&str], dir: &Path) -> Output {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed:\n{}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kubectl kustomize dir`, as YAML text.
fn render(kubectl: &Path, dir: &str) -> String {
    let out = run(kubectl, &["kustomize", dir], &repo_path(""));
    String::from_utf8(out.stdout).unwrap()
}

/// Validates `files` strictly (unknown fields are errors) against the
/// oldest and the newest Kubernetes; every resource must pass, none may be
/// of a kind without a schema.
fn validate(files: &[PathBuf], expected_resources: usize) {
    for version in [Some(OLDEST_KUBERNETES), None] {
        let mut cmd = Command::new("python3");
        cmd.args(["-m", "kubernetes_validate", "--strict"]);
        if let Some(v) = version {
            cmd.args(["-k", v]);
        }
        let out = cmd.args(files).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{version:?}:\n{text}");
        let passed = text
            .lines()
            .filter(|l| l.contains(" passed for resource "))
            .count();
        let other: Vec<&str> = text
            .lines()
            .filter(|l| !l.contains(" passed for resource "))
            .collect();
        assert!(other.is_empty(), "{version:?}: {other:#?}");
        assert_eq!(passed, expected_resources, "{version:?}:\n{text}");
    }
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let (Some(kubectl), true) = (kubectl(), kubernetes_validate()) else {
        return;
    };
    // Each file as written (patches are partial: checked once rendered)…
    let mut files = Vec::new();
    for dir in std::iter::once(BASE).chain(OVERLAYS) {
        for r in strings(&kustomization(dir)["resources"]) {
            let path = repo_path(&format!("{dir}/{r}"));
            if path.is_file() {
                files.push(path);
            }
        }
    }
    let documents: usize = files
        .iter()
        .map(|f| yaml_docs(&std::fs::read_to_string(f).unwrap()).len())
        .sum();
    validate(&files, documents);

    // …and what kustomize makes of the base and each overlay.
    let out = tempfile::tempdir().unwrap();
    for dir in std::iter::once(BASE).chain(OVERLAYS) {
        let rendered = render(&kubectl, dir);
        let file = out.path().join(format!("{}.yaml", dir.replace('/', "_")));
        std::fs::write(&file, &rendered).unwrap();
        validate(&[file], yaml_docs(&rendered).len());
    }
}

#[test]
fn rendered_overlays_are_complete_restricted_and_secret_free() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    for overlay in OVERLAYS {
        let docs = yaml_docs(&render(&kubectl, overlay));
        let k = kustomization(overlay);
        let namespace = k["namespace"].as_str().unwrap();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        let mut expected = vec![
            "Namespace",
            "ServiceAccount",
            "ConfigMap",
            "Service",
            "Deployment",
            "PodDisruptionBudget",
        ];
        if overlay.ends_with("example") {
            expected.push("Ingress");
        }
        assert_eq!(kinds, expected, "{overlay}: no Secret, nothing missing");
        for d in docs.iter().filter(|d| d["kind"] != "Namespace") {
            assert_eq!(
                d["metadata"]["namespace"], namespace,
                "{overlay}: {}",
                d["kind"]
            );
        }

        let by_kind = |kind: &str| docs.iter().find(|d| d["kind"] == kind).unwrap();
        let deployment = by_kind("Deployment");
        let pod = &deployment["spec"]["template"]["spec"];
        assert_restricted(pod);
        // The generated ConfigMap (its name hashed) is the one mounted, and
        // holds the overlay's file as written.
        let map = by_kind("ConfigMap");
        let volume = &pod["volumes"][0]["configMap"];
        assert_eq!(volume["name"], map["metadata"]["name"], "{overlay}");
        assert_eq!(
            map["data"]["accessbot.toml"].as_str().unwrap(),
            read(&format!("{overlay}/accessbot.toml"))
        );
        let image = &k["images"][0];
        let expected_image = format!(
            "{}:{}",
            image["newName"].as_str().unwrap(),
            image["newTag"].as_str().unwrap()
        );
        for c in manifests::containers(pod) {
            assert_eq!(c["image"], expected_image.as_str(), "{overlay}");
        }
        // What the other tests derive from base and patch is what kustomize makes.
        let mut rendered_env: Vec<Value> = container(pod, "accessbot")["env"]
            .as_array()
            .unwrap()
            .clone();
        let mut derived = manifests::overlay_env(overlay);
        let by_name = |v: &Value| v["name"].as_str().unwrap().to_owned();
        rendered_env.sort_by_key(by_name);
        derived.sort_by_key(by_name);
        assert_eq!(rendered_env, derived, "{overlay}");
    }
}

#[test]
fn alerts_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = repo_path(ALERTS).parent().unwrap().to_owned();
    let file = |p: &str| {
        Path::new(p)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    let checked = run(&promtool, &["check", "rules", &file(ALERTS)], &dir);
    let text = String::from_utf8_lossy(&checked.stdout);
    assert!(text.contains("SUCCESS"), "{text}");
    let tested = run(&promtool, &["test", "rules", &file(ALERT_TESTS)], &dir);
    let text = String::from_utf8_lossy(&tested.stdout);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn dashboard_queries_are_valid_promql() {
    let Some(promtool) = promtool() else {
        return;
    };
    // Each query as a recording rule, Grafana's variables filled in.
    let rules: Vec<Value> = dashboard_exprs()
        .into_iter()
        .enumerate()
        .map(|(i, (expr, _, panel))| {
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$job", ".+");
            assert!(!expr.contains('$'), "an unknown variable in {expr}");
            serde_json::json!({ "record": format!("dashboard:panel{panel}:query{i}"), "expr": expr })
        })
        .collect();
    let count = rules.len();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dashboard.rules.json");
    let groups = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    std::fs::write(&file, groups.to_string()).unwrap();
    let out = run(
        &promtool,
        &["check", "rules", file.to_str().unwrap()],
        dir.path(),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("SUCCESS: {count} rules found")),
        "{text}"
    );
}
