//! The container files, checked without a Docker engine (there is none on
//! the CI machine): docker-compose.yml parses and wires the bot to
//! PostgreSQL with healthchecks, its bot healthcheck really works against
//! the real binary, the Dockerfile copies everything the build needs and
//! keeps its promises, and .env.example documents every variable.

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use support::bin::ExampleServe;

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn compose() -> Value {
    serde_norway::from_str(&read("docker-compose.yml")).expect("docker-compose.yml is YAML")
}

/// Dockerfile instructions as (INSTRUCTION, arguments), continuation lines
/// joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let text = read("Dockerfile").replace("\\\n", " ");
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (op, rest) = l.split_once(' ').unwrap_or((l, ""));
            (op.to_ascii_uppercase(), rest.trim().to_owned())
        })
        .collect()
}

fn instructions<'a>(file: &'a [(String, String)], op: &str) -> Vec<&'a str> {
    file.iter()
        .filter(|(o, _)| o == op)
        .map(|(_, a)| a.as_str())
        .collect()
}

/// The value of `ENV NAME=value` in the Dockerfile.
fn image_env(file: &[(String, String)], name: &str) -> Option<String> {
    instructions(file, "ENV").iter().find_map(|args| {
        args.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")).map(str::to_owned))
    })
}

#[test]
fn compose_runs_the_bot_against_a_healthy_postgres() {
    let c = compose();
    let bot = &c["services"]["accessbot"];
    let db = &c["services"]["postgres"];
    assert!(bot.is_object(), "an accessbot service");
    assert!(
        db["image"].as_str().unwrap().starts_with("postgres:16"),
        "PostgreSQL 16"
    );

    // Healthchecks on both, and the bot waits for a healthy database.
    for (name, service) in [("accessbot", bot), ("postgres", db)] {
        let test = service["healthcheck"]["test"].as_array();
        assert!(
            test.is_some_and(|t| t.len() > 1 && (t[0] == "CMD" || t[0] == "CMD-SHELL")),
            "{name} has a healthcheck"
        );
        assert!(
            service["restart"].is_string(),
            "{name} has a restart policy"
        );
    }
    assert_eq!(
        bot["depends_on"]["postgres"]["condition"], "service_healthy",
        "the bot starts once PostgreSQL is healthy"
    );
    let pg_check: Vec<&str> = db["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(pg_check.contains(&"pg_isready"), "{pg_check:?}");

    // PostgreSQL keeps its data in a named volume.
    assert!(c["volumes"]
        .as_object()
        .unwrap()
        .contains_key("postgres-data"));
    assert!(db["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "postgres-data:/var/lib/postgresql/data"));

    // Secrets from .env; the database URL names the postgres service with
    // the same user, database and password.
    let env_file = &bot["env_file"];
    assert!(
        env_file == ".env"
            || env_file
                .as_array()
                .is_some_and(|s| s.iter().any(|f| f == ".env"))
    );
    let url = bot["environment"]["DATABASE_URL"].as_str().unwrap();
    let db_env = &db["environment"];
    assert!(url.starts_with(&format!(
        "postgres://{}:",
        db_env["POSTGRES_USER"].as_str().unwrap()
    )));
    assert!(url.ends_with(&format!(
        "@postgres:5432/{}",
        db_env["POSTGRES_DB"].as_str().unwrap()
    )));
    let password = db_env["POSTGRES_PASSWORD"].as_str().unwrap();
    assert!(password.starts_with("${POSTGRES_PASSWORD"), "{password}");
    assert!(url.contains(password), "{url} uses {password}");
}

#[test]
fn compose_mounts_the_config_read_only_where_the_image_looks() {
    let c = compose();
    let bot = &c["services"]["accessbot"];
    let file = dockerfile();
    let config_path = image_env(&file, "ACCESSBOT_CONFIG").expect("the image names its config");
    let mount = bot["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["target"] == config_path.as_str())
        .unwrap_or_else(|| panic!("nothing mounted at {config_path}"));
    assert_eq!(mount["type"], "bind");
    assert_eq!(mount["read_only"], true);
    assert_eq!(
        mount["bind"]["create_host_path"], false,
        "a missing config file is an error, not an empty directory"
    );
    let source = mount["source"].as_str().unwrap();
    assert_eq!(source, "./config/accessbot.toml");
    assert!(
        read(".gitignore")
            .lines()
            .any(|l| l == "/config/accessbot.toml"),
        "the real config stays out of git"
    );
    // The published port is the one the image exposes.
    let exposed = instructions(&file, "EXPOSE");
    assert_eq!(exposed, ["8080"]);
    assert!(bot["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().is_some_and(|p| p.ends_with(":8080"))));
}

/// The bot's healthcheck as bash will run it inside the container.
fn bot_healthcheck_script() -> String {
    let c = compose();
    let test = c["services"]["accessbot"]["healthcheck"]["test"]
        .as_array()
        .unwrap()
        .clone();
    let argv: Vec<&str> = test.iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(
        argv[..3],
        ["CMD", "bash", "-c"],
        "runs with bash, no curl needed"
    );
    // Compose turns `$$` into `$` before the container sees it.
    argv[3].replace("$$", "$")
}

async fn run_healthcheck(script: &str, listen: &str) -> std::process::ExitStatus {
    tokio::process::Command::new("bash")
        .args(["-c", script])
        .env_clear()
        .env("ACCESSBOT_LISTEN", listen)
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .expect("bash runs")
}

#[tokio::test]
async fn the_bot_healthcheck_passes_when_ready_and_fails_when_down() {
    let script = bot_healthcheck_script();
    let local = ExampleServe::new();
    let server = local.start().await;
    // As in the image: listening on all interfaces, the port from the env.
    let listen = format!("0.0.0.0:{}", server.addr.port());
    let up = run_healthcheck(&script, &listen).await;
    assert!(up.success(), "healthy while serving: {up}");
    let out = server.terminate().await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let down = run_healthcheck(&script, &listen).await;
    assert!(!down.success(), "unhealthy once stopped");
}

#[test]
fn dockerfile_builds_locked_and_runs_unprivileged() {
    let file = dockerfile();
    let froms = instructions(&file, "FROM");
    assert!(froms.len() >= 2, "multi-stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build") || froms[0].ends_with(" as build"));
    let runs = instructions(&file, "RUN").join("\n");
    assert!(runs.contains("cargo build --locked --release"), "{runs}");
    assert!(runs.contains("ca-certificates"), "{runs}");
    let users = instructions(&file, "USER");
    let user = users.last().expect("a USER");
    let uid = user.split(':').next().unwrap();
    assert!(
        uid.parse::<u32>().is_ok_and(|u| u > 0),
        "runs as a numeric non-root user, not {user:?}"
    );
    assert_eq!(instructions(&file, "ENTRYPOINT"), [r#"["accessbot"]"#]);
    assert_eq!(instructions(&file, "CMD"), [r#"["serve"]"#]);
    assert_eq!(instructions(&file, "EXPOSE"), ["8080"]);
    // SQLite, the default database, lives on a volume the user can write.
    let volumes = instructions(&file, "VOLUME").join(" ");
    let db = image_env(&file, "DATABASE_URL").unwrap();
    let db_dir = db
        .strip_prefix("sqlite://")
        .unwrap()
        .rsplit_once('/')
        .unwrap()
        .0;
    assert!(
        volumes.contains(&format!("\"{db_dir}\"")),
        "{volumes} holds {db}"
    );
    assert!(
        runs.contains(&format!("chown accessbot:accessbot {db_dir}")),
        "{runs}"
    );
    assert_eq!(
        image_env(&file, "ACCESSBOT_LISTEN").unwrap(),
        "0.0.0.0:8080"
    );
}

/// Top-level paths the release build reads: the manifest and lock file,
/// every target Cargo.toml declares, and the migrations sqlx embeds.
fn build_inputs() -> BTreeSet<String> {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let mut paths: Vec<String> = vec!["Cargo.toml".into(), "Cargo.lock".into()];
    if let Some(lib) = manifest.get("lib") {
        paths.push(
            lib.get("path")
                .and_then(|p| p.as_str())
                .unwrap_or("src/lib.rs")
                .into(),
        );
    }
    for (kind, dir) in [
        ("bin", "src/bin"),
        ("bench", "benches"),
        ("test", "tests"),
        ("example", "examples"),
    ] {
        for target in manifest
            .get(kind)
            .and_then(|t| t.as_array())
            .into_iter()
            .flatten()
        {
            let path = match target.get("path").and_then(|p| p.as_str()) {
                Some(p) => p.to_owned(),
                None => format!("{dir}/{}.rs", target["name"].as_str().unwrap()),
            };
            paths.push(path);
        }
    }
    if let Some(build) = manifest["package"].get("build").and_then(|b| b.as_str()) {
        paths.push(build.into());
    }
    for file in ["src/store/sqlite.rs", "src/store/postgres.rs"] {
        let text = read(file);
        let (_, rest) = text
            .split_once("sqlx::migrate!(\"")
            .expect("embeds migrations");
        paths.push(
            rest.split('"')
                .next()
                .unwrap()
                .trim_start_matches("./")
                .into(),
        );
    }
    paths
        .iter()
        .map(|p| p.split('/').next().unwrap().to_owned())
        .collect()
}

#[test]
fn the_image_build_copies_everything_cargo_needs() {
    let file = dockerfile();
    let build_stage_end = file
        .iter()
        .skip(1)
        .position(|(op, _)| op == "FROM")
        .map(|i| i + 1)
        .unwrap_or(file.len());
    let copied: BTreeSet<String> = file[..build_stage_end]
        .iter()
        .filter(|(op, _)| op == "COPY")
        .flat_map(|(_, args)| {
            let words: Vec<&str> = args.split_whitespace().collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| w.trim_end_matches('/').to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let needed = build_inputs();
    assert!(
        needed.contains("benches"),
        "the declared bench is found: {needed:?}"
    );
    let missing: Vec<&String> = needed.difference(&copied).collect();
    assert!(
        missing.is_empty(),
        "the Dockerfile does not copy {missing:?}"
    );

    // And .dockerignore keeps none of them out, but keeps the rest out.
    let ignore = read(".dockerignore");
    let patterns: Vec<&str> = ignore
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for path in &needed {
        assert!(
            !patterns
                .iter()
                .any(|p| p == path || *p == "*" || *p == "**"),
            ".dockerignore drops {path}"
        );
    }
    for wanted in ["target", ".git", "**/*.db", ".env"] {
        assert!(patterns.contains(&wanted), ".dockerignore lacks {wanted}");
    }
}

/// Variable names (`FOO_BAR`) quoted in a source file.
fn quoted_env_names(text: &str) -> BTreeSet<String> {
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| {
            s.contains('_')
                && s.len() > 3
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn env_example_documents_every_variable_without_secrets() {
    let example = read(".env.example");
    let documented: BTreeSet<String> = example
        .lines()
        .map(|l| l.trim_start_matches('#'))
        .filter_map(|l| l.split_once('=').map(|(k, _)| k.trim().to_owned()))
        .filter(|k| !k.is_empty() && !k.contains(' '))
        .collect();
    // What the spec names, and what the code reads (so a new variable
    // cannot go undocumented).
    let mut wanted: BTreeSet<String> = [
        "ACCESSBOT_CONFIG",
        "ACCESSBOT_LISTEN",
        "ACCESSBOT_PUBLIC_URL",
        "DATABASE_URL",
        "ACCESSBOT_SLACK_API_URL",
        "SLACK_SIGNING_SECRET",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "ACCESSBOT_TAILSCALE_API_URL",
        "TAILSCALE_TAILNET",
        "TAILSCALE_API_KEY",
        "TAILSCALE_OAUTH_CLIENT_ID",
        "TAILSCALE_OAUTH_CLIENT_SECRET",
        "RUST_LOG",
        "ACCESSBOT_LOG_FORMAT",
        "POSTGRES_PASSWORD",
    ]
    .map(str::to_owned)
    .into();
    for file in [
        "src/config/validate/sections.rs",
        "src/main.rs",
        "src/telemetry.rs",
    ] {
        wanted.extend(quoted_env_names(&read(file)));
    }
    assert!(
        wanted.contains("TAILSCALE_OAUTH_CLIENT_ID"),
        "the scan finds names"
    );
    let undocumented: Vec<&String> = wanted.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        ".env.example lacks {undocumented:?}"
    );

    // Placeholders only: every secret is left empty.
    for line in example.lines().filter(|l| !l.starts_with('#')) {
        if let Some((key, value)) = line.split_once('=') {
            if ["SECRET", "TOKEN", "KEY", "PASSWORD"]
                .iter()
                .any(|s| key.contains(s))
            {
                assert!(value.is_empty(), "{key} has a value in .env.example");
            }
        }
    }
    // Every ${VAR} compose needs is there too.
    let compose_text = read("docker-compose.yml");
    for (at, _) in compose_text.match_indices("${") {
        if compose_text[..at].ends_with('$') {
            continue; // `$${…}` is a literal for the container's shell.
        }
        let name: String = compose_text[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        assert!(documented.contains(&name), "compose uses ${{{name}}}");
    }
}
