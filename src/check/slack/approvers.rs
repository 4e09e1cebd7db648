//! Every configured approver resolves to a person who can approve.

use futures::StreamExt;
use tokio::sync::OnceCell;

use super::{call_failure, Check, Failure};
use crate::config::Config;
use crate::domain::ApproverRef;
use crate::slack::api::{SlackApi, SlackResult};

/// Approver lookups in flight at once: quick, yet far below Slack's rate limits.
const LOOKUPS_IN_FLIGHT: usize = 4;

pub(super) async fn checks(api: &SlackApi, config: &Config) -> Vec<Check> {
    let groups = OnceCell::new();
    let entries: Vec<(String, &ApproverRef)> = config
        .profiles
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.approvers
                .iter()
                .enumerate()
                .map(move |(j, a)| (format!("profiles[{i}].approvers[{j}]"), a))
        })
        .collect();
    futures::stream::iter(entries)
        .map(|(key, approver)| {
            let groups = &groups;
            async move {
                let name = format!("{key} {approver}");
                match approver_result(api, groups, &key, approver, "approve").await {
                    Ok(detail) => Check::pass(name, detail),
                    Err(f) => Check::failed(name, f),
                }
            }
        })
        .buffered(LOOKUPS_IN_FLIGHT)
        .collect()
        .await
}

/// Why a Slack user cannot approve, if they cannot.
pub(super) fn unusable(
    user: &crate::slack::api::SlackUserInfo,
    key: &str,
) -> Result<String, Failure> {
    let who = format!("{} ({})", user.name, user.id);
    if user.deleted {
        Err(Failure {
            problem: format!("{who} is deactivated in Slack"),
            fix: format!("replace {key} with someone who can approve"),
        })
    } else if user.is_bot {
        Err(Failure {
            problem: format!("{who} is a bot, which cannot approve"),
            fix: format!("replace {key} with a person"),
        })
    } else {
        Ok(who)
    }
}

/// Whether `approver` names someone who can `purpose` ("approve", "be
/// approved automatically").
pub(super) async fn approver_result(
    api: &SlackApi,
    groups: &OnceCell<SlackResult<Vec<(String, String)>>>,
    key: &str,
    approver: &ApproverRef,
    purpose: &str,
) -> Result<String, Failure> {
    match approver {
        ApproverRef::Email(email) => match api.lookup_by_email(email).await {
            Ok(Some(user)) => unusable(&user, key),
            Ok(None) => Err(Failure {
                problem: "no Slack user has this e-mail".into(),
                fix: format!(
                    "correct {key}: it must be the e-mail of the person's Slack account (their profile shows it), or use their Slack member ID (profile → ⋮ → Copy member ID)"
                ),
            }),
            Err(e) => Err(call_failure(&e, "users.lookupByEmail", "users:read.email")),
        },
        ApproverRef::User(id) => match api.user_info(id.as_str()).await {
            Ok(user) => unusable(&user, key),
            Err(e) if e.code() == Some("user_not_found") => Err(Failure {
                problem: "no Slack user has this ID".into(),
                fix: format!(
                    "correct {key} (Slack: the person's profile → ⋮ → Copy member ID), or use their e-mail"
                ),
            }),
            Err(e) => Err(call_failure(&e, "users.info", "users:read")),
        },
        ApproverRef::Group(handle) => {
            let Some(id) = group_id(api, groups, handle).await? else {
                return Err(Failure {
                    problem: format!("no Slack user group has the handle @{handle}"),
                    fix: format!(
                        "correct {key} to an existing group's handle (Slack: People → User groups), or create the group"
                    ),
                });
            };
            match api.usergroup_members(&id).await {
                Ok(members) if members.is_empty() => Err(Failure {
                    problem: format!("the group @{handle} has no members, so nobody can {purpose} through it"),
                    fix: format!("add the people to @{handle} in Slack (People → User groups)"),
                }),
                Ok(members) => Ok(format!("user group {id} with {} member(s)", members.len())),
                Err(e) => Err(call_failure(&e, "usergroups.users.list", "usergroups:read")),
            }
        }
    }
}

/// The ID of the user group with this handle (`None`: no such group),
/// from one `usergroups.list` shared by all checks.
pub(super) async fn group_id(
    api: &SlackApi,
    groups: &OnceCell<SlackResult<Vec<(String, String)>>>,
    handle: &str,
) -> Result<Option<String>, Failure> {
    let all = groups.get_or_init(|| api.usergroups()).await;
    let all = all
        .as_ref()
        .map_err(|e| call_failure(e, "usergroups.list", "usergroups:read"))?;
    Ok(all
        .iter()
        .find(|(_, h)| h.eq_ignore_ascii_case(handle))
        .map(|(id, _)| id.clone()))
}
