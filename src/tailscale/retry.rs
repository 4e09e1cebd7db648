//! How the client retries transient failures: exponential backoff with
//! jitter (backon), bounded in attempts and in total time, and never sooner
//! than a `Retry-After` asks. What does not fit in the budget is handed back
//! as a transient error, for the durable job queue to retry later.

use std::time::{Duration, Instant};

use backon::ExponentialBuilder;

use super::TailscaleError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = no retries).
    pub max_attempts: usize,
    /// The first backoff; each further one doubles, plus jitter.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Give up when the next wait would end later than this after the first attempt.
    pub total_budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            total_budget: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// No retries at all.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    pub(crate) fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_jitter()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.max_attempts.saturating_sub(1))
    }

    /// The wait before the next attempt, or `None` to give up: `backoff`
    /// is backon's proposal (`None` once the attempts are used up).
    pub(crate) fn next_wait(
        &self,
        started: Instant,
        error: &TailscaleError,
        backoff: Option<Duration>,
    ) -> Option<Duration> {
        let wait = backoff?.max(error.retry_after().unwrap_or_default());
        let elapsed = started.elapsed();
        (elapsed + wait <= self.total_budget).then_some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF_A_SECOND: Option<Duration> = Some(Duration::from_millis(500));

    fn next_wait(error: &TailscaleError, backoff: Option<Duration>) -> Option<Duration> {
        RetryPolicy::default().next_wait(Instant::now(), error, backoff)
    }

    fn rate_limited(secs: u64) -> TailscaleError {
        TailscaleError::RateLimited {
            retry_after: Some(Duration::from_secs(secs)),
        }
    }

    #[test]
    fn retry_after_wins_over_a_shorter_backoff() {
        assert_eq!(
            next_wait(&rate_limited(3), HALF_A_SECOND),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn gives_up_when_the_wait_exceeds_the_budget_or_attempts_run_out() {
        assert_eq!(next_wait(&rate_limited(60), HALF_A_SECOND), None);
        let e = TailscaleError::Transport("x".into());
        assert_eq!(next_wait(&e, None), None);
        assert_eq!(
            next_wait(&e, Some(Duration::from_secs(1))),
            Some(Duration::from_secs(1))
        );
    }
}
