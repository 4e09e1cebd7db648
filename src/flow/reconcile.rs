//! Reconciliation: compare what the database says is granted with what the
//! tailnet carries, at start-up and every `worker.reconcile_interval`.
//!
//! - An active grant whose attribute is missing before its expiry is
//!   re-applied (someone deleted it by hand, or a write was lost).
//! - An active grant whose device no longer exists fails, and the requester
//!   is told.
//! - A `custom:` attribute of a configured profile that no active grant
//!   accounts for is reported (log + metric), never deleted: an admin may
//!   have set it on purpose.
//!
//! Reading attributes is one API call per device, so besides the devices of
//! active grants each round looks at a rolling window of other devices;
//! over successive rounds the whole tailnet is covered with bounded load.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::domain::{AccessRequest, AttributeKey, NodeId, RequestStatus};
use crate::state::AppState;
use crate::store::{Actor, NewJob, RequestFilter, StoreError, Transition};
use crate::tailscale::{DeviceAttributes, TailscaleError};

/// Devices without an active grant looked at per round.
pub const SCAN_WINDOW: usize = 50;

/// What one round found and did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub devices_checked: usize,
    /// Requests whose missing attribute was set again.
    pub reapplied: Vec<String>,
    /// Requests failed because their device is gone.
    pub device_gone: Vec<String>,
    /// (node ID, attribute) pairs no active grant accounts for.
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
    let now = state.now();
    let active = state
        .store
        .list_requests(&RequestFilter {
            statuses: vec![RequestStatus::Active],
            ..Default::default()
        })
        .await?;
    let mut grants: BTreeMap<NodeId, Vec<AccessRequest>> = BTreeMap::new();
    for req in active {
        grants
            .entry(req.device.node_id.clone())
            .or_default()
            .push(req);
    }

    let mut report = Report::default();
    let mut checked: BTreeSet<NodeId> = BTreeSet::new();
    for (node, reqs) in &grants {
        checked.insert(node.clone());
        match state.tailscale.get_attributes(node).await {
            Ok(attrs) => {
                reapply_missing(state, &attrs, reqs, now, &mut report).await?;
                find_unaccounted(state, node, &attrs, reqs, now, &mut report);
            }
            Err(TailscaleError::NotFound { .. }) => {
                for req in reqs {
                    fail_gone(state, req, now, &mut report).await?;
                }
            }
            Err(e) => {
                tracing::warn!(node = %node, error = %e, "reconciliation could not read attributes")
            }
        }
        report.devices_checked += 1;
    }

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

/// The latest expiry among the active grants of `key` on this device.
fn latest_expiry(reqs: &[AccessRequest], key: &AttributeKey) -> Option<DateTime<Utc>> {
    reqs.iter()
        .filter(|r| r.attribute.same_key(key))
        .filter_map(|r| r.expires_at)
        .max()
}

async fn reapply_missing(
    state: &AppState,
    attrs: &DeviceAttributes,
    reqs: &[AccessRequest],
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<(), StoreError> {
    let mut done: BTreeSet<String> = BTreeSet::new();
    for req in reqs {
        let key = &req.attribute;
        let Some(until) = latest_expiry(reqs, key).filter(|t| *t > now) else {
            continue; // about to expire anyway; the expiry sweep handles it
        };
        if attrs.get(key).is_some() || !done.insert(key.as_str().to_ascii_lowercase()) {
            continue;
        }
        let comment = format!(
            "accessbot: re-applied grant {} (attribute was missing)",
            req.id
        );
        match state
            .tailscale
            .set_attribute(&req.device.node_id, key, &req.value, Some(until), &comment)
            .await
        {
            Ok(()) => {
                tracing::warn!(request = %req.id, node = %req.device.node_id, attribute = %key, "attribute was missing; re-applied");
                state
                    .store
                    .append_audit(
                        req.id,
                        now,
                        &Actor::System,
                        "reapplied",
                        serde_json::json!({ "until": until, "reason": "attribute missing from the device" }),
                    )
                    .await?;
                state.metrics.reapplied.inc();
                report.reapplied.push(req.id.to_string());
            }
            Err(e) => {
                tracing::warn!(request = %req.id, error = %e, "could not re-apply a missing attribute")
            }
        }
    }
    Ok(())
}

async fn fail_gone(
    state: &AppState,
    req: &AccessRequest,
    now: DateTime<Utc>,
    report: &mut Report,
) -> Result<(), StoreError> {
    let why = "the device no longer exists in the tailnet";
    let t = Transition::new(
        req.id,
        RequestStatus::Active,
        RequestStatus::Failed,
        Actor::System,
        now,
    )
    .failure(why)
    .detail(serde_json::json!({ "reason": why }))
    .job(NewJob::notify(req.id, "failed", now));
    match state.store.transition(t).await {
        Ok(_) => {
            tracing::warn!(request = %req.id, node = %req.device.node_id, "device is gone; grant failed");
            state
                .metrics
                .request_outcome(req.attribute.as_str(), "failed");
            state.kick();
            report.device_gone.push(req.id.to_string());
            Ok(())
        }
        Err(StoreError::Conflict { .. }) => Ok(()),
        Err(e) => Err(e),
    }
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
