//! Slack people lookups with short-lived caches: who a user is (for the
//! e-mail that matches their devices) and who may approve a profile.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::api::{SlackApi, SlackResult, SlackUserInfo};
use crate::domain::policy::EligibleApprovers;
use crate::domain::{ApproverRef, Profile, SlackUserId};

/// How long lookups are reused: approver lists change rarely, and a few
/// minutes of staleness is what the product promises.
pub const PEOPLE_TTL: Duration = Duration::from_secs(300);

struct TtlCache<K, V> {
    ttl: Duration,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, key: &K) -> Option<V> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(key)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, v)| v.clone())
    }

    fn put(&self, key: K, value: V) {
        self.entries
            .lock()
            .expect("cache lock")
            .insert(key, (Instant::now(), value));
    }
}

pub struct People {
    api: SlackApi,
    users: TtlCache<SlackUserId, SlackUserInfo>,
    emails: TtlCache<String, Option<SlackUserId>>,
    groups: TtlCache<(), HashMap<String, String>>,
    members: TtlCache<String, Vec<SlackUserId>>,
    approvers: TtlCache<String, (EligibleApprovers, Vec<(SlackUserId, String)>)>,
}

impl People {
    pub fn new(api: SlackApi) -> Self {
        Self {
            api,
            users: TtlCache::new(PEOPLE_TTL),
            emails: TtlCache::new(PEOPLE_TTL),
            groups: TtlCache::new(PEOPLE_TTL),
            members: TtlCache::new(PEOPLE_TTL),
            approvers: TtlCache::new(PEOPLE_TTL),
        }
    }

    pub fn api(&self) -> &SlackApi {
        &self.api
    }

    pub async fn user(&self, id: &SlackUserId) -> SlackResult<SlackUserInfo> {
        if let Some(u) = self.users.get(id) {
            return Ok(u);
        }
        let info = self.api.user_info(id.as_str()).await?;
        self.users.put(id.clone(), info.clone());
        Ok(info)
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

    async fn user_by_email(&self, email: &str) -> SlackResult<Option<SlackUserId>> {
        if let Some(found) = self.emails.get(&email.to_owned()) {
            return Ok(found);
        }
        let found = self.api.lookup_by_email(email).await?.map(|u| {
            let id = u.id.clone();
            self.users.put(id.clone(), u);
            id
        });
        if found.is_none() {
            tracing::warn!(email, "approver e-mail has no Slack user");
        }
        self.emails.put(email.to_owned(), found.clone());
        Ok(found)
    }

    async fn group_members(&self, handle: &str) -> SlackResult<Vec<SlackUserId>> {
        if let Some(m) = self.members.get(&handle.to_owned()) {
            return Ok(m);
        }
        let ids = match self.groups.get(&()) {
            Some(ids) => ids,
            None => {
                let ids: HashMap<String, String> = self
                    .api
                    .usergroups()
                    .await?
                    .into_iter()
                    .map(|(id, h)| (h.to_ascii_lowercase(), id))
                    .collect();
                self.groups.put((), ids.clone());
                ids
            }
        };
        let members = match ids.get(handle) {
            Some(group_id) => self
                .api
                .usergroup_members(group_id)
                .await?
                .iter()
                .filter_map(|u| SlackUserId::parse(u).ok())
                .collect(),
            None => {
                tracing::warn!(handle, "approver user group not found in Slack");
                Vec::new()
            }
        };
        self.members.put(handle.to_owned(), members.clone());
        Ok(members)
    }

    /// The profile's approvers resolved to users (e-mails and groups looked
    /// up), with display names, in config order.
    pub async fn approvers(
        &self,
        profile: &Profile,
    ) -> SlackResult<(EligibleApprovers, Vec<(SlackUserId, String)>)> {
        let key = profile.attribute.as_str().to_owned();
        if let Some(hit) = self.approvers.get(&key) {
            return Ok(hit);
        }
        if profile.approvers.is_empty() {
            let value = (EligibleApprovers::Anyone, Vec::new());
            self.approvers.put(key, value.clone());
            return Ok(value);
        }
        let mut ordered: Vec<SlackUserId> = Vec::new();
        for r in &profile.approvers {
            let found = match r {
                ApproverRef::User(u) => vec![u.clone()],
                ApproverRef::Email(e) => self.user_by_email(e).await?.into_iter().collect(),
                ApproverRef::Group(g) => self.group_members(g).await?,
            };
            for u in found {
                if !ordered.contains(&u) {
                    ordered.push(u);
                }
            }
        }
        let mut named = Vec::with_capacity(ordered.len());
        for u in &ordered {
            match self.user(u).await {
                Ok(info) if info.deleted || info.is_bot => continue,
                Ok(info) => named.push((u.clone(), info.name)),
                Err(e) if e.is_transient() => return Err(e),
                Err(_) => named.push((u.clone(), u.to_string())),
            }
        }
        let set: BTreeSet<SlackUserId> = named.iter().map(|(u, _)| u.clone()).collect();
        let value = (EligibleApprovers::Listed(set), named);
        self.approvers.put(key, value.clone());
        Ok(value)
    }

    /// Cached approvers only: never waits on Slack.
    pub fn cached_approvers(
        &self,
        profile: &Profile,
    ) -> Option<(EligibleApprovers, Vec<(SlackUserId, String)>)> {
        if profile.approvers.is_empty() {
            return Some((EligibleApprovers::Anyone, Vec::new()));
        }
        self.approvers.get(&profile.attribute.as_str().to_owned())
    }
}
