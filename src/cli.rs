//! The subcommands behind `accessbot …`; `main.rs` only parses and dispatches.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::clock::SystemClock;
use crate::config::{self, redact_url, Config, ProcessEnv};
use crate::startup::{shutdown_signal, Application};

fn load(path: Option<&Path>) -> Result<Config, ExitCode> {
    let path = config::resolve_path(path);
    Config::load(path.as_deref(), &ProcessEnv).map_err(|e| {
        eprintln!("accessbot: the configuration is not valid:");
        for p in e.problems() {
            eprintln!("  ✗ {p}");
        }
        ExitCode::from(1)
    })
}

/// `accessbot serve`
pub async fn serve(path: Option<&Path>) -> ExitCode {
    crate::telemetry::init();
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let missing = config.missing_secrets();
    if !missing.is_empty() {
        eprintln!("accessbot: cannot start, secrets are missing:");
        for m in missing {
            eprintln!("  ✗ {m}");
        }
        return ExitCode::from(1);
    }
    let app = match Application::build(config, Arc::new(SystemClock)).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("accessbot: {e:#}");
            return ExitCode::from(1);
        }
    };
    match app.run_until(shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("accessbot: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `accessbot migrate`
pub async fn migrate(path: Option<&Path>) -> ExitCode {
    crate::telemetry::init();
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let url = config.database.url.expose_secret();
    let result = async {
        let store = crate::store::connect(url, 1).await?;
        store.migrate().await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            println!("database {} is up to date", redact_url(url));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accessbot: migrating {} failed: {e:#}", redact_url(url));
            ExitCode::from(1)
        }
    }
}

/// `accessbot check` (offline)
pub fn check(path: Option<&Path>) -> ExitCode {
    let resolved = config::resolve_path(path);
    let config = match Config::load(resolved.as_deref(), &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems() {
                println!("✗ {p}");
            }
            return ExitCode::from(1);
        }
    };
    let missing = config.missing_secrets();
    for m in &missing {
        println!("✗ {m}");
    }
    if !missing.is_empty() {
        return ExitCode::from(1);
    }
    println!("✓ {}", config_summary(&config, resolved.as_deref()));
    ExitCode::SUCCESS
}

/// `config … is valid: N profile(s): …`, the offline check's ✓ line.
fn config_summary(config: &Config, resolved: Option<&Path>) -> String {
    let names: Vec<String> = config
        .profiles
        .iter()
        .map(|p| {
            format!(
                "{} ({}, ≤ {})",
                p.display_name(),
                p.attribute,
                crate::domain::profile::format_duration(p.max_duration)
            )
        })
        .collect();
    format!(
        "config {} is valid: {} profile(s): {}",
        resolved
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(environment only)".into()),
        names.len(),
        names.join(", ")
    )
}

/// `accessbot check --online`: the offline checks, then Slack, Tailscale
/// and the database called for real; exit 1 if anything failed.
pub async fn check_online(path: Option<&Path>) -> ExitCode {
    use crate::check::{online, render, secrets, Check};
    let resolved = config::resolve_path(path);
    let config = match Config::load(resolved.as_deref(), &ProcessEnv) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems() {
                println!("✗ {p}");
            }
            println!("\nthe online checks need a valid config: fix the problems above first");
            return ExitCode::from(1);
        }
    };
    let summary = config_summary(&config, resolved.as_deref());
    let summary = summary.strip_prefix("config ").unwrap_or(&summary);
    let mut checks = vec![Check::pass("config", summary)];
    checks.extend(secrets(&config));
    checks.extend(online(&config).await);
    print!("{}", render(&checks));
    if checks.iter().all(Check::passed) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `accessbot manifest [--url https://public.host]`
pub fn manifest(path: Option<&Path>, url: Option<&str>) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let url = match url.map(url::Url::parse).transpose() {
        Ok(u) => u.or_else(|| config.server.public_url.clone()),
        Err(e) => {
            eprintln!(
                "accessbot: --url: not a valid URL ({e}); write e.g. https://accessbot.example.com"
            );
            return ExitCode::from(2);
        }
    };
    if url.is_none() && !config.slack.socket_mode {
        eprintln!(
            "accessbot: no public URL: pass --url https://your.host or set server.public_url \
             (or slack.socket_mode = true, which needs none); using https://accessbot.example.com"
        );
    }
    let placeholder = url::Url::parse("https://accessbot.example.com").expect("static URL");
    let manifest = crate::manifest::manifest(&config, Some(url.as_ref().unwrap_or(&placeholder)));
    match crate::manifest::render_yaml(&manifest) {
        Ok(yaml) => {
            print!("{yaml}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("accessbot: cannot render the manifest: {e}");
            ExitCode::from(1)
        }
    }
}

/// `accessbot audit [--since 7d] [--status s,…] [--format table|json|csv]`
pub async fn audit(
    path: Option<&Path>,
    since: Option<&str>,
    statuses: &[String],
    format: &str,
) -> ExitCode {
    let config = match load(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let format: crate::audit::Format = match format.parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("accessbot: --format: {e}");
            return ExitCode::from(2);
        }
    };
    let since = match since.map(humantime::parse_duration).transpose() {
        Ok(d) => d.map(|d| {
            chrono::Utc::now() - chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
        }),
        Err(e) => {
            eprintln!("accessbot: --since: {e} (write e.g. 7d, 24h)");
            return ExitCode::from(2);
        }
    };
    let mut wanted = Vec::new();
    for s in statuses
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        match crate::domain::RequestStatus::parse(s) {
            Some(st) => wanted.push(st),
            None => {
                let all: Vec<&str> = crate::domain::RequestStatus::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                eprintln!(
                    "accessbot: --status: unknown status {s:?}; use one of {}",
                    all.join(", ")
                );
                return ExitCode::from(2);
            }
        }
    }
    let url = config.database.url.expose_secret();
    let result = async {
        let store = crate::store::connect(url, 2).await?;
        let records = crate::audit::collect(&store, since, wanted).await?;
        crate::audit::render(&records, format)
    }
    .await;
    match result {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "accessbot: audit export from {} failed: {e:#}",
                redact_url(url)
            );
            ExitCode::from(1)
        }
    }
}
