//! Turns a [`RawConfig`] plus the environment into a [`Config`], collecting
//! every problem as a line that names the key and the rule.
//!
//! Each section has its own function ([`sections`], [`profiles`]) reporting
//! into one [`Problems`], so every problem in the file is listed at once,
//! in file order.

mod approval;
mod profiles;
mod rules;
mod sections;

use std::fmt;

use super::raw::{RawConfig, RawDatabase};
use super::{Config, DatabaseConfig, Env};
pub use rules::parse_public_url;
use rules::Problems;

/// Every problem found in a config, one line each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<String>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} problem(s) in the config:", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

pub fn validate(
    raw: RawConfig,
    env: &dyn Env,
    unknown: Vec<String>,
) -> Result<Config, ConfigErrors> {
    let mut p = Problems::default();
    for key in unknown {
        p.push(
            &key,
            None,
            "unknown key (check the spelling; see config/accessbot.example.toml)",
        );
    }
    let config = Config {
        server: sections::server(&mut p, env, raw.server),
        database: sections::database(&mut p, env, raw.database),
        slack: sections::slack(&mut p, env, raw.slack),
        tailscale: sections::tailscale(&mut p, env, raw.tailscale),
        requests: sections::requests(&mut p, raw.requests),
        worker: sections::worker(&mut p, raw.worker),
        profiles: profiles::profiles(&mut p, raw.profiles),
        socket_liveness: Default::default(),
    };
    p.finish(config).map_err(ConfigErrors)
}

/// The `[database]` section alone (see [`Config::database_url`]).
pub fn database_only(raw: RawDatabase, env: &dyn Env) -> Result<DatabaseConfig, ConfigErrors> {
    let mut p = Problems::default();
    let database = sections::database(&mut p, env, raw);
    p.finish(database).map_err(ConfigErrors)
}
