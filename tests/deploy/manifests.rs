//! The Kubernetes manifests agree with the image (user, port, config path),
//! the config (each overlay's accessbot.toml is valid for its mode) and the
//! router (Ingress paths); pod.rs runs the pod's commands.

use std::collections::{BTreeMap, BTreeSet};

use accessbot::config::{Config, Env};
use serde_json::Value;

use crate::{image_env, image_user, read, repo_path, strings, yaml_file};

pub const BASE: &str = "deploy/kubernetes/base";
pub const OVERLAYS: [&str; 2] = [
    "deploy/kubernetes/overlays/example",
    "deploy/kubernetes/overlays/socket-mode",
];
const SECRET: &str = "accessbot-secrets";
/// How long accessbot may take to stop after SIGTERM (requests in flight
/// and the job in progress finish).
const SHUTDOWN_DEADLINE_SECS: u64 = 25;
/// Resident memory measured with 10,000 devices cached.
const MEASURED_RSS_MIB: u64 = 80;

pub fn kustomization(dir: &str) -> Value {
    yaml_file(&format!("{dir}/kustomization.yaml"))
}

pub fn deployment() -> Value {
    yaml_file(&format!("{BASE}/deployment.yaml"))
}

/// The init containers, then the containers, of a pod spec.
pub fn containers(pod: &Value) -> Vec<&Value> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| pod[*k].as_array().into_iter().flatten())
        .collect()
}

pub fn container<'a>(pod: &'a Value, name: &str) -> &'a Value {
    containers(pod)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

