//! `accessbot audit`: requests with their full audit trail, for compliance
//! reviews, as a table (people), JSON (tools) or CSV (spreadsheets).
//!
//! The export only reads the database.

mod args;
mod render;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use crate::domain::{AccessRequest, AttributeValue, RequestStatus};
use crate::store::{AuditEvent, DynStore, RequestFilter, StoreError};

pub use args::{parse_since, parse_statuses, Format};
pub use render::render;

/// Version of the JSON document. Adding a field keeps it; renaming,
/// removing or changing the meaning of one bumps it.
pub const JSON_VERSION: u32 = 1;

/// Which requests to export.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// Only requests created at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only requests in one of these statuses (all when empty).
    pub statuses: Vec<RequestStatus>,
}

impl Query {
    /// From the command line's `--since` and `--status` values; the error
    /// names the option.
    pub fn from_args(
        since: Option<&str>,
        statuses: &[String],
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let since = since
            .map(|raw| parse_since(raw, now))
            .transpose()
            .map_err(|e| format!("--since: {e}"))?;
        let statuses = parse_statuses(statuses).map_err(|e| format!("--status: {e}"))?;
        Ok(Self { since, statuses })
    }
}

/// The whole export: what was asked for, and the matching requests,
/// oldest first. Every key is always present (`null` when unknown), so
/// the shape does not depend on the data.
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub version: u32,
    #[serde(serialize_with = "timestamp")]
    pub generated_at: DateTime<Utc>,
    #[serde(serialize_with = "optional_timestamp")]
    pub since: Option<DateTime<Utc>>,
    pub statuses: Vec<RequestStatus>,
    pub requests: Vec<Record>,
}

/// One request and its trail, as exported. The device fields are what the
/// approver was shown when deciding.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: String,
    pub status: RequestStatus,
    pub requester: String,
    pub requester_email: Option<String>,
    /// Who was asked to decide (`null`: no approval needed).
    pub approver: Option<String>,
    /// Who actually decided (approved or denied).
    pub decided_by: Option<String>,
    pub attribute: String,
    pub value: AttributeValue,
    pub node_id: String,
    pub device: String,
    pub device_owner: String,
    pub device_tags: Vec<String>,
    pub device_os: String,
    pub device_addresses: Vec<String>,
    pub duration_seconds: u64,
    pub reason: String,
    #[serde(serialize_with = "timestamp")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "optional_timestamp")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "optional_timestamp")]
    pub expires_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    /// Every audit event, oldest first: `created`, each transition (the
    /// new status as `action`), and the other actions (`notified`,
    /// `reapplied`).
    pub events: Vec<Event>,
}

impl Record {
    pub fn new(r: AccessRequest, events: Vec<AuditEvent>) -> Self {
        Self {
            id: r.id.to_string(),
            status: r.status,
            requester: r.requester.to_string(),
            requester_email: r.requester_email,
            approver: r.approver.map(|a| a.to_string()),
            decided_by: r.decided_by.map(|a| a.to_string()),
            attribute: r.attribute.to_string(),
            value: r.value,
            node_id: r.device.node_id.to_string(),
            device: r.device.name,
            device_owner: r.device.owner,
            device_tags: r.device.tags,
            device_os: r.device.os,
            device_addresses: r.device.addresses,
            duration_seconds: r.duration.as_secs(),
            reason: r.reason.as_str().to_owned(),
            created_at: r.created_at,
            decided_at: r.decided_at,
            expires_at: r.expires_at,
            failure_reason: r.failure_reason,
            events: events
                .into_iter()
                .map(|e| Event {
                    at: e.at,
                    actor: e.actor.as_str().to_owned(),
                    action: e.action,
                    detail: e.detail,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    #[serde(serialize_with = "timestamp")]
    pub at: DateTime<Utc>,
    /// A Slack user ID, or `system` for accessbot itself.
    pub actor: String,
    pub action: String,
    /// Context recorded with the event (e.g. Tailscale's error); `null` or
    /// an object.
    pub detail: serde_json::Value,
}

impl Event {
    /// Who was told what: part of the record, but noise in an overview.
    pub fn is_notification(&self) -> bool {
        self.action == "notified"
    }
}

/// The matching requests with their trails, oldest first.
pub async fn collect(
    store: &DynStore,
    query: &Query,
    now: DateTime<Utc>,
) -> Result<Export, StoreError> {
    let mut requests = store
        .list_requests(&RequestFilter {
            created_since: query.since,
            statuses: query.statuses.clone(),
            ..Default::default()
        })
        .await?;
    // The store lists newest first; a review reads in order of events.
    requests.reverse();
    let mut records = Vec::with_capacity(requests.len());
    for r in requests {
        let events = store.audit_events(r.id).await?;
        records.push(Record::new(r, events));
    }
    Ok(Export {
        version: JSON_VERSION,
        generated_at: now,
        since: query.since,
        statuses: query.statuses.clone(),
        requests: records,
    })
}

/// Machine formats: RFC 3339 in UTC with the stored (microsecond)
/// precision, always the same width.
pub(crate) fn machine_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn timestamp<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&machine_time(t))
}

fn optional_timestamp<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => timestamp(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_times_have_a_fixed_width() {
        let whole: DateTime<Utc> = "2026-01-02T03:04:05Z".parse().unwrap();
        let fraction: DateTime<Utc> = "2026-01-02T03:04:05.120Z".parse().unwrap();
        assert_eq!(machine_time(&whole), "2026-01-02T03:04:05.000000Z");
        assert_eq!(machine_time(&fraction), "2026-01-02T03:04:05.120000Z");
    }
}
