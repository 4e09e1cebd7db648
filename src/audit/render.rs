//! The export as text: JSON (the whole document), CSV (one row per
//! request) or a table for a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::{machine_time, Event, Export, Format, Record};
use crate::domain::AttributeValue;

pub fn render(export: &Export, format: Format) -> anyhow::Result<String> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(export)? + "\n"),
        Format::Csv => csv(&export.requests),
        Format::Table => Ok(table(&export.requests)),
    }
}

/// The CSV header: the JSON record's fields, with the events as
/// `event_count` and `trail`.
pub const CSV_COLUMNS: [&str; 22] = [
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
    "device_os",
    "device_addresses",
    "duration_seconds",
    "reason",
    "created_at",
    "decided_at",
    "expires_at",
    "failure_reason",
    "event_count",
    "trail",
];

fn csv(records: &[Record]) -> anyhow::Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(CSV_COLUMNS)?;
    for r in records {
        let row: [Cow<str>; CSV_COLUMNS.len()] = [
            r.id.as_str().into(),
            r.status.as_str().into(),
            r.requester.as_str().into(),
            text(opt(&r.requester_email)),
            opt(&r.approver).into(),
            opt(&r.decided_by).into(),
            r.attribute.as_str().into(),
            plain_value(&r.value).into(),
            r.node_id.as_str().into(),
            text(&r.device),
            text(&r.device_owner),
            text(&r.device_tags.join(" ")).into_owned().into(),
            text(&r.device_os),
            r.device_addresses.join(" ").into(),
            r.duration_seconds.to_string().into(),
            text(&r.reason),
            machine_time(&r.created_at).into(),
            r.decided_at
                .as_ref()
                .map(machine_time)
                .unwrap_or_default()
                .into(),
            r.expires_at
                .as_ref()
                .map(machine_time)
                .unwrap_or_default()
                .into(),
            text(opt(&r.failure_reason)),
            r.events.len().to_string().into(),
            trail(&r.events, true).into(),
        ];
        // The csv crate quotes fields with commas, quotes and line breaks.
        w.write_record(row.iter().map(|c| c.as_bytes()))?;
    }
    Ok(String::from_utf8(w.into_inner()?)?)
}

/// The events as text, joined by `; `.
/// Full (CSV): every event as `<time> <actor> <action>` with its detail as
/// JSON when there is any. Overview (table): no notifications, no details,
/// times to the second.
fn trail(events: &[Event], full: bool) -> String {
    events
        .iter()
        .filter(|e| full || !e.is_notification())
        .map(|e| {
            if !full {
                return format!("{} {} {}", human_time(&e.at), e.actor, e.action);
            }
            let mut s = format!("{} {} {}", machine_time(&e.at), e.actor, e.action);
            if !is_empty(&e.detail) {
                let _ = write!(s, " {}", e.detail);
            }
            s
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn is_empty(detail: &serde_json::Value) -> bool {
    match detail {
        serde_json::Value::Null => true,
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn opt(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or_default()
}

/// The value as written in the policy file: `true`, `3`, `readonly`.
fn plain_value(v: &AttributeValue) -> String {
    match v {
        AttributeValue::Bool(b) => b.to_string(),
        AttributeValue::Int(i) => i.to_string(),
        AttributeValue::Str(s) => s.clone(),
    }
}

/// Free text from outside (the reason, device names) made safe to open in
/// a spreadsheet: a cell starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would run as a formula, so it gets a leading `'` (the
/// OWASP advice against CSV injection). The JSON export keeps the exact text.
fn text(s: &str) -> Cow<'_, str> {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{s}")),
        _ => Cow::Borrowed(s),
    }
}

const TABLE_HEADER: [&str; 10] = [
    "CREATED",
    "REQUEST",
    "STATUS",
    "REQUESTER",
    "APPROVER",
    "ACCESS",
    "DEVICE",
    "EXPIRES",
    "REASON",
    "TRAIL",
];

/// The longest reason shown in the table; JSON and CSV have it all.
const TABLE_REASON_CHARS: usize = 40;

/// One line per request, columns as wide as their widest cell. Cells are
/// flattened to one line with control characters escaped, so a reason
/// cannot break the layout or send escape sequences to the terminal.
fn table(records: &[Record]) -> String {
    let rows: Vec<[String; TABLE_HEADER.len()]> = records
        .iter()
        .map(|r| {
            [
                human_time(&r.created_at),
                r.id.clone(),
                r.status.as_str().to_owned(),
                r.requester.clone(),
                // Who decided; before a decision, who was asked.
                r.decided_by
                    .clone()
                    .or_else(|| r.approver.clone())
                    .unwrap_or_else(|| "-".into()),
                format!("{}={}", r.attribute, plain_value(&r.value)),
                r.device.clone(),
                r.expires_at
                    .as_ref()
                    .map(human_time)
                    .unwrap_or_else(|| "-".into()),
                shorten(&r.reason, TABLE_REASON_CHARS),
                trail(&r.events, false),
            ]
            .map(|cell| one_line(&cell))
        })
        .collect();
    let mut widths = TABLE_HEADER.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = TABLE_HEADER.map(str::to_owned);
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let pad = width - cell.chars().count();
            let _ = write!(line, "{cell}{:pad$}  ", "");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let _ = writeln!(out, "{} request(s)", records.len());
    out
}

fn human_time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut cut: String = s.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

/// Control characters (line breaks, tabs, ESC) as visible escapes.
fn one_line(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_starts_are_neutralised_and_the_rest_kept() {
        for (raw, cell) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("deploy, \"fix\"\nnow", "deploy, \"fix\"\nnow"),
            ("", ""),
        ] {
            assert_eq!(text(raw), cell);
        }
    }

    #[test]
    fn table_cells_stay_on_one_line_without_escape_sequences() {
        assert_eq!(one_line("a\nb\tc\u{1b}[31m"), "a\\nb\\tc\\u{1b}[31m");
        assert_eq!(one_line("héllo"), "héllo");
    }

    #[test]
    fn long_reasons_are_shortened_on_a_char_boundary() {
        assert_eq!(shorten("ééééé", 5), "ééééé");
        assert_eq!(shorten("éééééé", 5), "éééé…");
    }

    #[test]
    fn plain_values_have_no_quotes() {
        assert_eq!(
            plain_value(&AttributeValue::Str("readonly".into())),
            "readonly"
        );
        assert_eq!(plain_value(&AttributeValue::Bool(true)), "true");
        assert_eq!(plain_value(&AttributeValue::Int(-3)), "-3");
    }

    #[test]
    fn the_csv_trail_is_complete_and_the_table_trail_short() {
        let at = "2026-01-02T03:04:05Z".parse().unwrap();
        let event = |action: &str, detail| Event {
            at,
            actor: "U1".into(),
            action: action.into(),
            detail,
        };
        let events = [
            event("created", serde_json::json!({})),
            event("notified", serde_json::json!({ "to": "U2" })),
            event("failed", serde_json::json!({ "error": "gone" })),
        ];
        assert_eq!(
            trail(&events, true),
            "2026-01-02T03:04:05.000000Z U1 created; \
             2026-01-02T03:04:05.000000Z U1 notified {\"to\":\"U2\"}; \
             2026-01-02T03:04:05.000000Z U1 failed {\"error\":\"gone\"}"
        );
        assert_eq!(
            trail(&events, false),
            "2026-01-02T03:04:05Z U1 created; 2026-01-02T03:04:05Z U1 failed"
        );
    }
}
