//! Access profiles: what can be requested, for how long, approved by whom.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use super::attribute::{AttributeKey, AttributeValue};
use super::ids::{SlackChannelId, SlackUserId};

/// Shortest and longest `max_duration` a profile may have.
pub const MIN_MAX_DURATION: Duration = Duration::from_secs(60);
pub const MAX_MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Durations offered in the request form (5 minutes … 7 days), filtered by
/// each profile's `max_duration`.
pub const DURATION_PRESETS: &[Duration] = &[
    Duration::from_secs(5 * 60),
    Duration::from_secs(15 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(3600),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(4 * 3600),
    Duration::from_secs(8 * 3600),
    Duration::from_secs(12 * 3600),
    Duration::from_secs(24 * 3600),
    Duration::from_secs(3 * 24 * 3600),
    Duration::from_secs(7 * 24 * 3600),
];

/// Which devices a profile may be requested for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DevicePolicy {
    /// Only untagged devices owned by the requester.
    #[default]
    Own,
    /// The requester's own devices and tagged (server) devices.
    OwnAndTagged,
    /// Any device in the tailnet.
    Any,
}

impl DevicePolicy {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "own" => Some(Self::Own),
            "own_and_tagged" => Some(Self::OwnAndTagged),
            "any" => Some(Self::Any),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::OwnAndTagged => "own_and_tagged",
            Self::Any => "any",
        }
    }
}

/// One entry of a profile's `approvers` list.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum ApproverRef {
    /// A Slack user found by e-mail (stored lower-case).
    Email(String),
    /// A Slack user ID.
    User(SlackUserId),
    /// A Slack user group by handle, without the `@`.
    Group(String),
}

impl ApproverRef {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let raw = raw.trim();
        if let Some(handle) = raw.strip_prefix('@') {
            let ok = !handle.is_empty()
                && handle.len() <= 80
                && handle
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            return if ok {
                Ok(Self::Group(handle.to_ascii_lowercase()))
            } else {
                Err("a user-group handle is @ followed by letters, digits, '-', '_' or '.'")
            };
        }
        if raw.contains('@') {
            return if is_plausible_email(raw) {
                Ok(Self::Email(raw.to_ascii_lowercase()))
            } else {
                Err("not a valid e-mail address")
            };
        }
        SlackUserId::parse(raw).map(Self::User).map_err(|_| {
            "must be an e-mail, a Slack user ID (U…/W…) or a user-group handle (@name)"
        })
    }
}

impl fmt::Display for ApproverRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Email(e) => f.write_str(e),
            Self::User(u) => write!(f, "{u}"),
            Self::Group(g) => write!(f, "@{g}"),
        }
    }
}

fn is_plausible_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && s.len() <= 254
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c == '<' || c == '>')
        && !domain.contains('@')
}

/// Who is asked to approve a profile's requests (`approval`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalMode {
    /// The requester picks one approver in the form; only they decide.
    #[default]
    Chosen,
    /// Every eligible approver is asked; the first eligible clicks decide.
    Any,
}

impl ApprovalMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "chosen" => Some(Self::Chosen),
            "any" => Some(Self::Any),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Chosen => "chosen",
            Self::Any => "any",
        }
    }
}

/// How long after a break-glass grant its approvers are reminded to review
/// it, unless the profile says otherwise.
pub const DEFAULT_REVIEW_WITHIN: Duration = Duration::from_secs(3600);

/// A profile's approval policy: who is asked, how many must approve,
/// where, and who needs no approval at all.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApprovalPolicy {
    pub mode: ApprovalMode,
    /// Distinct approvers that must approve (`approvals_required`, ≥ 1);
    /// the requester never counts towards more than one.
    pub required: u32,
    /// Requests are posted there with Approve / Deny instead of DMs.
    pub channel: Option<SlackChannelId>,
    /// The requester may grant themselves at once, announced and reviewed afterwards.
    pub break_glass: bool,
    /// Break-glass: the approvers are reminded when nobody acknowledged within this.
    #[serde(with = "humantime_serde_compat")]
    pub review_within: Duration,
    /// Requesters approved without a click.
    pub auto_approve: Vec<ApproverRef>,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            mode: ApprovalMode::Chosen,
            required: 1,
            channel: None,
            break_glass: false,
            review_within: DEFAULT_REVIEW_WITHIN,
            auto_approve: Vec::new(),
        }
    }
}

/// A validated access profile from the config.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    pub attribute: AttributeKey,
    pub description: String,
    #[serde(with = "humantime_serde_compat")]
    pub max_duration: Duration,
    pub approvers: Vec<ApproverRef>,
    pub can_self_approve: bool,
    pub confirm_self_approval: bool,
    pub notify_channel: Option<SlackChannelId>,
    pub devices: DevicePolicy,
    pub value: AttributeValue,
    /// Restricted and ultra-restricted (guest) Slack users may request it.
    pub allow_guests: bool,
    pub approval: ApprovalPolicy,
    /// Extra time an active grant may get in all without a new approval
    /// (`extend_without_approval`); `None`: every extension needs one.
    #[serde(with = "humantime_serde_compat::option")]
    pub extend_without_approval: Option<Duration>,
}

