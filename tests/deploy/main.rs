//! deploy/: the Kubernetes manifests, the Prometheus alerts and the Grafana
//! dashboard, checked without a cluster, a Prometheus or a Grafana.
//!
//! - manifests: agree with the Dockerfile, the config and the router (user,
//!   port, config path, secrets, Ingress paths); pod: the pod's commands and
//!   probes work against the real binary on PostgreSQL;
//! - monitoring: every metric an alert or a panel names is in `/metrics`
//!   after a whole flow; alerts and dashboard have the expected shape;
//! - tools: the external validators, when installed (`.ci/run` installs
//!   them): Kubernetes schemas (`kubernetes-validate`), kustomize rendering
//!   (`kubectl kustomize`), `promtool check rules` and `promtool test rules`.

#[path = "../support/mod.rs"]
mod support;

mod manifests;
mod monitoring;
mod pod;
mod promql;
mod tools;

use std::path::{Path, PathBuf};

use serde_json::Value;

pub fn repo_path(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

pub fn read(path: &str) -> String {
    let full = repo_path(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// Every document of a YAML text (`---`-separated), as JSON values.
pub fn yaml_docs(text: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(text)
        .map(|doc| {
            let value: Value = serde::Deserialize::deserialize(doc).expect("valid YAML");
            value
        })
        .filter(|v| !v.is_null())
        .collect()
}

/// The one document of a YAML file.
pub fn yaml_file(path: &str) -> Value {
    let mut docs = yaml_docs(&read(path));
    assert_eq!(docs.len(), 1, "{path} holds one document");
    docs.remove(0)
}

/// The value of `ENV NAME=value` in the Dockerfile.
pub fn image_env(name: &str) -> String {
    let text = read("Dockerfile").replace("\\\n", " ");
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("ENV "))
        .flat_map(str::split_whitespace)
        .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("the Dockerfile sets no ENV {name}"))
        .to_owned()
}

/// The image's `USER uid:gid`, as numbers.
pub fn image_user() -> (u64, u64) {
    let text = read("Dockerfile");
    let user = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("USER "))
        .next_back()
        .expect("the Dockerfile sets a USER");
    let (uid, gid) = user.trim().split_once(':').expect("USER uid:gid");
    (uid.parse().unwrap(), gid.parse().unwrap())
}

/// Strings of a JSON array (empty when absent).
pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}
