use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Check,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = cli.config.as_deref();
    match cli.command {
        Command::Serve => accessbot::cli::serve(config).await,
        Command::Migrate => accessbot::cli::migrate(config).await,
        Command::Check => accessbot::cli::check(config),
    }
}
