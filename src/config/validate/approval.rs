//! A profile's approval policy (`approval`, `approvals_required`,
//! `approval_channel`, `break_glass`, `review_within`, `auto_approve`):
//! each key on its own, then the combinations that cannot work, each
//! reported on the key to change. Whether groups have enough members, and
//! whether `auto_approve` groups exist, needs Slack: `accessbot check
//! --online` says.

use std::time::Duration;

use super::profiles::{approvers, ProfileKeys};
use super::rules::{secs, DurationRule, Problems};
use crate::domain::profile::DEFAULT_REVIEW_WITHIN;
use crate::domain::{ApprovalMode, ApprovalPolicy, ApproverRef, SlackChannelId};

/// Most approvals a profile may require.
pub const MAX_APPROVALS_REQUIRED: i64 = 20;

const REVIEW_WITHIN: DurationRule = DurationRule {
    default: DEFAULT_REVIEW_WITHIN,
    min: secs(60),
    max: secs(30 * 24 * 3600),
};

/// The approval keys as written.
pub(super) struct RawApproval {
    pub approval: Option<String>,
    pub approvals_required: Option<i64>,
    pub approval_channel: Option<String>,
    pub break_glass: Option<bool>,
    pub review_within: Option<String>,
    pub auto_approve: Option<Vec<String>>,
}

/// The rest of the profile, as far as the policy depends on it.
pub(super) struct Context<'a> {
    pub approvers: &'a [ApproverRef],
    pub notify_channel: Option<&'a SlackChannelId>,
}

/// The policy; problems are reported (the profile is then dropped).
pub(super) fn policy(
    p: &mut Problems,
    keys: ProfileKeys,
    raw: RawApproval,
    ctx: Context<'_>,
) -> ApprovalPolicy {
    let explicit = raw.approval.as_ref().map(|_| {
        p.choice(
            &keys.key("approval"),
            &raw.approval,
            ApprovalMode::Chosen,
            ApprovalMode::parse,
            "must be \"chosen\" (the requester picks one approver) or \"any\" (every approver is asked)",
        )
    });
    let required = match raw.approvals_required {
        None => 1,
        Some(n) if (1..=MAX_APPROVALS_REQUIRED).contains(&n) => n as u32,
        Some(n) => {
            p.push(
                &keys.key("approvals_required"),
                Some(&n.to_string()),
                format!("must be between 1 and {MAX_APPROVALS_REQUIRED}"),
            );
            1
        }
    };
    let channel = p.channel_id(&keys.key("approval_channel"), &raw.approval_channel);
    let break_glass = raw.break_glass.unwrap_or(false);
    let review_within = review_within(p, keys, &raw.review_within, break_glass);
    let auto_approve = approvers(
        p,
        keys,
        "auto_approve",
        raw.auto_approve.as_deref().unwrap_or_default(),
    );
    // Asking several approvers, or a channel, means asking every approver.
    let implied = match channel.is_some() || required > 1 {
        true => ApprovalMode::Any,
        false => ApprovalMode::Chosen,
    };
    let mode = explicit.unwrap_or(implied);
    let policy = ApprovalPolicy {
        mode,
        required,
        channel,
        break_glass,
        review_within,
        auto_approve,
    };
    combinations(p, keys, &policy, &ctx);
    policy
}

fn review_within(
    p: &mut Problems,
    keys: ProfileKeys,
    raw: &Option<String>,
    break_glass: bool,
) -> Duration {
    let key = keys.key("review_within");
    if raw.is_some() && !break_glass {
        p.push(&key, raw.as_deref(), "only applies when break_glass = true");
    }
    p.duration(&key, raw, REVIEW_WITHIN)
}

/// People listed by ID or e-mail (a group's size needs Slack), or `None`
/// when a group is listed.
fn listed_people(approvers: &[ApproverRef]) -> Option<usize> {
    approvers
        .iter()
        .all(|a| !matches!(a, ApproverRef::Group(_)))
        .then_some(approvers.len())
}

