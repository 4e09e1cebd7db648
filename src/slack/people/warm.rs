//! Keeping the directory warm: a round looks up every configured e-mail
//! and group once (however many profiles name them), then the details of
//! people who are new or whose details aged, a few calls at a time and
//! within each method's rate tier. A failed lookup keeps what was known.

use std::collections::{BTreeSet, HashSet};

use futures::StreamExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::gate::Priority;
use super::{People, DETAILS_MAX_AGE, REFRESH_INTERVAL};
use crate::domain::{ApproverRef, Profile, SlackUserId};
use crate::slack::api::{SlackApiError, SlackResult, SlackUserInfo};

/// Slack calls in flight at once.
const IN_FLIGHT: usize = 4;
/// Names looked up while someone waits for a cold profile: what radio
/// buttons show. The rest follow in the background.
const NAMES_WHILE_WAITING: usize = 10;
/// Members per `users.list` page (Slack advises at most 200).
const PAGE: u16 = 200;
/// Missing people above which a `users.list` sweep is cheaper than one
/// `users.info` each, while the workspace's size is unknown: a minute of
/// Tier 4 calls.
const SWEEP_ABOVE: usize = 100;
/// Forget requesters (people who approve nothing) not seen for this long.
const FORGET_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// The e-mails and groups some profile names (as approvers or in
/// `auto_approve`), each once.
#[derive(Default)]
struct References {
    groups: BTreeSet<String>,
    emails: BTreeSet<String>,
}

impl References {
    fn of<'a>(profiles: impl IntoIterator<Item = &'a Profile>) -> Self {
        let mut refs = Self::default();
        let named = |p: &'a Profile| p.approvers.iter().chain(&p.approval.auto_approve);
        for r in profiles.into_iter().flat_map(named) {
            match r {
                ApproverRef::Group(g) => refs.groups.insert(g.clone()),
                ApproverRef::Email(e) => refs.emails.insert(e.clone()),
                ApproverRef::User(_) => false,
            };
        }
        refs
    }
}

enum Lookup {
    Group(String),
    Email(String),
}

