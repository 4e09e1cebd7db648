//! Reconciliation: compare what the database says with what the tailnet
//! carries, at start-up and every `worker.reconcile_interval`.
//!
//! Every (device, attribute) pair with a live request (approved, active,
//! revoking) is converged ([`super::converge`]): the pair's requests are
//! read again under its lock, so this round's list only picks the pairs and
//! never decides a write. Converging them:
//! - ends an active grant whose attribute was removed outside accessbot
//!   (or, with `worker.missing_attribute = "reapply"`, sets it again);
//! - fails grants whose device no longer exists, and the requester is told;
//! - finishes whatever a crash or an outage left half done.
//!
//! A `custom:` attribute of a configured profile that no grant accounts for
//! is reported (log + metric), never deleted: an admin may have set it on
//! purpose. Reading attributes is one API call per device, so besides the
//! devices of live requests each round looks at a rolling window of other
//! devices; over successive rounds the whole tailnet is covered with
//! bounded load.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::converge::converge_unless_busy;
use crate::domain::access::{could_last_until, Pair};
use crate::domain::{AccessRequest, NodeId, RequestStatus};
use crate::state::AppState;
use crate::store::RequestFilter;
use crate::tailscale::DeviceAttributes;

/// Devices without a live request looked at per round.
pub const SCAN_WINDOW: usize = 50;

/// What one round found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub devices_checked: usize,
    /// Requests whose missing attribute was set again (`reapply`).
    pub reapplied: Vec<String>,
    /// Active grants ended because their attribute was removed outside accessbot.
    pub ended_outside: Vec<String>,
    /// Requests failed because their device is gone.
    pub device_gone: Vec<String>,
    /// (node ID, attribute) pairs no grant accounts for.
    pub unaccounted: Vec<(String, String)>,
}

/// Where the rolling scan of other devices continues next round.
#[derive(Debug, Default)]
pub struct Cursor(usize);

/// Reconciles at once, then every `worker.reconcile_interval`, until `stop`.
/// A task of its own: a round reads many devices and must not hold up jobs.
pub async fn run_every(state: AppState, stop: tokio_util::sync::CancellationToken) {
    let mut cursor = Cursor::default();
    let mut every = tokio::time::interval(state.config.worker.reconcile_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {
                if let Err(e) = run(&state, &mut cursor).await {
                    tracing::warn!(error = %e, "reconciliation failed");
                }
            }
        }
    }
}

/// One reconciliation round.
pub async fn run(state: &AppState, cursor: &mut Cursor) -> anyhow::Result<Report> {
    let live = state
        .store
        .list_requests(&RequestFilter {
            statuses: RequestStatus::LIVE.to_vec(),
            ..Default::default()
        })
        .await?;
    let mut pairs: BTreeMap<NodeId, BTreeSet<Pair>> = BTreeMap::new();
    // A request to extend a grant never writes the tailnet: its grant does.
    for req in live.iter().filter(|r| !r.is_extension()) {
        pairs
            .entry(req.device.node_id.clone())
            .or_default()
            .insert(Pair::of(req));
    }

    let mut report = Report::default();
    for (node, node_pairs) in &pairs {
        let mut seen: Vec<AccessRequest> = Vec::new();
        let mut attrs: Option<DeviceAttributes> = None;
        for pair in node_pairs {
            let done = match converge_unless_busy(state, pair).await {
                Ok(done) => done,
                // Busy: another replica is at it. Logged by converge; the
                // next round tries again.
                Err(_) => continue,
            };
            let ids =
                |reqs: &[AccessRequest]| reqs.iter().map(|r| r.id.to_string()).collect::<Vec<_>>();
            report.ended_outside.extend(ids(&done.ended_outside));
            match &done.attributes {
                None => report.device_gone.extend(ids(&done.requests)),
                Some(a) => {
                    if done.reapplied {
                        report.reapplied.extend(ids(&done.requests));
                    }
                    attrs = Some(a.clone());
                }
            }
            seen.extend(done.requests);
        }
        if let Some(attrs) = attrs {
            find_unaccounted(state, node, &attrs, &seen, state.now(), &mut report);
        }
        report.devices_checked += 1;
    }
    let checked: BTreeSet<NodeId> = pairs.into_keys().collect();
    let now = state.now();

    // A window of the other devices, for attributes nobody accounts for.
    match state.devices.index().await {
        Ok(index) => {
            let others: Vec<&NodeId> = index
                .devices()
                .iter()
                .map(|d| &d.node_id)
                .filter(|n| !checked.contains(*n))
                .collect();
            if !others.is_empty() {
                let start = cursor.0 % others.len();
                let window: Vec<&NodeId> = others
                    .iter()
                    .cycle()
                    .skip(start)
                    .take(SCAN_WINDOW.min(others.len()))
                    .copied()
                    .collect();
                cursor.0 = start + window.len();
                for node in window {
                    match state.tailscale.get_attributes(node).await {
                        Ok(attrs) => find_unaccounted(state, node, &attrs, &[], now, &mut report),
                        Err(e) => {
                            tracing::debug!(node = %node, error = %e, "skipped in reconciliation")
                        }
                    }
                    report.devices_checked += 1;
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "reconciliation could not list devices"),
    }

    state
        .metrics
        .unaccounted_attributes
        .set(report.unaccounted.len() as i64);
    state.metrics.reconciliations.inc();
    state
        .metrics
        .reconcile_last_success
        .set(state.now().timestamp());
    tracing::info!(
        devices = report.devices_checked,
        reapplied = report.reapplied.len(),
        device_gone = report.device_gone.len(),
        unaccounted = report.unaccounted.len(),
        "reconciliation done"
    );
    Ok(report)
}

/// The latest moment any of `reqs` could give access through `key`.
fn latest_expiry(
    reqs: &[AccessRequest],
    key: &crate::domain::AttributeKey,
) -> Option<DateTime<Utc>> {
    reqs.iter()
        .filter(|r| r.attribute.same_key(key))
        .filter_map(could_last_until)
        .max()
}

/// Attributes of configured profiles that no active grant on this device
/// accounts for (ignoring ones already past their expiry, which Tailscale
/// removes within minutes).
fn find_unaccounted(
    state: &AppState,
    node: &NodeId,
    attrs: &DeviceAttributes,
    reqs: &[AccessRequest],
    now: DateTime<Utc>,
    report: &mut Report,
) {
    for (key, _) in attrs.custom() {
        let Some(profile) = state
            .config
            .profiles
            .iter()
            .find(|p| p.attribute.as_str().eq_ignore_ascii_case(key))
        else {
            continue;
        };
        let expiry = attrs.expiries.get(key).copied();
        if expiry.is_some_and(|e| e <= now) {
            continue;
        }
        let accounted = latest_expiry(reqs, &profile.attribute)
            .is_some_and(|until| expiry.is_some_and(|e| e <= until + chrono::Duration::minutes(1)));
        if !accounted {
            tracing::warn!(node = %node, attribute = key, expiry = ?expiry, "attribute not accounted for by any active grant");
            report.unaccounted.push((node.to_string(), key.to_owned()));
        }
    }
}
