//! `[[profiles]]`: each entry on its own, then the rules across entries.
//! A new profile key is one line in [`profile`], using the value rules of
//! [`Problems`] and [`ProfileKeys`] for its name.

use super::super::raw::RawProfile;
use super::rules::{DurationRule, Problems};
use crate::domain::attribute::AttributeValueError;
use crate::domain::profile::{MAX_MAX_DURATION, MIN_MAX_DURATION};
use crate::domain::{ApproverRef, AttributeKey, AttributeValue, DevicePolicy, Profile};

/// Longest profile description: it is shown as a select option (Slack: 75 chars).
const MAX_DESCRIPTION_LEN: usize = 75;

const MAX_DURATION: DurationRule = DurationRule {
    default: MIN_MAX_DURATION,
    min: MIN_MAX_DURATION,
    max: MAX_MAX_DURATION,
};

/// Every valid profile; a problem for each invalid one, for none at all,
/// and for an attribute two profiles share.
pub(super) fn profiles(p: &mut Problems, raw: Vec<RawProfile>) -> Vec<Profile> {
    if raw.is_empty() {
        p.push(
            "profiles",
            None,
            "at least one [[profiles]] entry is required",
        );
    }
    let mut profiles: Vec<Profile> = Vec::new();
    for (i, rp) in raw.into_iter().enumerate() {
        let Some(profile) = profile(p, ProfileKeys(i), rp) else {
            continue;
        };
        if let Some(prev) = profiles
            .iter()
            .position(|q| q.attribute.same_key(&profile.attribute))
        {
            p.push(
                &format!("profiles[{i}].attribute"),
                Some(profile.attribute.as_str()),
                format!("is already used by profiles[{prev}] (keys are case-insensitive)"),
            );
        }
        profiles.push(profile);
    }
    profiles
}

/// Names the keys of the `i`th profile: `profiles[i].field`.
#[derive(Clone, Copy)]
pub(super) struct ProfileKeys(usize);

impl ProfileKeys {
    pub fn key(self, field: &str) -> String {
        format!("profiles[{}].{field}", self.0)
    }

    /// An entry of a list: `profiles[i].field[j]`.
    pub fn entry(self, field: &str, j: usize) -> String {
        format!("profiles[{}].{field}[{j}]", self.0)
    }
}

/// One `[[profiles]]` entry; `None` when it has problems (all reported).
fn profile(p: &mut Problems, keys: ProfileKeys, rp: RawProfile) -> Option<Profile> {
    let before = p.count();
    let attribute = attribute(p, keys, &rp.attribute);
    let description = rp.description.unwrap_or_default().trim().to_owned();
    if description.chars().count() > MAX_DESCRIPTION_LEN {
        p.push(
            &keys.key("description"),
            Some(&description),
            format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
        );
    }
    let max_duration_key = keys.key("max_duration");
    let max_duration = match p.required(&max_duration_key, &rp.max_duration, "\"8h\"") {
        Some(_) => p.duration(&max_duration_key, &rp.max_duration, MAX_DURATION),
        None => MIN_MAX_DURATION,
    };
    let approvers = approvers(
        p,
        keys,
        "approvers",
        rp.approvers.as_deref().unwrap_or_default(),
    );
    let can_self_approve = rp.can_self_approve.unwrap_or(false);
    let confirm_self_approval = rp.confirm_self_approval.unwrap_or(false);
    let allow_guests = rp.allow_guests.unwrap_or(false);
    if confirm_self_approval && !can_self_approve {
        p.push(
            &keys.key("confirm_self_approval"),
            Some("true"),
            "only applies when can_self_approve = true",
        );
    }
    let notify_channel = p.channel_id(&keys.key("notify_channel"), &rp.notify_channel);
    let devices = p.choice(
        &keys.key("devices"),
        &rp.devices,
        DevicePolicy::Own,
        DevicePolicy::parse,
        "must be one of \"own\", \"own_and_tagged\", \"any\"",
    );
    let value = value(p, keys, rp.value);
    let extend_without_approval =
        extend_without_approval(p, keys, &rp.extend_without_approval, max_duration);
    let approval = super::approval::policy(
        p,
        keys,
        super::approval::RawApproval {
            approval: rp.approval,
            approvals_required: rp.approvals_required,
            approval_channel: rp.approval_channel,
            break_glass: rp.break_glass,
            review_within: rp.review_within,
            auto_approve: rp.auto_approve,
        },
        super::approval::Context {
            approvers: &approvers,
            notify_channel: notify_channel.as_ref(),
        },
    );

    if p.count() > before {
        return None;
    }
    Some(Profile {
        attribute: attribute?,
        description,
        max_duration,
        approvers,
        can_self_approve,
        confirm_self_approval,
        notify_channel,
        devices,
        value,
        allow_guests,
        approval,
        extend_without_approval,
    })
}

