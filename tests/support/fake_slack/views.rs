//! Modals and the home tab: trigger IDs (one use, [`TRIGGER_TTL`]), and
//! `views.open` / `views.update` (with the `hash` check) / `views.publish`,
//! each refusing views that break Slack's limits.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use axum::response::Response;
use serde_json::{json, Value};

use super::block_kit::check_view;
use super::server::{invalid, ok, str_param, Reply};
use super::{FakeSlack, Inner, BOT_ID, TEAM_ID};

/// How long a trigger ID may be used after it was issued (Slack: 3 s).
pub const TRIGGER_TTL: Duration = Duration::from_secs(3);

/// An open modal.
#[derive(Debug, Clone)]
pub struct OpenView {
    pub id: String,
    pub hash: String,
    pub user: Option<String>,
    pub view: Value,
    /// Every version, oldest first.
    pub versions: Vec<Value>,
}

struct Trigger {
    issued: Instant,
    used: bool,
    /// Whose interaction it came with (the modal opens for them).
    user: String,
}

pub(super) struct ViewState {
    triggers: HashMap<String, Trigger>,
    trigger_ttl: Option<Duration>,
    views: BTreeMap<String, OpenView>,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            triggers: HashMap::new(),
            trigger_ttl: Some(TRIGGER_TTL),
            views: BTreeMap::new(),
        }
    }
}

impl FakeSlack {
    /// A fresh trigger ID for an interaction by `user`, valid for
    /// [`TRIGGER_TTL`] and one use.
    pub fn trigger_for(&self, user: &str) -> String {
        let mut inner = self.lock();
        let seq = inner.next_seq();
        let id = format!("{}.{}.fake{:08x}", 1_000_000 + seq, 42, seq);
        let trigger = Trigger {
            issued: Instant::now(),
            used: false,
            user: user.to_owned(),
        };
        inner.views.triggers.insert(id.clone(), trigger);
        id
    }

    /// When the trigger was issued (for measuring time to `views.open`).
    pub fn trigger_issued_at(&self, trigger: &str) -> Option<Instant> {
        self.lock().views.triggers.get(trigger).map(|t| t.issued)
    }

    pub fn views(&self) -> Vec<OpenView> {
        self.lock().views.views.values().cloned().collect()
    }

    pub fn view(&self, id: &str) -> Option<OpenView> {
        self.lock().views.views.get(id).cloned()
    }

    /// Every App Home view published for `user`, oldest first.
    pub fn homes_of(&self, user: &str) -> Vec<Value> {
        self.calls_to("views.publish")
            .into_iter()
            .filter(|c| c["user_id"] == user)
            .map(|c| c["view"].clone())
            .collect()
    }

    /// The modal most recently opened for `user`.
    pub fn last_view_of(&self, user: &str) -> Option<OpenView> {
        self.lock()
            .views
            .views
            .values()
            .filter(|v| v.user.as_deref() == Some(user))
            .max_by_key(|v| v.id.clone())
            .cloned()
    }
}

/// The view as Slack returns it: with its ID, hash and (empty) state.
fn stateful(view: &Value, id: &str, hash: &str) -> Value {
    let mut v = view.clone();
    v["id"] = json!(id);
    v["team_id"] = json!(TEAM_ID);
    v["hash"] = json!(hash);
    v["state"] = json!({ "values": {} });
    v["app_id"] = json!("AFAKE0001");
    v["bot_id"] = json!(BOT_ID);
    v
}

fn view_hash(seq: u64) -> String {
    format!("{}.hash{}", 1_700_000_000 + seq, seq)
}

pub(super) fn open(inner: &mut Inner, p: &Value) -> Reply {
    let trigger = str_param(p, "trigger_id").ok_or("invalid_arguments")?;
    let ttl = inner.views.trigger_ttl;
    let user = match inner.views.triggers.get_mut(trigger) {
        None => return Err("invalid_trigger_id".into()),
        Some(t) if t.used => return Err("expired_trigger_id".into()),
        Some(t) if ttl.is_some_and(|ttl| t.issued.elapsed() > ttl) => {
            return Err("expired_trigger_id".into())
        }
        Some(t) => {
            t.used = true;
            t.user.clone()
        }
    };
    let view = p.get("view").cloned().unwrap_or(Value::Null);
    if let Err(problems) = check_view(&view) {
        return Ok(invalid(problems));
    }
    let seq = inner.next_seq();
    let id = format!("V{seq:010}");
    let hash = view_hash(seq);
    inner.views.views.insert(
        id.clone(),
        OpenView {
            id: id.clone(),
            hash: hash.clone(),
            user: Some(user),
            view: view.clone(),
            versions: vec![view.clone()],
        },
    );
    Ok(ok(json!({ "view": stateful(&view, &id, &hash) })))
}

pub(super) fn update(inner: &mut Inner, p: &Value) -> Reply {
    let id = str_param(p, "view_id")
        .ok_or("invalid_arguments")?
        .to_owned();
    let view = p.get("view").cloned().unwrap_or(Value::Null);
    let hash = str_param(p, "hash").map(str::to_owned);
    let seq = inner.next_seq();
    let Some(open) = inner.views.views.get_mut(&id) else {
        return Err("not_found".into());
    };
    if hash.is_some_and(|h| h != open.hash) {
        return Err("hash_conflict".into());
    }
    if let Err(problems) = check_view(&view) {
        return Ok(invalid(problems));
    }
    open.hash = view_hash(seq);
    open.view = view.clone();
    open.versions.push(view.clone());
    Ok(ok(json!({ "view": stateful(&view, &id, &open.hash) })))
}

/// `views.publish` (the home tab). Unlike `open` and `update`, a refused
/// view is recorded with the outcome `invalid_arguments`.
pub(super) fn publish(inner: &mut Inner, p: &Value) -> (Response, String) {
    let view = p.get("view").cloned().unwrap_or(Value::Null);
    match check_view(&view) {
        Err(problems) => (invalid(problems), "invalid_arguments".into()),
        Ok(()) => {
            let id = format!("VH{:08}", inner.next_seq());
            let reply = ok(json!({ "view": stateful(&view, &id, "home-hash") }));
            (reply, "ok".into())
        }
    }
}