impl Profile {
    /// The name people see: the description, or the attribute without its prefix.
    pub fn display_name(&self) -> &str {
        if self.description.is_empty() {
            self.attribute.name()
        } else {
            &self.description
        }
    }

    /// Durations offered for this profile: the presets up to `max_duration`,
    /// plus `max_duration` itself when it is not a preset.
    pub fn allowed_durations(&self) -> Vec<Duration> {
        let mut out: Vec<Duration> = DURATION_PRESETS
            .iter()
            .copied()
            .filter(|d| *d <= self.max_duration)
            .collect();
        if !out.contains(&self.max_duration) {
            out.push(self.max_duration);
        }
        out
    }

    pub fn allows_duration(&self, d: Duration) -> bool {
        self.allowed_durations().contains(&d)
    }

    /// Does the form ask who should approve? Not when every approver is
    /// asked, nor when the requester grants it themselves (break glass).
    pub fn asks_for_approver(&self) -> bool {
        self.approval.mode == ApprovalMode::Chosen && !self.approval.break_glass
    }
}

/// Human text for a duration: "5m", "8h", "1day", "1h 30m".
pub fn format_duration(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

mod humantime_serde_compat {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }

    pub mod option {
        use std::time::Duration;

        pub fn serialize<S: serde::Serializer>(
            d: &Option<Duration>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, s),
                None => s.serialize_none(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(max: Duration) -> Profile {
        Profile {
            attribute: AttributeKey::parse("custom:prod").unwrap(),
            description: "Production".into(),
            max_duration: max,
            approvers: vec![],
            can_self_approve: false,
            confirm_self_approval: false,
            notify_channel: None,
            devices: DevicePolicy::Own,
            value: AttributeValue::default(),
            allow_guests: false,
            approval: ApprovalPolicy::default(),
            extend_without_approval: None,
        }
    }

    #[test]
    fn approval_modes_parse_their_names() {
        for m in [ApprovalMode::Chosen, ApprovalMode::Any] {
            assert_eq!(ApprovalMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(ApprovalMode::parse("all"), None);
        let mut p = profile(Duration::from_secs(3600));
        assert!(p.asks_for_approver());
        p.approval.mode = ApprovalMode::Any;
        assert!(!p.asks_for_approver());
        p.approval.mode = ApprovalMode::Chosen;
        p.approval.break_glass = true;
        assert!(!p.asks_for_approver());
    }

    #[test]
    fn durations_are_capped_by_max() {
        let p = profile(Duration::from_secs(8 * 3600));
        let d = p.allowed_durations();
        assert_eq!(d.first(), Some(&Duration::from_secs(300)));
        assert_eq!(d.last(), Some(&Duration::from_secs(8 * 3600)));
        assert!(!p.allows_duration(Duration::from_secs(12 * 3600)));
        assert!(p.allows_duration(Duration::from_secs(3600)));
        assert!(!p.allows_duration(Duration::from_secs(3601)));
    }

    #[test]
    fn an_odd_max_is_offered_too() {
        let p = profile(Duration::from_secs(90 * 60));
        assert_eq!(
            p.allowed_durations().last(),
            Some(&Duration::from_secs(5400))
        );
        let p = profile(Duration::from_secs(60));
        assert_eq!(p.allowed_durations(), vec![Duration::from_secs(60)]);
    }

    #[test]
    fn approver_refs_parse() {
        assert_eq!(
            ApproverRef::parse("Alice@Example.com"),
            Ok(ApproverRef::Email("alice@example.com".into()))
        );
        assert_eq!(
            ApproverRef::parse("U024BE7LH"),
            Ok(ApproverRef::User(SlackUserId::parse("U024BE7LH").unwrap()))
        );
        assert_eq!(
            ApproverRef::parse("@sre-oncall"),
            Ok(ApproverRef::Group("sre-oncall".into()))
        );
        for bad in ["alice", "@", "@a b", "alice@", "a@b", "u024", "x@@y.com"] {
            assert!(ApproverRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_policy_parses_the_three_names() {
        for p in [
            DevicePolicy::Own,
            DevicePolicy::OwnAndTagged,
            DevicePolicy::Any,
        ] {
            assert_eq!(DevicePolicy::parse(p.as_str()), Some(p));
        }
        assert_eq!(DevicePolicy::parse("all"), None);
    }

    #[test]
    fn durations_format_for_people() {
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(8 * 3600)), "8h");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h 30m");
    }
}
