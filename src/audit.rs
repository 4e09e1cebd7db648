//! `accessbot audit`: requests with their full audit trail, for compliance
//! reviews, as a table, JSON or CSV.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{AccessRequest, AttributeValue, RequestStatus};
use crate::store::{AuditEvent, DynStore, RequestFilter, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            other => Err(format!("unknown format {other:?}: use table, json or csv")),
        }
    }
}

/// One request and its trail, as exported.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: String,
    pub status: RequestStatus,
    pub requester: String,
    pub requester_email: Option<String>,
    pub approver: Option<String>,
    pub decided_by: Option<String>,
    pub attribute: String,
    pub value: AttributeValue,
    pub node_id: String,
    pub device: String,
    pub device_owner: String,
    pub device_tags: Vec<String>,
    pub duration_seconds: u64,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub failure_reason: Option<String>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub detail: serde_json::Value,
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

    /// "2026-01-01T10:00:00Z U1 created; 2026-01-01T10:05:00Z U2 approved"
    fn trail(&self) -> String {
        self.events
            .iter()
            .map(|e| {
                format!(
                    "{} {} {}",
                    e.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    e.actor,
                    e.action
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Requests created since `since` (all when `None`) with any of `statuses`, oldest first.
pub async fn collect(
    store: &DynStore,
    since: Option<DateTime<Utc>>,
    statuses: Vec<RequestStatus>,
) -> Result<Vec<Record>, StoreError> {
    let mut requests = store
        .list_requests(&RequestFilter {
            created_since: since,
            statuses,
            ..Default::default()
        })
        .await?;
    requests.reverse();
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        let events = store.audit_events(r.id).await?;
        out.push(Record::new(r, events));
    }
    Ok(out)
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn time(t: &Option<DateTime<Utc>>) -> String {
    t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

pub fn render(records: &[Record], format: Format) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(records)? + "\n"),
        Format::Csv => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record([
                "id",
                "status",
                "requester",
                "requester_email",
                "approver",
                "decided_by",
                "attribute",
                "value",
                "node_id",
                "device",
                "device_owner",
                "device_tags",
                "duration_seconds",
                "reason",
                "created_at",
                "decided_at",
                "expires_at",
                "failure_reason",
                "events",
            ])?;
            for r in records {
                w.write_record([
                    r.id.clone(),
                    r.status.to_string(),
                    r.requester.clone(),
                    opt(&r.requester_email),
                    opt(&r.approver),
                    opt(&r.decided_by),
                    r.attribute.clone(),
                    r.value.to_json().to_string(),
                    r.node_id.clone(),
                    r.device.clone(),
                    r.device_owner.clone(),
                    r.device_tags.join(" "),
                    r.duration_seconds.to_string(),
                    r.reason.clone(),
                    time(&Some(r.created_at)),
                    time(&r.decided_at),
                    time(&r.expires_at),
                    opt(&r.failure_reason),
                    r.trail(),
                ])?;
            }
            Ok(String::from_utf8(w.into_inner()?)?)
        }
        Format::Table => {
            let mut out = String::new();
            writeln!(
                out,
                "{:<36}  {:<9}  {:<11}  {:<11}  {:<24}  {:<20}  {:<20}  TRAIL",
                "REQUEST", "STATUS", "REQUESTER", "DECIDED BY", "ATTRIBUTE", "DEVICE", "CREATED",
            )?;
            for r in records {
                writeln!(
                    out,
                    "{:<36}  {:<9}  {:<11}  {:<11}  {:<24}  {:<20}  {:<20}  {}",
                    r.id,
                    r.status.as_str(),
                    r.requester,
                    opt(&r.decided_by),
                    r.attribute,
                    r.device,
                    time(&Some(r.created_at)),
                    r.trail()
                )?;
            }
            writeln!(out, "{} request(s)", records.len())?;
            Ok(out)
        }
    }
}