/// Settings that each make sense but not together.
fn combinations(p: &mut Problems, keys: ProfileKeys, policy: &ApprovalPolicy, ctx: &Context<'_>) {
    let chosen = policy.mode == ApprovalMode::Chosen;
    if chosen && policy.required > 1 {
        p.push(
            &keys.key("approvals_required"),
            Some(&policy.required.to_string()),
            "needs approval = \"any\": with \"chosen\" only the one approver the requester picks is asked",
        );
    }
    if chosen && policy.channel.is_some() {
        p.push(
            &keys.key("approval_channel"),
            policy.channel.as_ref().map(|c| c.as_str()),
            "asks every approver in the channel, so it needs approval = \"any\" (or leave approval out)",
        );
    }
    if !chosen && ctx.approvers.is_empty() && policy.channel.is_none() {
        p.push(
            &keys.key("approval"),
            Some("any"),
            "with no approvers listed (anyone may approve) there is nobody to send the request to: set approval_channel, or list approvers",
        );
    }
    if let Some(people) = listed_people(ctx.approvers).filter(|n| *n > 0) {
        if policy.required as usize > people {
            p.push(
                &keys.key("approvals_required"),
                Some(&policy.required.to_string()),
                format!(
                    "only {people} {} listed in approvers, so no request could ever be approved",
                    if people == 1 {
                        "person is"
                    } else {
                        "people are"
                    }
                ),
            );
        }
    }
    if policy.break_glass {
        let key = keys.key("break_glass");
        if ctx.notify_channel.is_none() {
            p.push(
                &key,
                Some("true"),
                "needs notify_channel: break-glass grants are announced there for review",
            );
        }
        if ctx.approvers.is_empty() {
            p.push(
                &key,
                Some("true"),
                "needs approvers: they review break-glass grants (Acknowledge / Revoke) and are reminded when nobody did",
            );
        }
        if policy.required > 1 || policy.channel.is_some() {
            p.push(
                &key,
                Some("true"),
                "grants without approval, so approvals_required and approval_channel would never apply: remove them, or break_glass",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;
    use crate::domain::{ApprovalMode, ApproverRef};

    const NO_ENV: [(&str, &str); 0] = [];

    fn profile(extra: &str) -> String {
        format!(
            "[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"8h\"\n\
             approvers = [\"U0BOB0001\", \"carol@example.com\"]\n{extra}\n"
        )
    }

    fn problems(toml: &str) -> Vec<String> {
        match Config::from_toml(toml, &NO_ENV) {
            Ok(_) => vec![],
            Err(e) => e.problems(),
        }
    }

    fn assert_problem(extra: &str, expected: &str) {
        let p = problems(&profile(extra));
        assert_eq!(p.len(), 1, "one problem expected for {extra:?}: {p:#?}");
        assert!(p[0].contains(expected), "{:?} lacks {expected:?}", p[0]);
    }

    #[test]
    fn the_defaults_are_todays_behaviour() {
        let c = Config::from_toml(&profile(""), &NO_ENV).unwrap();
        let a = &c.profiles[0].approval;
        assert_eq!(a.mode, ApprovalMode::Chosen);
        assert_eq!(a.required, 1);
        assert_eq!(a.channel, None);
        assert!(!a.break_glass);
        assert_eq!(a.review_within, Duration::from_secs(3600));
        assert!(a.auto_approve.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let toml = profile(
            "approval = \"any\"\napprovals_required = 2\napproval_channel = \"C0APPROVAL\"\n\
             auto_approve = [\"@sre-oncall\", \"Dave@Example.com\"]",
        );
        let c = Config::from_toml(&toml, &NO_ENV).unwrap();
        let a = &c.profiles[0].approval;
        assert_eq!(a.mode, ApprovalMode::Any);
        assert_eq!(a.required, 2);
        assert_eq!(a.channel.as_ref().unwrap().as_str(), "C0APPROVAL");
        assert_eq!(
            a.auto_approve,
            vec![
                ApproverRef::Group("sre-oncall".into()),
                ApproverRef::Email("dave@example.com".into())
            ]
        );
        let glass =
            profile("break_glass = true\nreview_within = \"30m\"\nnotify_channel = \"C0NOTIFY1\"");
        let c = Config::from_toml(&glass, &NO_ENV).unwrap();
        assert!(c.profiles[0].approval.break_glass);
        assert_eq!(
            c.profiles[0].approval.review_within,
            Duration::from_secs(1800)
        );
    }

    #[test]
    fn several_approvals_or_a_channel_mean_every_approver_is_asked() {
        for extra in [
            "approvals_required = 2",
            "approval_channel = \"C0APPROVAL\"",
        ] {
            let c = Config::from_toml(&profile(extra), &NO_ENV).unwrap();
            assert_eq!(c.profiles[0].approval.mode, ApprovalMode::Any, "{extra}");
            assert!(!c.profiles[0].asks_for_approver());
        }
    }

    #[test]
    fn inconsistent_policies_are_refused_on_the_key_to_change() {
        for (extra, expected) in [
            (
                "approval = \"chosen\"\napprovals_required = 2",
                "profiles[0].approvals_required \"2\": needs approval = \"any\"",
            ),
            (
                "approval = \"chosen\"\napproval_channel = \"C0APPROVAL\"",
                "profiles[0].approval_channel \"C0APPROVAL\": asks every approver",
            ),
            (
                "approvals_required = 3",
                "profiles[0].approvals_required \"3\": only 2 people are listed",
            ),
            (
                "break_glass = true",
                "profiles[0].break_glass \"true\": needs notify_channel",
            ),
            (
                "review_within = \"1h\"",
                "profiles[0].review_within \"1h\": only applies when break_glass = true",
            ),
            (
                "break_glass = true\nnotify_channel = \"C0NOTIFY1\"\napprovals_required = 2",
                "would never apply",
            ),
            ("approvals_required = 0", "must be between 1 and 20"),
            ("approvals_required = 21", "must be between 1 and 20"),
            ("approval = \"all\"", "must be \"chosen\""),
            ("approval_channel = \"#approvals\"", "must be a channel ID"),
            (
                "auto_approve = [\"@sre\", \"@sre\"]",
                "profiles[0].auto_approve[1] \"@sre\": is listed twice",
            ),
            ("auto_approve = [\"alice\"]", "profiles[0].auto_approve[0]"),
        ] {
            assert_problem(extra, expected);
        }
    }

    #[test]
    fn nobody_to_ask_or_to_review_is_refused() {
        let anyone = "[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"8h\"\n";
        let p = problems(&format!("{anyone}approval = \"any\"\n"));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("nobody to send the request to"), "{}", p[0]);
        // Anyone may approve in a channel.
        assert!(problems(&format!("{anyone}approval_channel = \"C0APPROVAL\"\n")).is_empty());
        let p = problems(&format!(
            "{anyone}break_glass = true\nnotify_channel = \"C0NOTIFY1\"\n"
        ));
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("needs approvers"), "{}", p[0]);
        // With a group, the count needs Slack: check --online says.
        let group = "approvers = [\"@sre\"]\napprovals_required = 5\n";
        assert!(problems(&format!("{anyone}{group}")).is_empty());
    }
}
