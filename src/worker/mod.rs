//! The background worker: the job loop only. It claims due jobs from the
//! durable queue under a lease, dispatches each to its use case in `flow`,
//! and records the result with backoff; each round it also runs the
//! time-based sweeps. Any number of replicas may run it: jobs are leased to
//! one worker at a time, and every transition is a compare-and-set, so
//! nothing happens twice.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::domain::AccessRequest;
use crate::flow::jobs::{JobError, JobRun};
use crate::flow::{self, sweeps};
use crate::state::AppState;
use crate::store::{Job, JobKind};

/// Attempts before a job is given up (spread over about two hours).
pub const MAX_ATTEMPTS: i32 = 12;
/// How long a claimed job is ours before another worker may take it over.
pub const LEASE: Duration = Duration::from_secs(120);

/// Exponential backoff with ±20 % jitter: 5 s, 10 s, 20 s … capped at 15 min.
pub fn backoff(attempts: i32, at_least: Option<Duration>) -> Duration {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    let base = Duration::from_secs(5)
        .saturating_mul(2u32.saturating_pow(exp))
        .min(Duration::from_secs(900));
    let jitter = rand::rng().random_range(0.8..1.2);
    base.mul_f64(jitter).max(at_least.unwrap_or_default())
}

/// Jobs run at once by one worker; more wait in the queue (or go to
/// another replica).
const MAX_IN_FLIGHT: usize = 16;

#[derive(Clone)]
pub struct Worker {
    state: AppState,
    id: std::sync::Arc<str>,
    /// Jobs this worker is running: one it claims again (its lease ran out
    /// while it ran, e.g. the process stalled) is not started twice.
    running_ids: std::sync::Arc<Mutex<HashSet<i64>>>,
}

impl Worker {
    pub fn new(state: AppState) -> Self {
        let id = state.instance.clone().into();
        Self {
            state,
            id,
            running_ids: Default::default(),
        }
    }

