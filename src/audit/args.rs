//! The export's options as typed values: `--format`, `--since`, `--status`.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};

use crate::domain::RequestStatus;

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

/// `--since`: how far back (`7d`, `24h`, `90m`, `2weeks`), or where to
/// start (`2026-01-31`, midnight UTC, or an RFC 3339 time such as
/// `2026-01-31T09:00:00Z`).
pub fn parse_since(raw: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let raw = raw.trim();
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(date.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(raw) {
        return Ok(t.with_timezone(&Utc));
    }
    let back = humantime::parse_duration(raw).map_err(|e| {
        format!(
            "{raw:?} is neither a duration such as 7d or 24h ({e}) nor a date such as \
             2026-01-31 or 2026-01-31T09:00:00Z"
        )
    })?;
    chrono::Duration::from_std(back)
        .ok()
        .and_then(|back| now.checked_sub_signed(back))
        .ok_or_else(|| format!("{raw:?} reaches back further than any date"))
}

/// `--status`: status names, each value possibly a comma-separated list.
/// Empty means every status; duplicates are dropped.
pub fn parse_statuses(values: &[String]) -> Result<Vec<RequestStatus>, String> {
    let mut wanted = Vec::new();
    for name in values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let status = RequestStatus::parse(name).ok_or_else(|| {
            let all: Vec<&str> = RequestStatus::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown status {name:?}: use one of {}", all.join(", "))
        })?;
        if !wanted.contains(&status) {
            wanted.push(status);
        }
    }
    Ok(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-03-10T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn since_takes_durations_dates_and_times() {
        let at = |s: &str| parse_since(s, now()).unwrap().to_rfc3339();
        assert_eq!(at("7d"), "2026-03-03T12:00:00+00:00");
        assert_eq!(at("36h"), "2026-03-09T00:00:00+00:00");
        assert_eq!(at(" 2026-01-31 "), "2026-01-31T00:00:00+00:00");
        assert_eq!(at("2026-01-31T09:30:00+02:00"), "2026-01-31T07:30:00+00:00");
    }

    #[test]
    fn a_bad_since_says_what_would_do() {
        for bad in ["", "7", "seven days", "-7d", "2026-13-01", "7x"] {
            let e = parse_since(bad, now()).unwrap_err();
            assert!(e.contains("7d") && e.contains("2026-01-31"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn a_since_beyond_any_date_is_an_error_not_a_panic() {
        let e = parse_since("500000years", now()).unwrap_err();
        assert!(e.contains("further than any date"), "{e}");
    }

    #[test]
    fn statuses_split_on_commas_and_repeat() {
        let got =
            parse_statuses(&["denied, cancelled".into(), "denied".into(), "".into()]).unwrap();
        assert_eq!(got, vec![RequestStatus::Denied, RequestStatus::Cancelled]);
        assert_eq!(parse_statuses(&[]).unwrap(), vec![]);
    }

    #[test]
    fn an_unknown_status_lists_the_known_ones() {
        let e = parse_statuses(&["approve".into()]).unwrap_err();
        assert!(e.contains("\"approve\""), "{e}");
        assert!(e.contains("timed_out") && e.contains("pending"), "{e}");
    }

    #[test]
    fn formats_parse_by_name() {
        assert_eq!("csv".parse::<Format>(), Ok(Format::Csv));
        assert!("xml"
            .parse::<Format>()
            .unwrap_err()
            .contains("table, json or csv"));
    }
}
