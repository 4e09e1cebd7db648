//! Prometheus metrics. Each app has its own registry (no globals), so
//! several apps in one test process don't share counters.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

pub struct Inner {
    registry: Registry,
    pub requests: IntCounterVec,
    pub decisions: IntCounterVec,
    pub grants: IntCounterVec,
    pub active_grants: IntGauge,
    pub job_queue_depth: IntGauge,
    pub job_oldest_due_age: IntGauge,
    pub dead_jobs: IntGauge,
    pub unaccounted_attributes: IntGauge,
    pub reapplied: IntCounter,
    pub reconciliations: IntCounter,
    pub attribute_lock_waits: IntCounter,
    pub reconcile_last_success: IntGauge,
    pub revoke_failures: IntCounter,
    pub lingering_grants: IntGauge,
    pub http_connections: IntGauge,
    http_refused: IntCounterVec,
    slack_calls: HistogramVec,
    tailscale_calls: HistogramVec,
    interaction_ack: HistogramVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 30.0,
];

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let plain_counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let inner = Inner {
            requests: counter(
                "accessbot_requests_total",
                "Access requests by profile attribute and outcome (created, or the status reached).",
                &["profile", "outcome"],
            ),
            decisions: counter(
                "accessbot_decisions_total",
                "Decisions by kind: approved (by approvers' clicks), denied, self_approved, auto_approved, break_glass.",
                &["decision"],
            ),
            grants: counter(
                "accessbot_grants_total",
                "Attribute grants by result (applied, failed).",
                &["result"],
            ),
            active_grants: gauge("accessbot_active_grants", "Requests currently active."),
            job_queue_depth: gauge("accessbot_job_queue_depth", "Jobs due to run now."),
            job_oldest_due_age: gauge(
                "accessbot_job_oldest_due_age_seconds",
                "Age of the oldest due job, in seconds (0 when none).",
            ),
            dead_jobs: gauge("accessbot_dead_jobs", "Jobs given up after repeated failure."),
            reapplied: plain_counter(
                "accessbot_reapplied_attributes_total",
                "Missing attributes of active grants set again by reconciliation.",
            ),
            reconciliations: plain_counter(
                "accessbot_reconciliations_total",
                "Reconciliation rounds completed (alert if it stops growing).",
            ),
            attribute_lock_waits: plain_counter(
                "accessbot_attribute_lock_waits_total",
                "Times a change to a device's attribute waited for another change of the same attribute (here or on another replica).",
            ),
            reconcile_last_success: gauge(
                "accessbot_reconcile_last_success_timestamp_seconds",
                "Unix time of the last completed reconciliation round (alert on time() minus this).",
            ),
            revoke_failures: plain_counter(
                "accessbot_revoke_failures_total",
                "Revokes Tailscale refused or that ran out of retries (access may remain until expiry).",
            ),
            lingering_grants: gauge(
                "accessbot_lingering_grants",
                "Grants that should have ended but whose attribute is still on the tailnet.",
            ),
            http_connections: gauge(
                "accessbot_http_connections",
                "HTTP connections open now.",
            ),
            http_refused: counter(
                "accessbot_http_refused_total",
                "HTTP requests and connections refused for load (reason: connections, in_flight).",
                &["reason"],
            ),
            unaccounted_attributes: gauge(
                "accessbot_unaccounted_attributes",
                "Profile attributes on devices that no active grant accounts for (last reconciliation).",
            ),
            slack_calls: histogram(
                "accessbot_slack_api_duration_seconds",
                "Slack Web API call latency by method and status (ok or Slack's error code).",
                &["method", "status"],
            ),
            tailscale_calls: histogram(
                "accessbot_tailscale_api_duration_seconds",
                "Tailscale API call latency by operation and status (ok or HTTP status).",
                &["operation", "status"],
            ),
            interaction_ack: histogram(
                "accessbot_interaction_ack_seconds",
                "Time to answer a Slack request, by kind.",
                &["kind"],
            ),
            registry,
        };
        Self(Arc::new(inner))
    }

    pub fn observe_slack_call(&self, method: &str, status: &str, took: Duration) {
        self.0
            .slack_calls
            .with_label_values(&[method, status])
            .observe(took.as_secs_f64());
    }

    pub fn observe_tailscale_call(&self, operation: &str, status: &str, took: Duration) {
        self.0
            .tailscale_calls
            .with_label_values(&[operation, status])
            .observe(took.as_secs_f64());
    }

    pub fn observe_ack(&self, kind: &str, took: Duration) {
        self.0
            .interaction_ack
            .with_label_values(&[kind])
            .observe(took.as_secs_f64());
    }

    /// A request or connection turned away because the process was full.
    pub fn refused(&self, reason: &str) {
        self.0.http_refused.with_label_values(&[reason]).inc();
    }

    pub fn request_outcome(&self, profile: &str, outcome: &str) {
        self.0.requests.with_label_values(&[profile, outcome]).inc();
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.0.registry.gather(), &mut buf)
            .expect("text encoding cannot fail");
        String::from_utf8(buf).expect("metrics are UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::ops::Deref for Metrics {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_render_in_text_format() {
        let m = Metrics::new();
        m.request_outcome("custom:prod", "created");
        m.observe_slack_call("chat.postMessage", "ok", Duration::from_millis(20));
        m.active_grants.set(3);
        let text = m.render();
        assert!(
            text.contains(
                "accessbot_requests_total{outcome=\"created\",profile=\"custom:prod\"} 1"
            ),
            "{text}"
        );
        assert!(text.contains("accessbot_active_grants 3"));
        // Plain counters and gauges are exported before anything happens,
        // so alerts on them have a series to evaluate from the start.
        for zero in [
            "accessbot_revoke_failures_total 0",
            "accessbot_lingering_grants 0",
            "accessbot_reconcile_last_success_timestamp_seconds 0",
        ] {
            assert!(text.contains(zero), "{zero} in {text}");
        }
        assert!(text.contains("accessbot_slack_api_duration_seconds_count{method=\"chat.postMessage\",status=\"ok\"} 1"));
    }
}