/// The pod meets the "restricted" Pod Security Standard and keeps nothing
/// on its root filesystem.
pub fn assert_restricted(pod: &Value) {
    let sc = &pod["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    assert_eq!(sc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(pod["hostNetwork"].is_null() && pod["hostPID"].is_null());
    for volume in pod["volumes"].as_array().unwrap() {
        assert!(volume["hostPath"].is_null(), "{volume}");
    }
    for c in containers(pod) {
        let name = &c["name"];
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(strings(&sc["capabilities"]["drop"]), ["ALL"], "{name}");
        assert!(sc["capabilities"]["add"].is_null(), "{name}");
        assert!(sc["privileged"] != true, "{name}");
        assert!(
            c["resources"]["limits"]["memory"].is_string(),
            "{name} has a memory limit"
        );
    }
}

/// `96Mi` → 96.
fn mebibytes(quantity: &Value) -> u64 {
    let q = quantity.as_str().expect("a quantity");
    q.strip_suffix("Mi")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{q} is not in Mi"))
}

fn port_of(listen: &str) -> u64 {
    listen.rsplit_once(':').unwrap().1.parse().unwrap()
}

#[test]
fn the_pod_runs_as_the_image_user_on_its_port() {
    let d = deployment();
    let pod = &d["spec"]["template"]["spec"];
    let (uid, gid) = image_user();
    assert_eq!(pod["securityContext"]["runAsUser"], uid);
    assert_eq!(pod["securityContext"]["runAsGroup"], gid);

    let main = container(pod, "accessbot");
    let ports = main["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 1, "{ports:?}");
    assert_eq!(ports[0]["name"], "http");
    let port = port_of(&image_env("ACCESSBOT_LISTEN"));
    assert_eq!(
        ports[0]["containerPort"], port,
        "the image listens on {port}"
    );
    let annotations = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");

    let service = yaml_file(&format!("{BASE}/service.yaml"));
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(service_port["targetPort"], "http");
    assert_eq!(service_port["name"], "http");
}

#[test]
fn the_config_is_mounted_where_the_image_reads_it() {
    let config_path = image_env("ACCESSBOT_CONFIG");
    let (dir, file) = config_path.rsplit_once('/').unwrap();
    let d = deployment();
    let pod = &d["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .expect("a config volume");
    let map = &volume["configMap"];
    assert_eq!(map["items"][0]["key"], file);
    assert_eq!(map["items"][0]["path"], file);
    // Both the migration and the service read it.
    for c in containers(pod) {
        let mount = c["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "config")
            .unwrap_or_else(|| panic!("{} mounts the config", c["name"]));
        assert_eq!(mount["mountPath"], dir);
        assert_eq!(mount["readOnly"], true);
    }
    // Each overlay generates that ConfigMap from its own file.
    for overlay in OVERLAYS {
        let generators = kustomization(overlay)["configMapGenerator"].clone();
        let generator = &generators[0];
        assert_eq!(generator["name"], map["name"], "{overlay}");
        assert_eq!(strings(&generator["files"]), [file], "{overlay}");
        assert!(repo_path(&format!("{overlay}/{file}")).is_file());
    }
}

#[test]
fn the_pod_keeps_the_restricted_pod_security_standard() {
    let d = deployment();
    let pod = &d["spec"]["template"]["spec"];
    assert_restricted(pod);
    for overlay in OVERLAYS {
        let ns = yaml_file(&format!("{overlay}/namespace.yaml"));
        assert_eq!(
            ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"],
            "restricted"
        );
        assert_eq!(kustomization(overlay)["namespace"], ns["metadata"]["name"]);
    }
    let resources = &container(pod, "accessbot")["resources"];
    let request = mebibytes(&resources["requests"]["memory"]);
    let limit = mebibytes(&resources["limits"]["memory"]);
    assert!(
        request >= MEASURED_RSS_MIB && limit >= 2 * request,
        "requests {request}Mi, limit {limit}Mi for {MEASURED_RSS_MIB}MiB measured"
    );
}

#[test]
fn replicas_roll_and_stop_without_dropping_slack() {
    let d = deployment();
    let spec = &d["spec"];
    let pod = &spec["template"]["spec"];
    let replicas = spec["replicas"].as_u64().unwrap();
    assert_eq!(replicas, 2);
    assert_eq!(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0);
    let pdb = yaml_file(&format!("{BASE}/pdb.yaml"));
    let min_available = pdb["spec"]["minAvailable"].as_u64().unwrap();
    assert!(
        (1..replicas).contains(&min_available),
        "a drain can proceed"
    );

    // One selector for the pods, the Service and the budget.
    let labels = &spec["template"]["metadata"]["labels"];
    let selector = &spec["selector"]["matchLabels"];
    assert_eq!(selector, labels);
    let service = yaml_file(&format!("{BASE}/service.yaml"));
    assert_eq!(&service["spec"]["selector"], selector);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], selector);

    // SIGTERM comes after the preStop pause; then accessbot needs its deadline.
    let main = container(pod, "accessbot");
    let pause = main["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap();
    let grace = pod["terminationGracePeriodSeconds"].as_u64().unwrap();
    assert!(
        grace > pause + SHUTDOWN_DEADLINE_SECS,
        "{grace}s grace for a {pause}s pause and a {SHUTDOWN_DEADLINE_SECS}s shutdown"
    );
    // Service links would put ACCESSBOT_PORT, ACCESSBOT_SERVICE_HOST, … into
    // the environment accessbot reads its ACCESSBOT_* settings from.
    assert_eq!(pod["enableServiceLinks"], false);
}

/// `(env name, secret key, optional)` of every secret reference in `c`.
pub fn secret_refs(c: &Value) -> Vec<(String, String, bool)> {
    assert!(c["envFrom"].is_null(), "secrets are named one by one");
    c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let r = &e["valueFrom"]["secretKeyRef"];
            r.is_object().then(|| {
                assert_eq!(r["name"], SECRET, "{e}");
                (
                    e["name"].as_str().unwrap().to_owned(),
                    r["key"].as_str().unwrap().to_owned(),
                    r["optional"] == true,
                )
            })
        })
        .collect()
}

/// Variable names (`FOO_BAR`) quoted in a source file.
fn quoted_env_names(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.len() > 3 && s.contains('_'))
        .filter(|s| {
            s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

fn is_secret_name(name: &str) -> bool {
    name == "DATABASE_URL" || ["SECRET", "TOKEN", "KEY"].iter().any(|s| name.contains(s))
}

#[test]
fn secrets_come_by_reference_under_the_names_accessbot_reads() {
    let d = deployment();
    let pod = &d["spec"]["template"]["spec"];
    let read_by_accessbot = quoted_env_names(&read("src/config/validate/sections.rs"));
    assert!(
        read_by_accessbot.contains("SLACK_BOT_TOKEN"),
        "the scan works"
    );
    let mut referenced = BTreeSet::new();
    for c in containers(pod) {
        for e in c["env"].as_array().into_iter().flatten() {
            let name = e["name"].as_str().unwrap();
            assert!(
                !(is_secret_name(name) && e.get("value").is_some()),
                "{name} is written into the manifest"
            );
        }
        for (name, key, _) in secret_refs(c) {
            assert_eq!(name, key, "the Secret's key is the variable's name");
            assert!(
                read_by_accessbot.contains(&name),
                "accessbot reads no {name}"
            );
            referenced.insert(name);
        }
    }
    let secret_like: BTreeSet<String> = read_by_accessbot
        .into_iter()
        .filter(|n| is_secret_name(n) || n.starts_with("TAILSCALE_OAUTH"))
        .collect();
    let unreferenced: Vec<_> = secret_like.difference(&referenced).collect();
    assert!(
        unreferenced.is_empty(),
        "secrets the pod cannot get: {unreferenced:?}"
    );
    // The example env file lists exactly the keys the pod reads.
    let example = read("deploy/kubernetes/overlays/example/secrets.env.example");
    let listed: BTreeSet<String> = example
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (key, value) = l.split_once('=').unwrap();
            assert!(value.is_empty(), "{key} has a value in the example");
            key.to_owned()
        })
        .collect();
    assert_eq!(listed, referenced);
}

/// The accessbot container's env in `overlay`: the base's, with the env
/// entries of the overlay's Deployment patches merged in by name (as
/// kustomize's strategic merge does).
pub fn overlay_env(overlay: &str) -> Vec<Value> {
    let d = deployment();
    let mut env = container(&d["spec"]["template"]["spec"], "accessbot")["env"]
        .as_array()
        .unwrap()
        .clone();
    for patch in kustomization(overlay)["patches"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let patch = yaml_file(&format!("{overlay}/{}", patch["path"].as_str().unwrap()));
        assert_eq!(patch["kind"], "Deployment");
        let patched = container(&patch["spec"]["template"]["spec"], "accessbot");
        for entry in patched["env"].as_array().unwrap() {
            match env.iter_mut().find(|e| e["name"] == entry["name"]) {
                Some(e) => *e = entry.clone(),
                None => env.push(entry.clone()),
            }
        }
    }
    env
}

struct MapEnv(BTreeMap<String, String>);

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

pub fn placeholder(name: &str) -> String {
    match name {
        "DATABASE_URL" => "postgres://accessbot:pw@db.example.com:5432/accessbot".into(),
        other => format!("placeholder-{}", other.to_lowercase()),
    }
}

/// The Ingress of an overlay, if it has one.
fn ingress(overlay: &str) -> Option<Value> {
    let resources = strings(&kustomization(overlay)["resources"]);
    resources
        .iter()
        .filter(|r| r.ends_with(".yaml"))
        .map(|r| yaml_file(&format!("{overlay}/{r}")))
        .find(|r| r["kind"] == "Ingress")
}

#[test]
fn each_overlay_config_is_valid_for_its_mode() {
    let container_port = port_of(&image_env("ACCESSBOT_LISTEN"));
    for overlay in OVERLAYS {
        let toml = read(&format!("{overlay}/accessbot.toml"));
        let refs = secret_refs(&serde_json::json!({ "env": overlay_env(overlay) }));
        // Every secret given: the config is valid and complete.
        let all = MapEnv(
            refs.iter()
                .map(|(n, ..)| (n.clone(), placeholder(n)))
                .collect(),
        );
        let config = Config::from_toml(&toml, &all)
            .unwrap_or_else(|e| panic!("{overlay}: {:?}", e.problems()));
        assert_eq!(u64::from(config.server.listen.port()), container_port);
        assert!(
            secrecy::ExposeSecret::expose_secret(&config.database.url).starts_with("postgres://")
        );
        // Only what a pod cannot start without, plus one Tailscale
        // credential: still nothing missing.
        let mut required: BTreeMap<String, String> = refs
            .iter()
            .filter(|(_, _, optional)| !optional)
            .map(|(n, ..)| (n.clone(), placeholder(n)))
            .collect();
        required.insert("TAILSCALE_API_KEY".into(), placeholder("TAILSCALE_API_KEY"));
        let config = Config::from_toml(&toml, &MapEnv(required)).unwrap();
        assert_eq!(config.missing_secrets(), Vec::<String>::new(), "{overlay}");

        // HTTP mode has an Ingress at its public URL; Socket Mode has none.
        match ingress(overlay) {
            Some(ingress) => {
                assert!(!config.slack.socket_mode, "{overlay}");
                let host = ingress["spec"]["rules"][0]["host"].as_str().unwrap();
                assert_eq!(
                    config.server.public_url.as_ref().map(|u| u.to_string()),
                    Some(format!("https://{host}/")),
                    "{overlay}"
                );
                assert_eq!(strings(&ingress["spec"]["tls"][0]["hosts"]), [host]);
            }
            None => assert!(config.slack.socket_mode, "{overlay} has no Ingress"),
        }
    }
}

/// The `/slack/…` routes of the router.
fn slack_routes() -> BTreeSet<String> {
    read("src/edge/router.rs")
        .split(".route(\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .filter(|path| path.starts_with("/slack/"))
        .collect()
}

#[test]
fn the_ingress_exposes_exactly_the_slack_routes() {
    let routes = slack_routes();
    assert_eq!(routes.len(), 4, "{routes:?}");
    let service = yaml_file(&format!("{BASE}/service.yaml"));
    let ingress = ingress(OVERLAYS[0]).expect("the example overlay has an Ingress");
    let rules = ingress["spec"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1);
    let paths = rules[0]["http"]["paths"].as_array().unwrap();
    let mut exposed = BTreeSet::new();
    for p in paths {
        assert_eq!(p["pathType"], "Exact", "{p}");
        let backend = &p["backend"]["service"];
        assert_eq!(backend["name"], service["metadata"]["name"]);
        assert_eq!(backend["port"]["name"], service["spec"]["ports"][0]["name"]);
        exposed.insert(p["path"].as_str().unwrap().to_owned());
    }
    assert_eq!(exposed, routes, "no /healthz, /readyz or /metrics");
}

#[test]
fn kustomizations_name_files_that_exist() {
    let base = kustomization(BASE);
    for r in strings(&base["resources"]) {
        assert!(repo_path(&format!("{BASE}/{r}")).is_file(), "{r}");
    }
    let image = container(&deployment()["spec"]["template"]["spec"], "accessbot")["image"].clone();
    for overlay in OVERLAYS {
        let k = kustomization(overlay);
        for r in strings(&k["resources"]) {
            let path = repo_path(&format!("{overlay}/{r}"));
            assert!(
                path.is_file() || path.join("kustomization.yaml").is_file(),
                "{overlay}: {r}"
            );
        }
        assert!(strings(&k["resources"]).contains(&"../../base".to_owned()));
        for p in k["patches"].as_array().into_iter().flatten() {
            let path = p["path"].as_str().unwrap();
            assert!(repo_path(&format!("{overlay}/{path}")).is_file(), "{path}");
        }
        assert_eq!(k["images"][0]["name"], image, "{overlay} sets the image");
    }
}