/// Extra time a grant may get without a new approval: at least a minute,
/// and no more than `max_duration` (the most a grant can ever last
/// without one).
fn extend_without_approval(
    p: &mut Problems,
    keys: ProfileKeys,
    raw: &Option<String>,
    max_duration: std::time::Duration,
) -> Option<std::time::Duration> {
    let key = keys.key("extend_without_approval");
    let extra = p.duration_in_range(&key, raw.as_deref()?, MIN_MAX_DURATION, MAX_MAX_DURATION)?;
    if extra > max_duration {
        p.push(
            &key,
            raw.as_deref(),
            format!(
                "is more than max_duration ({}): a grant never lasts longer than that without a new approval",
                crate::domain::profile::format_duration(max_duration)
            ),
        );
    }
    Some(extra)
}

fn attribute(p: &mut Problems, keys: ProfileKeys, raw: &Option<String>) -> Option<AttributeKey> {
    let key = keys.key("attribute");
    let raw = p.required(&key, raw, "\"custom:prodAccess\"")?;
    AttributeKey::parse(raw)
        .map_err(|e| p.push(&key, Some(raw), e))
        .ok()
}

/// The people (`approvers`, `auto_approve`) that parse, each once; every
/// other entry is reported.
pub(super) fn approvers(
    p: &mut Problems,
    keys: ProfileKeys,
    field: &str,
    raw: &[String],
) -> Vec<ApproverRef> {
    let mut approvers = Vec::new();
    for (j, a) in raw.iter().enumerate() {
        match ApproverRef::parse(a) {
            Ok(r) if approvers.contains(&r) => {
                p.push(&keys.entry(field, j), Some(a), "is listed twice")
            }
            Ok(r) => approvers.push(r),
            Err(rule) => p.push(&keys.entry(field, j), Some(a), rule),
        }
    }
    approvers
}

/// The value to set: a TOML boolean, integer or string within Tailscale's
/// rules; `true` when absent.
fn value(p: &mut Problems, keys: ProfileKeys, raw: Option<toml::Value>) -> AttributeValue {
    let Some(raw) = raw else {
        return AttributeValue::default();
    };
    let parsed = match &raw {
        toml::Value::Boolean(b) => Ok(AttributeValue::Bool(*b)),
        toml::Value::Integer(n) => AttributeValue::int(*n),
        toml::Value::String(s) => AttributeValue::string(s),
        _ => Err(AttributeValueError::WrongType),
    };
    parsed
        .map_err(|e| p.push(&keys.key("value"), Some(&raw.to_string()), e))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::config::Config;

    const NO_ENV: [(&str, &str); 0] = [];

    fn config(extra: &str) -> Result<Config, Vec<String>> {
        let toml =
            format!("[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"8h\"\n{extra}\n");
        Config::from_toml(&toml, &NO_ENV).map_err(|e| e.problems())
    }

    #[test]
    fn extend_without_approval_is_a_duration_up_to_max_duration() {
        let absent = config("").unwrap();
        assert_eq!(absent.profiles[0].extend_without_approval, None);
        let set = config("extend_without_approval = \"1h\"").unwrap();
        assert_eq!(
            set.profiles[0].extend_without_approval,
            Some(Duration::from_secs(3600))
        );
        for (raw, rule) in [
            ("9h", "is more than max_duration (8h)"),
            ("30s", "must be between"),
            ("soon", "not a duration"),
        ] {
            let problems = config(&format!("extend_without_approval = \"{raw}\"")).unwrap_err();
            assert_eq!(problems.len(), 1, "{problems:#?}");
            assert!(
                problems[0].starts_with(&format!("profiles[0].extend_without_approval \"{raw}\"")),
                "{problems:#?}"
            );
            assert!(problems[0].contains(rule), "{problems:#?}");
        }
    }
}
