//! The subcommands behind `accessbot …`; `main.rs` only parses and dispatches.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use secrecy::ExposeSecret;

use crate::clock::SystemClock;
use crate::config::{self, redact_url, Config, ProcessEnv};
use crate::startup::{shutdown_signal, Application};

/// The config, or `None` once its problems are printed.
fn load(path: Option<&Path>) -> Option<Config> {
    let path = config::resolve_path(path);
    Config::load(path.as_deref(), &ProcessEnv)
        .map_err(|e| print_problems("the configuration is not valid:", e.problems()))
        .ok()
}

/// `accessbot: heading` and a `✗` line per problem, on stderr.
fn print_problems(heading: &str, problems: Vec<String>) {
    eprintln!("accessbot: {heading}");
    for p in problems {
        eprintln!("  ✗ {p}");
    }
}

/// Prints why a command failed; exit status 1.
fn failed(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("accessbot: {message}");
    ExitCode::from(1)
}

/// `accessbot serve`
pub async fn serve(path: Option<&Path>) -> ExitCode {
    crate::telemetry::init();
    let Some(config) = load(path) else {
        return ExitCode::from(1);
    };
    let missing = config.missing_secrets();
    if !missing.is_empty() {
        print_problems("cannot start, secrets are missing:", missing);
        return ExitCode::from(1);
    }
    let result = async {
        let app = Application::build(config, Arc::new(SystemClock)).await?;
        app.run_until(shutdown_signal()).await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => failed(format!("{e:#}")),
    }
}

/// `accessbot migrate`: needs only the database URL, so that a migration
/// init container can run it with nothing but `DATABASE_URL`.
pub async fn migrate(path: Option<&Path>) -> ExitCode {
    crate::telemetry::init();
    let path = config::resolve_path(path);
    let url = match Config::database_url(path.as_deref(), &ProcessEnv) {
        Ok(url) => url,
        Err(e) => {
            print_problems("the database URL is not valid:", e.problems());
            return ExitCode::from(1);
        }
    };
    let url = url.expose_secret();
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
        Err(e) => failed(format!("migrating {} failed: {e:#}", redact_url(url))),
    }
}

/// The config and the file it came from, or `None` once its problems are
/// printed: on stdout, as they are what `check` was asked for.
fn load_for_check(path: Option<&Path>) -> Option<(Config, Option<PathBuf>)> {
    let resolved = config::resolve_path(path);
    match Config::load(resolved.as_deref(), &ProcessEnv) {
        Ok(config) => Some((config, resolved)),
        Err(e) => {
            for p in e.problems() {
                println!("✗ {p}");
            }
            None
        }
    }
}

/// `accessbot check` (offline)
pub fn check(path: Option<&Path>) -> ExitCode {
    let Some((config, resolved)) = load_for_check(path) else {
        return ExitCode::from(1);
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
    let Some((config, resolved)) = load_for_check(path) else {
        println!("\nthe online checks need a valid config: fix the problems above first");
        return ExitCode::from(1);
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
    let Some(config) = load(path) else {
        return ExitCode::from(1);
    };
    let url = match url.map(config::parse_public_url).transpose() {
        Ok(u) => u.or_else(|| config.server.public_url.clone()),
        Err(rule) => {
            eprintln!("accessbot: --url: {rule}");
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
        Err(e) => failed(format!("cannot render the manifest: {e}")),
    }
}

/// `accessbot audit [--since 7d|2026-01-31] [--status s,…] [--format table|json|csv]`
///
/// Bad options exit 2 (before the config is read), a bad config or an
/// unreadable database 1.
pub async fn audit(
    path: Option<&Path>,
    since: Option<&str>,
    statuses: &[String],
    format: &str,
) -> ExitCode {
    let now = chrono::Utc::now();
    let format: crate::audit::Format = match format.parse() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("accessbot: --format: {e}");
            return ExitCode::from(2);
        }
    };
    let query = match crate::audit::Query::from_args(since, statuses, now) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("accessbot: {e}");
            return ExitCode::from(2);
        }
    };
    let Some(config) = load(path) else {
        return ExitCode::from(1);
    };
    let url = config.database.url.expose_secret();
    if let Some(file) = crate::store::missing_sqlite_file(url) {
        eprintln!(
            "accessbot: no database at {} (from DATABASE_URL or database.url); nothing to export",
            file.display()
        );
        return ExitCode::from(1);
    }
    let result = async {
        let store = crate::store::connect(url, 2).await?;
        let export = crate::audit::collect(&store, &query, now).await?;
        crate::audit::render(&export, format)
    }
    .await;
    match result {
        Ok(text) => write_stdout(&text),
        Err(e) => failed(format!(
            "audit export from {} failed: {e:#}",
            redact_url(url)
        )),
    }
}

/// Prints `text`; a reader that went away early (`| head`) is not an
/// error, where `print!` would panic.
fn write_stdout(text: &str) -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => failed(format!("cannot write the output: {e}")),
    }
}
