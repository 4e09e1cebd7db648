//! The people directory: who may approve each profile, kept warm in the
//! background so that no click or submission waits on Slack for people it
//! already knows, and requesters' own details (their e-mail matches their
//! devices), fetched when they act and kept.
//!
//! What is kept: each configured group's members (`usergroups.users.list`),
//! who each configured e-mail belongs to (`users.lookupByEmail`) and each
//! person's name and flags (`users.info`, or a `users.list` sweep when many
//! are missing). A profile's approvers are composed from these on every
//! read, so they are served, stale if need be, while a refresh runs; only a
//! profile never resolved yet (just after start-up) is looked up on demand.
//! Every call keeps to its method's rate tier ([`gate`]) and honours
//! Slack's `Retry-After`: a 429 leaves the cache as it was.

mod gate;
mod warm;

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use self::gate::{Gates, Priority};
use super::api::{SlackApi, SlackApiError, SlackResult, SlackUserInfo};
use crate::domain::policy::EligibleApprovers;
use crate::domain::{ApproverRef, Profile, SlackUserId};

/// A profile's approvers: who is eligible, and who to offer (in config
/// order, with the names to show).
pub type Approvers = (EligibleApprovers, Vec<(SlackUserId, String)>);

/// How often every profile's approvers are looked up again: group
/// membership changes show within this time.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(300);
/// How old a person's details may be before they are asked for again.
pub const DETAILS_MAX_AGE: Duration = Duration::from_secs(3600);

/// A person's details and when Slack gave them.
struct Known {
    info: SlackUserInfo,
    fetched: Instant,
}

/// Everything learnt from Slack so far.
#[derive(Default)]
struct Directory {
    /// User-group handle (lower-case) → group ID, from `usergroups.list`.
    group_ids: Option<HashMap<String, String>>,
    /// A configured group's members by handle; absent until looked up.
    members: HashMap<String, Vec<SlackUserId>>,
    /// Who a configured e-mail belongs to (`None`: nobody); absent until looked up.
    emails: HashMap<String, Option<SlackUserId>>,
    users: HashMap<SlackUserId, Known>,
    /// How many members the workspace has, once a full sweep counted them.
    workspace_size: Option<usize>,
}

impl Directory {
    /// The profile's approver IDs in config order, without repeats; `None`
    /// while one of its e-mails or groups was never looked up.
    fn approver_ids(&self, profile: &Profile) -> Option<Vec<SlackUserId>> {
        self.ids_of(&profile.approvers)
    }

    /// The people `refs` name, in order, without repeats; `None` while one
    /// of its e-mails or groups was never looked up.
    fn ids_of(&self, refs: &[ApproverRef]) -> Option<Vec<SlackUserId>> {
        let mut ordered: Vec<SlackUserId> = Vec::new();
        for r in refs {
            let found: Vec<SlackUserId> = match r {
                ApproverRef::User(u) => vec![u.clone()],
                ApproverRef::Email(e) => self.emails.get(e)?.iter().cloned().collect(),
                ApproverRef::Group(g) => self.members.get(g)?.clone(),
            };
            for u in found {
                if !ordered.contains(&u) {
                    ordered.push(u);
                }
            }
        }
        Some(ordered)
    }

    /// The profile's `auto_approve` people (not deactivated); `None`
    /// while not looked up.
    fn auto_approved(&self, profile: &Profile) -> Option<BTreeSet<SlackUserId>> {
        let ids = self.ids_of(&profile.approval.auto_approve)?;
        let active = |u: &SlackUserId| self.users.get(u).is_none_or(|k| !k.info.deleted);
        Some(ids.into_iter().filter(active).collect())
    }

    fn approvers(&self, profile: &Profile) -> Option<Approvers> {
        if profile.approvers.is_empty() {
            return Some((EligibleApprovers::Anyone, Vec::new()));
        }
        let named: Vec<(SlackUserId, String)> = self
            .approver_ids(profile)?
            .into_iter()
            .filter_map(|u| match self.users.get(&u) {
                Some(k) if k.info.deleted || k.info.is_bot => None,
                Some(k) => Some((u, k.info.name.clone())),
                // Eligible already; the name follows with the next lookups.
                None => Some((u.clone(), u.to_string())),
            })
            .collect();
        let eligible: BTreeSet<SlackUserId> = named.iter().map(|(u, _)| u.clone()).collect();
        Some((EligibleApprovers::Listed(eligible), named))
    }
}

pub struct People {
    api: SlackApi,
    gates: Gates,
    dir: Mutex<Directory>,
    /// One lookup of approver e-mails and groups at a time: someone who
    /// arrives while the directory is still cold waits for the lookup in
    /// progress instead of repeating it.
    resolving: tokio::sync::Mutex<()>,
    /// Whether a first round has finished.
    warm: tokio::sync::watch::Sender<bool>,
}

