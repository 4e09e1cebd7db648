use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// See `accessbot::allocator`.
#[global_allocator]
static ALLOCATOR: accessbot::allocator::MiMalloc = accessbot::allocator::MiMalloc;

/// Just-in-time, time-bound Tailscale access through Slack.
#[derive(Parser)]
#[command(name = "accessbot", version, about)]
struct Cli {
    /// Config file (default: config/accessbot.toml when it exists).
    #[arg(long, global = true, env = "ACCESSBOT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (applies migrations first).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Validate the config and say exactly what is wrong.
    Check {
        /// Also check Slack, Tailscale and the database with the real credentials.
        #[arg(long)]
        online: bool,
    },
    /// Print the Slack app manifest (YAML) for this configuration.
    Manifest {
        /// Public base URL Slack should call (default: server.public_url).
        #[arg(long)]
        url: Option<String>,
    },
    /// Export requests with their full audit trail.
    Audit {
        /// Only requests created within this long (7d, 24h) or since this date (2026-01-31, RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only these statuses (comma-separated or repeated).
        #[arg(long)]
        status: Vec<String>,
        /// table, json or csv.
        #[arg(long, default_value = "table")]
        format: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    accessbot::allocator::tune();
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve => accessbot::cli::serve(config).await,
        Command::Migrate => accessbot::cli::migrate(config).await,
        Command::Check { online: false } => accessbot::cli::check(config),
        Command::Check { online: true } => accessbot::cli::check_online(config).await,
        Command::Manifest { url } => accessbot::cli::manifest(config, url.as_deref()),
        Command::Audit {
            since,
            status,
            format,
        } => accessbot::cli::audit(config, since.as_deref(), &status, &format).await,
    }
}
