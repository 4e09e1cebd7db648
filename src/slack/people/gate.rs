//! Slack's per-method rate limits, kept on our side: each directory method
//! has a token bucket sized to its tier, and a 429's `Retry-After` closes
//! the method until then. Background work waits for a token; a person's
//! click or submission never waits, and is refused at once only while
//! Slack has asked us to back off (the caller then serves the cache).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Calls per minute Slack promises each tier ("20+", "50+", "100+").
const TIER_2: u32 = 20;
const TIER_3: u32 = 50;
const TIER_4: u32 = 100;

/// The directory's methods and their tiers (api.slack.com/methods).
pub const TIERS: &[(&str, u32)] = &[
    ("users.info", TIER_4),
    ("users.lookupByEmail", TIER_3),
    ("users.list", TIER_2),
    ("usergroups.list", TIER_2),
    ("usergroups.users.list", TIER_2),
];

/// Share of a tier the background pace uses; the rest is headroom for
/// people's own lookups and for the burst a full bucket allows.
const PACE_SHARE: f64 = 0.8;
/// A full bucket: a tenth of a minute's calls at once.
const BURST_SHARE: f64 = 0.1;
/// When Slack answers 429 without saying how long to wait.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether a call may wait for its turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    /// Keeping the directory warm: waits as long as the tier needs.
    Background,
    /// Someone is waiting on Slack's 3 seconds: goes at once, or fails fast.
    Person,
}

enum NotYet {
    /// Slack's `Retry-After` has this much left.
    Closed(Duration),
    /// The next token is this far away.
    Paced(Duration),
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
    closed_until: Option<Instant>,
}

/// One method's limit.
pub struct Gate {
    burst: f64,
    per_second: f64,
    bucket: Mutex<Bucket>,
}

impl Gate {
    fn new(per_minute: u32) -> Self {
        let burst = (f64::from(per_minute) * BURST_SHARE).max(1.0);
        Self {
            burst,
            per_second: f64::from(per_minute) * PACE_SHARE / 60.0,
            bucket: Mutex::new(Bucket {
                tokens: burst,
                refilled: Instant::now(),
                closed_until: None,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Bucket> {
        self.bucket.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a token now, or say why not. A person's call may borrow (the
    /// bucket goes below zero and background work pays it back); nobody
    /// goes while the method is closed.
    fn try_take(&self, priority: Priority, now: Instant) -> Result<(), NotYet> {
        let mut b = self.lock();
        if let Some(until) = b.closed_until.filter(|u| *u > now) {
            return Err(NotYet::Closed(until - now));
        }
        let elapsed = now.duration_since(b.refilled).as_secs_f64();
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.burst);
        b.refilled = now;
        if b.tokens >= 1.0 || priority == Priority::Person {
            b.tokens -= 1.0;
            return Ok(());
        }
        let wait = (1.0 - b.tokens) / self.per_second;
        Err(NotYet::Paced(Duration::from_secs_f64(wait)))
    }

    /// Take a turn: background work waits for the pace, a person goes at
    /// once. `Err(retry_after)` while Slack has asked us to wait: nobody
    /// calls then, and the caller serves what the cache holds.
    pub async fn admit(&self, priority: Priority) -> Result<(), Duration> {
        loop {
            match self.try_take(priority, Instant::now()) {
                Ok(()) => return Ok(()),
                Err(NotYet::Closed(left)) => return Err(left),
                Err(NotYet::Paced(wait)) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// Slack answered 429: nobody calls this method again until it said.
    pub fn close_for(&self, retry_after: Option<Duration>) {
        self.close_at(Instant::now(), retry_after);
    }

    fn close_at(&self, now: Instant, retry_after: Option<Duration>) {
        let until = now + retry_after.unwrap_or(DEFAULT_RETRY_AFTER);
        let mut b = self.lock();
        b.closed_until = Some(b.closed_until.map_or(until, |u| u.max(until)));
    }
}

/// A gate per directory method.
pub struct Gates(HashMap<&'static str, Gate>);

impl Default for Gates {
    fn default() -> Self {
        Self(
            TIERS
                .iter()
                .map(|(method, per_minute)| (*method, Gate::new(*per_minute)))
                .collect(),
        )
    }
}

impl Gates {
    pub fn of(&self, method: &'static str) -> &Gate {
        self.0
            .get(method)
            .unwrap_or_else(|| panic!("{method} has no rate tier in gate::TIERS"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paced(r: Result<(), NotYet>) -> Option<Duration> {
        match r {
            Err(NotYet::Paced(d)) => Some(d),
            _ => None,
        }
    }

    #[test]
    fn background_calls_keep_within_the_tier() {
        let gate = Gate::new(TIER_2);
        let start = Instant::now();
        // A full bucket: 2 at once, then one every 3.75 s (16 a minute).
        for _ in 0..2 {
            assert!(gate.try_take(Priority::Background, start).is_ok());
        }
        let wait = paced(gate.try_take(Priority::Background, start)).unwrap();
        assert_eq!(wait, Duration::from_secs_f64(3.75));
        let mut now = start;
        let mut calls = 2;
        while now < start + Duration::from_secs(61) {
            now += Duration::from_millis(250);
            if gate.try_take(Priority::Background, now).is_ok() {
                calls += 1;
            }
        }
        assert_eq!(calls, 18, "a minute holds the burst and 16 more");
    }

    #[test]
    fn a_person_never_waits_but_respects_retry_after() {
        let gate = Gate::new(TIER_4);
        let start = Instant::now();
        for _ in 0..50 {
            assert!(gate.try_take(Priority::Person, start).is_ok());
        }
        gate.close_at(start, Some(Duration::from_secs(30)));
        for priority in [Priority::Person, Priority::Background] {
            match gate.try_take(priority, start + Duration::from_secs(10)) {
                Err(NotYet::Closed(left)) => assert_eq!(left, Duration::from_secs(20)),
                _ => panic!("{priority:?} went while Slack said to wait"),
            }
        }
        // After Retry-After people go again; background work first pays
        // back what people borrowed (10 - 50 + 40 refilled = 0 tokens).
        let later = start + Duration::from_secs(30);
        assert!(paced(gate.try_take(Priority::Background, later)).is_some());
        assert!(gate.try_take(Priority::Person, later).is_ok());
    }
}