impl People {
    pub fn new(api: SlackApi) -> Self {
        Self {
            api,
            gates: Gates::default(),
            dir: Mutex::new(Directory::default()),
            resolving: tokio::sync::Mutex::new(()),
            warm: tokio::sync::watch::Sender::new(false),
        }
    }

    pub fn api(&self) -> &SlackApi {
        &self.api
    }

    fn dir(&self) -> std::sync::MutexGuard<'_, Directory> {
        // Plain data: a panic elsewhere cannot leave it half-written.
        self.dir.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Call `method` within its rate tier; a 429 closes the method for
    /// as long as Slack said.
    async fn call<T, Fut>(
        &self,
        method: &'static str,
        priority: Priority,
        send: impl FnOnce() -> Fut,
    ) -> SlackResult<T>
    where
        Fut: Future<Output = SlackResult<T>>,
    {
        let gate = self.gates.of(method);
        if let Err(left) = gate.admit(priority).await {
            return Err(SlackApiError::RateLimited(Some(left)));
        }
        let result = send().await;
        if let Err(SlackApiError::RateLimited(after)) = &result {
            tracing::warn!(method, retry_after = ?after, "Slack rate limit: pausing this method");
            gate.close_for(*after);
        }
        result
    }

    fn remember(&self, info: SlackUserInfo) {
        let known = Known {
            info,
            fetched: Instant::now(),
        };
        self.dir().users.insert(known.info.id.clone(), known);
    }

    /// What Slack said about `id` last, however long ago.
    pub fn cached_user(&self, id: &SlackUserId) -> Option<SlackUserInfo> {
        self.dir().users.get(id).map(|k| k.info.clone())
    }

    /// A person's details: from the directory while recent, else from
    /// Slack (`users.info`, never waiting for a turn); the directory's older
    /// copy when Slack cannot answer.
    pub async fn user(&self, id: &SlackUserId) -> SlackResult<SlackUserInfo> {
        let cached = self
            .dir()
            .users
            .get(id)
            .map(|k| (k.info.clone(), k.fetched.elapsed() < DETAILS_MAX_AGE));
        if let Some((info, true)) = &cached {
            return Ok(info.clone());
        }
        let fetched = self
            .call("users.info", Priority::Person, || {
                self.api.user_info(id.as_str())
            })
            .await;
        match (fetched, cached) {
            (Ok(info), _) => {
                self.remember(info.clone());
                Ok(info)
            }
            (Err(e), Some((stale, _))) => {
                tracing::debug!(user = %id, error = %e, "Slack unavailable; using what the directory knows");
                Ok(stale)
            }
            (Err(e), None) => Err(e),
        }
    }

    /// The user's e-mail if Slack knows it (needs `users:read.email`).
    pub async fn email_of(&self, id: &SlackUserId) -> SlackResult<Option<String>> {
        Ok(self.user(id).await?.email)
    }

    /// A name to show, falling back to the ID if Slack cannot say.
    pub async fn name_of(&self, id: &SlackUserId) -> String {
        match self.user(id).await {
            Ok(u) => u.name,
            Err(_) => id.to_string(),
        }
    }

    /// The profile's approvers from the directory, never waiting on Slack;
    /// `None` while they were never looked up.
    pub fn cached_approvers(&self, profile: &Profile) -> Option<Approvers> {
        self.dir().approvers(profile)
    }

    /// The profile's approvers: from the directory (stale or not), or
    /// looked up now when the directory has never resolved them.
    pub async fn approvers(&self, profile: &Profile) -> SlackResult<Approvers> {
        if let Some(found) = self.cached_approvers(profile) {
            return Ok(found);
        }
        self.resolve_now(profile).await?;
        self.cached_approvers(profile)
            .ok_or_else(|| SlackApiError::Api("approvers_unresolved".into()))
    }

    /// Who the profile approves without a click, from the directory
    /// only; `None` while never looked up.
    pub fn cached_auto_approved(&self, profile: &Profile) -> Option<BTreeSet<SlackUserId>> {
        self.dir().auto_approved(profile)
    }

    /// Who the profile approves without a click (`auto_approve`), from the
    /// directory, or looked up now when it never resolved them.
    pub async fn auto_approved(&self, profile: &Profile) -> SlackResult<BTreeSet<SlackUserId>> {
        if profile.approval.auto_approve.is_empty() {
            return Ok(BTreeSet::new());
        }
        if let Some(found) = self.dir().auto_approved(profile) {
            return Ok(found);
        }
        self.resolve_now(profile).await?;
        self.dir()
            .auto_approved(profile)
            .ok_or_else(|| SlackApiError::Api("approvers_unresolved".into()))
    }

    /// Resolves once the first round of [`Self::keep_warm`] has finished.
    pub async fn wait_warm(&self) {
        let mut warm = self.warm.subscribe();
        let _ = warm.wait_for(|w| *w).await;
    }
}
