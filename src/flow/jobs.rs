//! The contract between the worker and the jobs it runs: what a job is told
//! about its run, and how it says whether trying again can help. Errors of
//! the clients and the store convert into it, so a job can use `?`.

use std::time::Duration;

use crate::slack::api::SlackApiError;
use crate::store::StoreError;
use crate::tailscale::TailscaleError;

/// What a job handler is told about its run.
#[derive(Debug, Clone, Copy)]
pub struct JobRun {
    pub attempts: i32,
    /// No retry follows a transient failure of this run.
    pub last_attempt: bool,
}

#[derive(Debug, Clone)]
pub enum JobError {
    /// Try again later (at least `after`, when the API said so).
    Retry {
        error: String,
        after: Option<Duration>,
    },
    /// Try again later however many attempts it took: the job has an end
    /// of its own (e.g. a revoke retries until the grant's expiry).
    Again {
        error: String,
        after: Option<Duration>,
    },
    /// Retrying cannot help.
    Permanent(String),
}

impl JobError {
    /// A failure worth retrying, with no hint of when.
    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self::Retry {
            error: error.to_string(),
            after: None,
        }
    }
}

impl From<StoreError> for JobError {
    /// The database being unreachable or busy passes; retry.
    fn from(e: StoreError) -> Self {
        Self::retry(e)
    }
}

/// An API's failure: retried when the API says it passes (rate limits,
/// outages, timeouts), at the earliest when it asked.
fn api_failure(error: String, transient: bool, after: Option<Duration>) -> JobError {
    if transient {
        JobError::Retry { error, after }
    } else {
        JobError::Permanent(error)
    }
}

impl From<TailscaleError> for JobError {
    fn from(e: TailscaleError) -> Self {
        api_failure(e.to_string(), e.is_transient(), e.retry_after())
    }
}

impl From<SlackApiError> for JobError {
    fn from(e: SlackApiError) -> Self {
        api_failure(e.to_string(), e.is_transient(), e.retry_after())
    }
}
