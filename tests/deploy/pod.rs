//! The pod's commands, run as the pod runs them: the init container's
//! `migrate` (two at once, as two new pods would) and the container's
//! `serve` with the overlay's config and the Secret's variables, answering
//! the probes' paths.

use crate::manifests::{container, deployment, overlay_env, placeholder, secret_refs, OVERLAYS};
use crate::support::bin::{self, Server};
use crate::support::db::TestDb;
use crate::{repo_path, strings};

#[tokio::test]
async fn the_pod_commands_migrate_and_serve_on_postgres() {
    let d = deployment();
    let pod = &d["spec"]["template"]["spec"];
    let init = container(pod, "migrate");
    let main = container(pod, "accessbot");
    let probes: Vec<(String, String)> = ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .map(|p| {
            let get = &main[*p]["httpGet"];
            assert_eq!(get["port"], "http", "{p}");
            (p.to_string(), get["path"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(probes[1].1, "/healthz", "liveness: the process answers");
    assert_eq!(probes[2].1, "/readyz", "readiness: the database answers");
    let metrics_path = d["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"]
        .as_str()
        .unwrap()
        .to_owned();

    for overlay in OVERLAYS {
        let Some(db) = TestDb::postgres().await else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("accessbot.toml");
        std::fs::copy(repo_path(&format!("{overlay}/accessbot.toml")), &config).unwrap();
        let config = config.to_str().unwrap().to_owned();
        // As in the pod: the image's ACCESSBOT_CONFIG, the Secret's values.
        let image = [("ACCESSBOT_CONFIG", config.as_str())];
        let init_refs = secret_refs(init);
        let init_env: Vec<(&str, &str)> = init_refs
            .iter()
            .map(|(n, ..)| (n.as_str(), &*db.url))
            .chain(image)
            .collect();
        assert_eq!(init_env.len(), 2, "the migration needs only DATABASE_URL");
        // Two pods starting together both migrate: one waits for the other.
        let args = strings(&init["args"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (a, b) = tokio::join!(
            bin::run(&args, &init_env, Some(dir.path())),
            bin::run(&args, &init_env, Some(dir.path()))
        );
        for run in [a, b] {
            assert_eq!(run.code, Some(0), "{overlay}: {}", run.all());
        }

        let pod_env = serde_json::json!({ "env": overlay_env(overlay) });
        let secrets: Vec<(String, String)> = secret_refs(&pod_env)
            .into_iter()
            .map(|(n, ..)| {
                let value = match n.as_str() {
                    "DATABASE_URL" => db.url.clone(),
                    "SLACK_APP_TOKEN" => "xapp-placeholder-app-token".into(),
                    "SLACK_BOT_TOKEN" => bin::BOT_TOKEN.into(),
                    "TAILSCALE_API_KEY" => bin::TAILSCALE_API_KEY.into(),
                    other => placeholder(other),
                };
                (n, value)
            })
            .collect();
        // Slack and Tailscale are out of reach: nothing leaves this machine.
        let slack = format!("http://127.0.0.1:{}/api", bin::closed_port());
        let tailscale = format!("http://127.0.0.1:{}", bin::closed_port());
        let mut env: Vec<(&str, &str)> = secrets
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        env.extend(image);
        env.push(("ACCESSBOT_SLACK_API_URL", &slack));
        env.push(("ACCESSBOT_TAILSCALE_API_URL", &tailscale));
        let args = strings(&main["args"]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let server = Server::start(&args, &env).await;
        let http = reqwest::Client::new();
        for (probe, path) in &probes {
            let status = http.get(server.url(path)).send().await.unwrap().status();
            assert_eq!(status, 200, "{overlay}: {probe} {path}");
        }
        let metrics = http.get(server.url(&metrics_path)).send().await.unwrap();
        assert_eq!(metrics.status(), 200);
        assert!(metrics
            .text()
            .await
            .unwrap()
            .contains("accessbot_active_grants"));
        let out = server.terminate().await;
        assert_eq!(
            out.code,
            Some(0),
            "{overlay}: SIGTERM ends it cleanly: {}",
            out.all()
        );
        drop(db);
    }
}