impl People {
    /// Refresh now and every [`REFRESH_INTERVAL`] until `stop`.
    pub async fn keep_warm(&self, profiles: &[Profile], stop: CancellationToken) {
        loop {
            let started = Instant::now();
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.refresh(profiles) => {}
            }
            if !*self.warm.borrow() {
                tracing::info!(took = ?started.elapsed(), people = self.dir().users.len(), "people directory is warm");
            }
            self.warm.send_replace(true);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(REFRESH_INTERVAL) => {}
            }
        }
    }

    /// One round: every profile's e-mails and groups, then the details of
    /// approvers that are new or aged, then forget long-gone requesters.
    pub async fn refresh(&self, profiles: &[Profile]) {
        {
            let _one_at_a_time = self.resolving.lock().await;
            if let Err(e) = self
                .resolve(&References::of(profiles), Priority::Background)
                .await
            {
                tracing::warn!(error = %e, "could not refresh approvers; keeping what was known");
            }
        }
        let due = self.details_due(profiles);
        self.fill_in(due, Priority::Background).await;
        self.forget_requesters(profiles);
    }

    /// Someone needs a profile the directory never resolved (just after
    /// start-up): look it up now, with a few names to show.
    pub(super) async fn resolve_now(&self, profile: &Profile) -> SlackResult<()> {
        let _one_at_a_time = self.resolving.lock().await;
        let resolved =
            self.cached_approvers(profile).is_some() && self.dir().auto_approved(profile).is_some();
        if resolved {
            return Ok(()); // resolved while we waited
        }
        self.resolve(&References::of([profile]), Priority::Person)
            .await?;
        let unnamed: Vec<SlackUserId> = {
            let dir = self.dir();
            dir.approver_ids(profile)
                .unwrap_or_default()
                .into_iter()
                .filter(|u| !dir.users.contains_key(u))
                .take(NAMES_WHILE_WAITING)
                .collect()
        };
        self.fill_in(unnamed, Priority::Person).await;
        Ok(())
    }

    /// Look up `refs` (a few at a time); the first failure is returned
    /// after the rest were tried, and what failed keeps its old value.
    async fn resolve(&self, refs: &References, priority: Priority) -> SlackResult<()> {
        let mut failed = None;
        // Handles become IDs through `usergroups.list`: each round asks,
        // someone waiting only when a handle is new.
        let list_groups = !refs.groups.is_empty()
            && (priority == Priority::Background
                || self
                    .dir()
                    .group_ids
                    .as_ref()
                    .is_none_or(|ids| refs.groups.iter().any(|g| !ids.contains_key(g))));
        if list_groups {
            match self
                .call("usergroups.list", priority, || self.api.usergroups())
                .await
            {
                Ok(groups) => {
                    let ids = groups
                        .into_iter()
                        .map(|(id, handle)| (handle.to_ascii_lowercase(), id))
                        .collect();
                    self.dir().group_ids = Some(ids);
                }
                Err(e) => failed = Some(e),
            }
        }
        let lookups = refs
            .groups
            .iter()
            .cloned()
            .map(Lookup::Group)
            .chain(refs.emails.iter().cloned().map(Lookup::Email));
        let results: Vec<SlackResult<()>> = futures::stream::iter(lookups)
            .map(|l| self.look_up(l, priority))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        match failed.or(results.into_iter().find_map(Result::err)) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn look_up(&self, lookup: Lookup, priority: Priority) -> SlackResult<()> {
        match lookup {
            Lookup::Group(handle) => {
                let id = match &self.dir().group_ids {
                    None => return Ok(()), // usergroups.list failed; reported already
                    Some(ids) => ids.get(&handle).cloned(),
                };
                let members = match id {
                    Some(id) => self
                        .call("usergroups.users.list", priority, || {
                            self.api.usergroup_members(&id)
                        })
                        .await?
                        .iter()
                        .filter_map(|u| SlackUserId::parse(u).ok())
                        .collect(),
                    None => {
                        tracing::warn!(handle, "approver user group not found in Slack");
                        Vec::new()
                    }
                };
                self.dir().members.insert(handle, members);
            }
            Lookup::Email(email) => {
                let found = self
                    .call("users.lookupByEmail", priority, || {
                        self.api.lookup_by_email(&email)
                    })
                    .await?;
                if found.is_none() {
                    tracing::warn!(email, "approver e-mail has no Slack user");
                }
                let id = found.map(|u| {
                    let id = u.id.clone();
                    self.remember(u);
                    id
                });
                self.dir().emails.insert(email, id);
            }
        }
        Ok(())
    }

    /// Approvers whose details are missing or older than [`DETAILS_MAX_AGE`].
    fn details_due(&self, profiles: &[Profile]) -> Vec<SlackUserId> {
        let dir = self.dir();
        let mut due: Vec<SlackUserId> = Vec::new();
        for id in profiles
            .iter()
            .filter_map(|p| dir.approver_ids(p))
            .flatten()
        {
            let aged = dir
                .users
                .get(&id)
                .is_none_or(|k| k.fetched.elapsed() >= DETAILS_MAX_AGE);
            if aged && !due.contains(&id) {
                due.push(id);
            }
        }
        due
    }

    /// Fetch these people's details: one `users.info` each, or, when so
    /// many are due that paging through the workspace costs fewer calls,
    /// a `users.list` sweep. Failures leave the details as they were.
    async fn fill_in(&self, due: Vec<SlackUserId>, priority: Priority) {
        if due.is_empty() {
            return;
        }
        if priority == Priority::Background && due.len() > self.sweep_above() {
            self.sweep(due).await;
            return;
        }
        futures::stream::iter(due)
            .for_each_concurrent(IN_FLIGHT, |id| async move {
                let fetched = self
                    .call("users.info", priority, || self.api.user_info(id.as_str()))
                    .await;
                match fetched {
                    Ok(info) => self.remember(info),
                    // Gone from the workspace: never offered, not asked again soon.
                    Err(SlackApiError::Api(code)) if code == "user_not_found" => {
                        self.remember(gone(&id));
                    }
                    Err(e) => {
                        tracing::debug!(user = %id, error = %e, "could not look up an approver")
                    }
                }
            })
            .await;
    }

    /// A sweep fetches 200 people per Tier 2 call (16 a minute at our
    /// pace: 3,200 people), `users.info` one per Tier 4 call (80): the
    /// sweep is cheaper once more than a 40th of the workspace is due.
    fn sweep_above(&self) -> usize {
        self.dir()
            .workspace_size
            .map_or(SWEEP_ABOVE, |size| SWEEP_ABOVE.max(size / 40))
    }

    /// Page through `users.list` until everyone due was seen.
    async fn sweep(&self, due: Vec<SlackUserId>) {
        let mut wanted: HashSet<SlackUserId> = due.into_iter().collect();
        let mut cursor: Option<String> = None;
        let mut seen = 0usize;
        loop {
            let page = self
                .call("users.list", Priority::Background, || {
                    self.api.users_page(cursor.as_deref(), PAGE)
                })
                .await;
            let (members, next) = match page {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "users.list sweep stopped; the rest follows next round");
                    return;
                }
            };
            seen += members.len();
            for info in members {
                if wanted.remove(&info.id) {
                    self.remember(info);
                }
            }
            match next {
                Some(next) if !wanted.is_empty() => cursor = Some(next),
                Some(_) => return,
                None => break,
            }
        }
        // The whole workspace was seen: anyone still wanted is not in it.
        self.dir().workspace_size = Some(seen);
        for id in wanted {
            self.remember(gone(&id));
        }
    }

    /// Drop details of people who approve nothing and were not needed for
    /// a day, so the directory holds approvers and recent requesters only.
    fn forget_requesters(&self, profiles: &[Profile]) {
        let mut dir = self.dir();
        let approvers: HashSet<SlackUserId> = profiles
            .iter()
            .filter_map(|p| dir.approver_ids(p))
            .flatten()
            .collect();
        dir.users
            .retain(|id, k| approvers.contains(id) || k.fetched.elapsed() < FORGET_AFTER);
    }
}

/// A person Slack does not know (any more).
fn gone(id: &SlackUserId) -> SlackUserInfo {
    SlackUserInfo {
        id: id.clone(),
        email: None,
        name: id.to_string(),
        is_bot: false,
        deleted: true,
        is_guest: false,
    }
}