    /// Runs until `stop` is cancelled, then finishes the jobs in progress.
    /// Jobs run side by side, so a slow one (Tailscale retrying) never holds
    /// up the others or the time-based transitions.
    pub async fn run(self, stop: CancellationToken) {
        tracing::info!(worker = %self.id, "worker started");
        let poll = self.state.config.worker.poll_interval;
        let mut running: JoinSet<()> = JoinSet::new();
        loop {
            if let Err(e) = self.tick(&mut running).await {
                tracing::error!(error = %e, "worker round failed");
            }
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = self.state.wake.notified() => {},
                _ = tokio::time::sleep(poll) => {},
                Some(_) = running.join_next(), if !running.is_empty() => {},
            }
        }
        while running.join_next().await.is_some() {}
        tracing::info!(worker = %self.id, "worker stopped");
    }

    /// Claim up to `limit` due jobs and run them one after another, here and
    /// now (no sweeps): for tests and tools that step the queue themselves.
    /// Returns how many ran.
    pub async fn run_due(&self, limit: u32) -> anyhow::Result<usize> {
        let jobs = self
            .state
            .store
            .claim_jobs(&self.id, self.state.now(), LEASE, limit)
            .await?;
        let ran = jobs.len();
        for job in jobs {
            self.run_job(job).await;
        }
        Ok(ran)
    }

    /// One round: time-based transitions, then claim due jobs for the free
    /// slots and start them.
    async fn tick(&self, running: &mut JoinSet<()>) -> anyhow::Result<()> {
        sweeps::expire_due(&self.state).await?;
        sweeps::time_out_due(&self.state).await?;
        let free = MAX_IN_FLIGHT.saturating_sub(running.len());
        if free > 0 {
            let jobs = self
                .state
                .store
                .claim_jobs(&self.id, self.state.now(), LEASE, free as u32)
                .await?;
            for job in jobs {
                if !self.running_ids.lock().expect("running ids").insert(job.id) {
                    tracing::warn!(
                        job = job.id,
                        "claimed a job this worker is still running; left to it"
                    );
                    continue;
                }
                let worker = self.clone();
                running.spawn(async move {
                    let id = job.id;
                    worker.run_job(job).await;
                    worker.running_ids.lock().expect("running ids").remove(&id);
                });
            }
        }
        sweeps::update_gauges(&self.state).await?;
        Ok(())
    }

    /// Runs one job while keeping its lease, then records the outcome.
    async fn run_job(&self, job: Job) {
        let run = JobRun {
            attempts: job.attempts,
            last_attempt: job.attempts >= MAX_ATTEMPTS,
        };
        let result = tokio::select! {
            result = dispatch(&self.state, &job, run) => result,
            () = self.keep_leased(job.id) => {
                // Another worker may have it now: stop before doing more.
                tracing::warn!(job = job.id, "lost the job's lease while running; stopped");
                return;
            }
        };
        let store = &self.state.store;
        let retry_at = |after| {
            self.state.now()
                + chrono::Duration::from_std(backoff(job.attempts, after)).unwrap_or_default()
        };
        let outcome = match result {
            Ok(()) => store.complete_job(job.id, &self.id).await,
            Err(JobError::Retry { error, after }) if !run.last_attempt => {
                let at = retry_at(after);
                tracing::warn!(job = job.id, kind = ?job.kind, attempts = job.attempts, error, retry_at = %at, "job failed; will retry");
                store.fail_job(job.id, &self.id, &error, Some(at)).await
            }
            Err(JobError::Again { error, after }) => {
                let at = retry_at(after);
                tracing::warn!(job = job.id, kind = ?job.kind, attempts = job.attempts, error, retry_at = %at, "job not done yet; will try again");
                store.fail_job(job.id, &self.id, &error, Some(at)).await
            }
            Err(JobError::Retry { error, .. }) | Err(JobError::Permanent(error)) => {
                tracing::error!(job = job.id, kind = ?job.kind, attempts = job.attempts, error, "job failed; giving up");
                store.fail_job(job.id, &self.id, &error, None).await
            }
        };
        match outcome {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(job = job.id, "lost the job's lease; another worker has it")
            }
            Err(e) => tracing::error!(job = job.id, error = %e, "could not record job result"),
        }
    }

    /// Renews the job's lease every quarter lease while it runs; returns
    /// only when the lease was lost.
    async fn keep_leased(&self, id: i64) {
        loop {
            tokio::time::sleep(LEASE / 4).await;
            let until = self.state.now()
                + chrono::Duration::from_std(LEASE).expect("lease fits a chrono duration");
            match self.state.store.renew_job(id, &self.id, until).await {
                Ok(true) => {}
                Ok(false) => return,
                // The database may be back before the lease runs out.
                Err(e) => tracing::warn!(job = id, error = %e, "could not renew a job's lease"),
            }
        }
    }
}

async fn dispatch(state: &AppState, job: &Job, run: JobRun) -> Result<(), JobError> {
    let span = tracing::info_span!(
        "job",
        job = job.id,
        request = job.request_id.as_ref().map(tracing::field::display),
        kind = ?job.kind,
        attempt = job.attempts
    );
    async {
        match &job.kind {
            JobKind::Grant => {
                flow::grant::run_grant(state, request_of(state, job).await?, run).await
            }
            JobKind::Revoke => {
                flow::grant::run_revoke(state, request_of(state, job).await?, run).await
            }
            JobKind::Converge => {
                flow::grant::run_converge(state, request_of(state, job).await?, run).await
            }
            JobKind::Notify { event } => {
                let req = request_of(state, job).await?;
                flow::notify::run_notify(state, req, *event, run).await
            }
            JobKind::Home { user } => flow::home::run_home(state, user).await,
        }
    }
    .instrument(span)
    .await
}

/// The request a job is about, as stored now.
async fn request_of(state: &AppState, job: &Job) -> Result<AccessRequest, JobError> {
    let Some(id) = job.request_id else {
        return Err(JobError::Permanent("job has no request".into()));
    };
    match state.store.get_request(id).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(JobError::Permanent(format!("request {id} not found"))),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let first = backoff(1, None);
        assert!(
            first >= Duration::from_secs(4) && first <= Duration::from_secs(6),
            "{first:?}"
        );
        let later = backoff(4, None);
        assert!(
            later >= Duration::from_secs(32) && later <= Duration::from_secs(48),
            "{later:?}"
        );
        assert!(backoff(20, None) <= Duration::from_secs(1080));
        assert!(backoff(1, Some(Duration::from_secs(60))) >= Duration::from_secs(60));
    }
}
