//! The workspace's people: users (`users.info`, `users.lookupByEmail`,
//! `users.list` in pages) and user groups (`usergroups.list`,
//! `usergroups.users.list`). As Slack does, `usergroups.list` says how many
//! members a group has only when asked (`include_count`).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::server::{ok, str_param, Reply};
use super::{FakeSlack, Inner, TEAM_ID};

/// A user in the fake workspace.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub tz: String,
    pub is_bot: bool,
    pub deleted: bool,
    /// A multi-channel guest (`is_restricted`).
    pub restricted: bool,
    /// A single-channel guest (`is_ultra_restricted`).
    pub ultra_restricted: bool,
}

impl FakeUser {
    pub fn new(id: &str, email: &str, name: &str) -> Self {
        Self {
            id: id.into(),
            email: Some(email.into()),
            name: name.into(),
            tz: "Europe/Berlin".into(),
            is_bot: false,
            deleted: false,
            restricted: false,
            ultra_restricted: false,
        }
    }

    /// A multi-channel guest.
    pub fn guest(mut self) -> Self {
        self.restricted = true;
        self
    }

    /// A single-channel guest.
    pub fn single_channel_guest(mut self) -> Self {
        self.restricted = true;
        self.ultra_restricted = true;
        self
    }
}

struct Group {
    id: String,
    handle: String,
    members: Vec<String>,
}

#[derive(Default)]
pub(super) struct Directory {
    pub(super) users: BTreeMap<String, FakeUser>,
    groups: Vec<Group>,
}

impl FakeSlack {
    pub fn add_user(&self, user: FakeUser) {
        self.lock().directory.users.insert(user.id.clone(), user);
    }

    pub fn add_group(&self, id: &str, handle: &str, members: &[&str]) {
        self.lock().directory.groups.push(Group {
            id: id.into(),
            handle: handle.into(),
            members: members.iter().map(|m| m.to_string()).collect(),
        });
    }
}

pub(super) fn users_info(inner: &Inner, p: &Value) -> Reply {
    match str_param(p, "user").and_then(|u| inner.directory.users.get(u)) {
        Some(u) => Ok(ok(json!({ "user": user_json(u, &inner.auth.scopes) }))),
        None => Err("user_not_found".into()),
    }
}

pub(super) fn lookup_by_email(inner: &Inner, p: &Value) -> Reply {
    let email = str_param(p, "email").unwrap_or("").to_ascii_lowercase();
    inner
        .directory
        .users
        .values()
        .find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&email))
        })
        .map(|u| ok(json!({ "user": user_json(u, &inner.auth.scopes) })))
        .ok_or_else(|| "users_not_found".to_owned())
}

/// Members per `users.list` page when the caller does not say.
const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

/// `users.list`: every member, deactivated ones and bots too, a page at a
/// time; `next_cursor` is `""` on the last page.
pub(super) fn users_list(inner: &Inner, p: &Value) -> Reply {
    let limit = str_param(p, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_PAGE)
        .min(MAX_PAGE);
    let start = match str_param(p, "cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(c) => c
            .strip_prefix("dXNlcjo")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or("invalid_cursor")?,
    };
    let users = &inner.directory.users;
    let page: Vec<Value> = users
        .values()
        .skip(start)
        .take(limit)
        .map(|u| user_json(u, &inner.auth.scopes))
        .collect();
    let next = if start + limit < users.len() {
        format!("dXNlcjo{}", start + limit)
    } else {
        String::new()
    };
    Ok(ok(json!({
        "members": page,
        "cache_ts": 1_700_000_000,
        "response_metadata": { "next_cursor": next },
    })))
}

pub(super) fn usergroups_list(inner: &Inner, p: &Value) -> Reply {
    let with_count = str_param(p, "include_count") == Some("true");
    let groups: Vec<Value> = inner
        .directory
        .groups
        .iter()
        .map(|g| usergroup_json(&g.id, &g.handle, with_count.then_some(g.members.len())))
        .collect();
    Ok(ok(json!({ "usergroups": groups })))
}

pub(super) fn usergroup_members(inner: &Inner, p: &Value) -> Reply {
    let id = str_param(p, "usergroup").unwrap_or("");
    inner
        .directory
        .groups
        .iter()
        .find(|g| g.id == id)
        .map(|g| ok(json!({ "users": g.members })))
        .ok_or_else(|| "no_such_subteam".to_owned())
}

fn user_json(u: &FakeUser, scopes: &[String]) -> Value {
    let mut profile = json!({
        "real_name": u.name,
        "display_name": u.name.split(' ').next().unwrap_or(""),
    });
    // Slack only shows e-mails to apps with users:read.email.
    if scopes.iter().any(|s| s == "users:read.email") {
        if let Some(e) = &u.email {
            profile["email"] = json!(e);
        }
    }
    json!({
        "id": u.id,
        "team_id": TEAM_ID,
        "name": u.name.to_ascii_lowercase().replace(' ', "."),
        "real_name": u.name,
        "deleted": u.deleted,
        "is_bot": u.is_bot,
        "is_restricted": u.restricted,
        "is_ultra_restricted": u.ultra_restricted,
        "tz": u.tz,
        "tz_offset": 3600,
        "profile": profile,
    })
}

fn usergroup_json(id: &str, handle: &str, count: Option<usize>) -> Value {
    let mut group = json!({
        "id": id,
        "team_id": TEAM_ID,
        "is_usergroup": true,
        "name": handle,
        "description": "",
        "handle": handle,
        "is_external": false,
        "date_create": 1_600_000_000,
        "date_update": 1_600_000_000,
        "date_delete": 0,
        "auto_type": null,
        "created_by": "U0CREATOR",
        "updated_by": "U0CREATOR",
        "deleted_by": null,
        "prefs": { "channels": [], "groups": [] },
    });
    if let Some(n) = count {
        group["user_count"] = json!(n);
    }
    group
}
