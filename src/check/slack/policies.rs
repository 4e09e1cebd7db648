//! The approval policies that only Slack can confirm: enough people to
//! give `approvals_required` distinct approvals (groups resolved to their
//! members), and every `auto_approve` entry naming someone who exists.

use std::collections::BTreeSet;

use tokio::sync::OnceCell;

use super::approvers::{approver_result, group_id};
use super::{call_failure, Check, Failure};
use crate::config::Config;
use crate::domain::{ApproverRef, Profile};
use crate::slack::api::{SlackApi, SlackResult};

type Groups = OnceCell<SlackResult<Vec<(String, String)>>>;

pub(super) async fn checks(api: &SlackApi, config: &Config) -> Vec<Check> {
    let groups = Groups::new();
    let mut out = Vec::new();
    for (i, profile) in config.profiles.iter().enumerate() {
        let required = profile.approval.required;
        if required > 1 && !profile.approvers.is_empty() {
            let key = format!("profiles[{i}].approvals_required");
            let name = format!("{key} {required}");
            out.push(match enough_approvers(api, &groups, profile, &key).await {
                Ok(detail) => Check::pass(name, detail),
                Err(f) => Check::failed(name, f),
            });
        }
        for (j, entry) in profile.approval.auto_approve.iter().enumerate() {
            let key = format!("profiles[{i}].auto_approve[{j}]");
            let name = format!("{key} {entry}");
            let purpose = "be approved automatically";
            out.push(
                match approver_result(api, &groups, &key, entry, purpose).await {
                    Ok(detail) => Check::pass(name, detail),
                    Err(f) => Check::failed(name, f),
                },
            );
        }
    }
    out
}

/// The people who can approve the profile, as Slack resolves them.
async fn enough_approvers(
    api: &SlackApi,
    groups: &Groups,
    profile: &Profile,
    key: &str,
) -> Result<String, Failure> {
    let people = approver_ids(api, groups, &profile.approvers).await?;
    let (n, required) = (people.len(), profile.approval.required as usize);
    if n < required {
        return Err(Failure {
            problem: format!(
                "only {n} {} can approve (the approvers as Slack resolves them), so no request could ever get {required} approvals",
                if n == 1 { "person" } else { "people" }
            ),
            fix: format!("lower {key} to at most {n}, or add approvers (people, or members of the groups)"),
        });
    }
    Ok(format!(
        "{n} people can approve; a request needs {required} of them (its requester never counts)"
    ))
}

/// The distinct, active people `refs` name.
async fn approver_ids(
    api: &SlackApi,
    groups: &Groups,
    refs: &[ApproverRef],
) -> Result<BTreeSet<String>, Failure> {
    let mut ids = BTreeSet::new();
    for r in refs {
        match r {
            ApproverRef::User(u) => match api.user_info(u.as_str()).await {
                Ok(info) if !info.deleted && !info.is_bot => {
                    ids.insert(info.id.to_string());
                }
                Ok(_) => {}
                Err(e) if e.code() == Some("user_not_found") => {}
                Err(e) => return Err(call_failure(&e, "users.info", "users:read")),
            },
            ApproverRef::Email(email) => match api.lookup_by_email(email).await {
                Ok(Some(info)) if !info.deleted && !info.is_bot => {
                    ids.insert(info.id.to_string());
                }
                Ok(_) => {}
                Err(e) => return Err(call_failure(&e, "users.lookupByEmail", "users:read.email")),
            },
            ApproverRef::Group(handle) => {
                let Some(id) = group_id(api, groups, handle).await? else {
                    continue; // reported with the approvers
                };
                let members = api
                    .usergroup_members(&id)
                    .await
                    .map_err(|e| call_failure(&e, "usergroups.users.list", "usergroups:read"))?;
                ids.extend(members);
            }
        }
    }
    Ok(ids)
}
