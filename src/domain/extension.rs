//! Extending an active grant, decided without I/O: who may, by how much,
//! whether it needs a new approval, who is asked, and how far an approved
//! extension reaches.
//!
//! A profile's `extend_without_approval` is the extra time a grant may get
//! *in all* without a new approval (so repeated clicks cannot stretch a
//! grant an approver shortened), and only within `max_duration` counted
//! from the grant's approval. Anything more needs an approval, and then
//! reaches at most `max_duration` past that approval.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};

use super::approval::{self, Requester};
use super::policy::{ApprovalPlan, ApproverError, EligibleApprovers};
use super::profile::format_duration;
use super::{AccessRequest, ApprovalMode, Profile, RequestStatus, SlackUserId};

/// The Extend form's questions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExtendField {
    /// How much longer (seconds).
    Extra,
    Reason,
}

/// Problems to show next to the Extend form's questions.
pub type ExtendErrors = BTreeMap<ExtendField, String>;

/// How an extension that may be made goes ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// Within `extend_without_approval` and the original window: at once.
    WithoutApproval { until: DateTime<Utc> },
    /// A new approval decides; approved as asked, the grant lasts until `until`.
    NeedsApproval { until: DateTime<Utc> },
}

/// Why an extension cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("Only the person who requested this access can extend it.")]
    NotRequester,
    #[error("This access is {0}: only active access can be extended.")]
    NotActive(String),
    #[error("This access has ended: request it again instead.")]
    Ended,
    #[error("This access is no longer offered, so it cannot be extended.")]
    NoProfile,
    #[error("Please choose one of the offered durations.")]
    NotOffered,
    #[error("{name} lasts at most {max} from an approval: approved now, this access could last until {latest} at the latest. Please choose a shorter extension.")]
    TooLong {
        name: String,
        max: String,
        latest: String,
    },
    #[error("This access already lasts as long as {name} can ({max} from an approval, until {latest}): it cannot be extended now.")]
    AtTheLimit {
        name: String,
        max: String,
        latest: String,
    },
}

/// A time in plain text (form errors show no Slack dates).
pub fn plain_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn after(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    (at + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::zero())).trunc_subsecs(0)
}

/// The grant's expiry, if `clicker` may extend it at `now`.
fn extendable(
    grant: &AccessRequest,
    clicker: &SlackUserId,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Refusal> {
    if &grant.requester != clicker {
        return Err(Refusal::NotRequester);
    }
    if grant.status != RequestStatus::Active || grant.is_extension() {
        return Err(Refusal::NotActive(grant.status.describe()));
    }
    match grant.expires_at {
        Some(until) if until > now => Ok(until),
        _ => Err(Refusal::Ended),
    }
}

/// The durations the Extend form offers: the profile's, as far as an
/// approval given now could allow them. None: nothing can be added now.
pub fn offered(
    grant: &AccessRequest,
    clicker: &SlackUserId,
    profile: &Profile,
    now: DateTime<Utc>,
) -> Result<Vec<Duration>, Refusal> {
    let until = extendable(grant, clicker, now)?;
    let latest = after(now, profile.max_duration);
    let durations: Vec<Duration> = profile
        .allowed_durations()
        .into_iter()
        .filter(|d| after(until, *d) <= latest)
        .collect();
    if durations.is_empty() {
        return Err(Refusal::AtTheLimit {
            name: profile.display_name().to_owned(),
            max: format_duration(profile.max_duration),
            latest: plain_time(latest),
        });
    }
    Ok(durations)
}

/// May `clicker` extend `grant` by `extra` at `now`, and how? `used` is
/// the extra time the grant already got without approval.
pub fn check(
    grant: &AccessRequest,
    clicker: &SlackUserId,
    profile: &Profile,
    used: Duration,
    extra: Duration,
    now: DateTime<Utc>,
) -> Result<Path, Refusal> {
    let current = extendable(grant, clicker, now)?;
    if !profile.allows_duration(extra) {
        return Err(Refusal::NotOffered);
    }
    let until = after(current, extra);
    let window = grant.decided_at.map(|d| after(d, profile.max_duration));
    let free = profile
        .extend_without_approval
        .is_some_and(|budget| used + extra <= budget)
        && window.is_some_and(|w| until <= w);
    if free {
        return Ok(Path::WithoutApproval { until });
    }
    let latest = after(now, profile.max_duration);
    if until > latest {
        return Err(Refusal::TooLong {
            name: profile.display_name().to_owned(),
            max: format_duration(profile.max_duration),
            latest: plain_time(latest),
        });
    }
    Ok(Path::NeedsApproval { until })
}

/// How far an approved extension takes the grant that now lasts until
/// `grant_until`: `extra` more, but never past `approved_at` +
/// `max_duration`. `None` when that adds nothing.
pub fn approved_until(
    grant_until: DateTime<Utc>,
    extra: Duration,
    approved_at: DateTime<Utc>,
    max_duration: Duration,
) -> Option<DateTime<Utc>> {
    let until = after(grant_until, extra).min(after(approved_at, max_duration));
    (until > grant_until).then_some(until)
}

/// Who approves an extension: the profile's policy, as for any request,
/// except that with a chosen approver the grant's decider is asked again
/// while still eligible (else every approver is), and that a break-glass
/// profile's approvers decide (breaking the glass grants access in an
/// emergency; keeping it longer is not one).
pub fn plan(
    profile: &Profile,
    eligible: &EligibleApprovers,
    requester: Requester<'_>,
    decider: Option<&SlackUserId>,
) -> Result<ApprovalPlan, ApproverError> {
    if profile.approval.break_glass {
        return Ok(ApprovalPlan::AskApprovers);
    }
    if requester.auto_approved {
        return Ok(ApprovalPlan::AutoApproved);
    }
    let chosen_alone =
        profile.approval.mode == ApprovalMode::Chosen && profile.approval.required <= 1;
    if chosen_alone {
        if let Some(plan) =
            decider.and_then(|d| approval::plan(profile, eligible, requester, Some(d)).ok())
        {
            return Ok(plan);
        }
        return match approval::may_self_approve(profile, eligible, requester.id) {
            true if !profile.confirm_self_approval => Ok(ApprovalPlan::SelfApproved),
            _ => Ok(ApprovalPlan::AskApprovers),
        };
    }
    approval::plan(profile, eligible, requester, None)
}

#[cfg(test)]
mod tests;
