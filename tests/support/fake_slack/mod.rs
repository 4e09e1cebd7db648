//! A fake Slack Web API: an axum server on a random port that answers the
//! methods accessbot calls with the shapes Slack (and slack-morphism)
//! use, enforces Slack's documented limits on views and messages, records
//! every call, and can be told to fail (429 with Retry-After, an error
//! code, an HTTP status) or to be slow.
//!
//! Point the app at it with `slack.api_url = fake.url()`.
//!
//! Methods that need a scope answer `missing_scope` (with `needed` and
//! `provided`, as Slack does) when [`FakeSlack::set_scopes`] left it out;
//! by default every scope accessbot asks for is granted.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const BOT_TOKEN: &str = "xoxb-fake-bot-token";
/// The app-level token Socket Mode uses (`apps.connections.open` only).
pub const APP_TOKEN: &str = "xapp-1-fake-app-token";
pub const TEAM_ID: &str = "T0FAKE001";
pub const BOT_USER_ID: &str = "UBOTFAKE1";
/// The scopes accessbot asks for; `auth.test` reports these unless changed.
pub const DEFAULT_SCOPES: &[&str] = &[
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
];
/// How long a trigger ID may be used after it was issued (Slack: 3 s).
pub const TRIGGER_TTL: Duration = Duration::from_secs(3);

/// One recorded Web API call.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    /// JSON body, form fields or query parameters, as one JSON object.
    pub params: Value,
    pub at: Instant,
    /// What the fake answered: `ok` or the error code / HTTP status.
    pub outcome: String,
}

/// A user in the fake workspace.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub tz: String,
    pub is_bot: bool,
    pub deleted: bool,
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
        }
    }
}

/// A message as it stands now (after any `chat.update`).
#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    /// Every version, oldest first (the first is the post).
    pub versions: Vec<Value>,
}

impl Message {
    /// The whole message (text and blocks) as one string, for searching.
    pub fn render(&self) -> String {
        format!("{}\n{}", self.text, self.blocks)
    }

    /// The `action_id`s of the buttons it shows now.
    pub fn buttons(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_buttons(&self.blocks, &mut out);
        out
    }
}

fn collect_buttons(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("button") {
                if let Some(id) = m.get("action_id").and_then(Value::as_str) {
                    out.push(id.to_owned());
                }
            }
            m.values().for_each(|v| collect_buttons(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_buttons(v, out)),
        _ => {}
    }
}

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

/// A message scheduled with `chat.scheduleMessage` and not deleted (yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledMessage {
    /// `Q…`, what `chat.deleteScheduledMessage` takes.
    pub id: String,
    /// The conversation ID (`D…` for a DM).
    pub channel: String,
    /// Unix seconds.
    pub post_at: i64,
    pub text: String,
}

/// The furthest ahead `chat.scheduleMessage` accepts (Slack: 120 days).
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(120 * 24 * 3600);

/// What to do instead of answering normally.
#[derive(Debug, Clone)]
pub enum Fault {
    /// HTTP 429 with `Retry-After` seconds.
    RateLimited { retry_after: u64 },
    /// HTTP 200 with `{"ok": false, "error": code}`.
    Error(String),
    /// A bare HTTP status (e.g. 500, 503).
    Status(u16),
}

#[derive(Default)]
struct Inner {
    users: BTreeMap<String, FakeUser>,
    groups: Vec<(String, String, Vec<String>)>,
    /// Channels the bot may post in.
    channels: Vec<String>,
    scopes: Vec<String>,
    calls: Vec<Call>,
    /// trigger ID → (issued, used, for whom).
    triggers: HashMap<String, (Instant, bool, String)>,
    trigger_ttl: Option<Duration>,
    views: BTreeMap<String, OpenView>,
    messages: Vec<Message>,
    ephemeral: Vec<(String, String, String)>,
    scheduled: Vec<ScheduledMessage>,
    faults: Vec<(String, usize, Fault)>,
    latency: HashMap<String, Duration>,
    /// The WebSocket URL `apps.connections.open` hands out.
    socket_url: Option<String>,
    seq: u64,
}

#[derive(Clone)]
pub struct FakeSlack {
    inner: Arc<Mutex<Inner>>,
    url: String,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            trigger_ttl: Some(TRIGGER_TTL),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/api/{method}", any(handle))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            inner,
            url: format!("http://{addr}/api"),
        }
    }

    /// The Web API base URL (`slack.api_url`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }

    pub fn add_user(&self, user: FakeUser) {
        self.lock().users.insert(user.id.clone(), user);
    }

    pub fn add_group(&self, id: &str, handle: &str, members: &[&str]) {
        self.lock().groups.push((
            id.into(),
            handle.into(),
            members.iter().map(|m| m.to_string()).collect(),
        ));
    }

    /// A channel the bot is a member of.
    pub fn add_channel(&self, id: &str) {
        self.lock().channels.push(id.into());
    }

    /// Where `apps.connections.open` sends Socket Mode clients.
    pub fn set_socket_url(&self, url: &str) {
        self.lock().socket_url = Some(url.to_owned());
    }

    pub fn set_scopes(&self, scopes: &[&str]) {
        self.lock().scopes = scopes.iter().map(|s| s.to_string()).collect();
    }

    /// A fresh trigger ID for an interaction by `user`, valid for
    /// [`TRIGGER_TTL`] and one use.
    pub fn trigger_for(&self, user: &str) -> String {
        let mut inner = self.lock();
        inner.seq += 1;
        let id = format!("{}.{}.fake{:08x}", 1_000_000 + inner.seq, 42, inner.seq);
        inner
            .triggers
            .insert(id.clone(), (Instant::now(), false, user.to_owned()));
        id
    }

    /// When the trigger was issued (for measuring time to `views.open`).
    pub fn trigger_issued_at(&self, trigger: &str) -> Option<Instant> {
        self.lock().triggers.get(trigger).map(|(at, _, _)| *at)
    }

    /// Fail the next `n` calls of `method` with `fault`.
    pub fn fail_next(&self, method: &str, n: usize, fault: Fault) {
        self.lock().faults.push((method.into(), n, fault));
    }

    /// Answer `method` only after `delay`.
    pub fn set_latency(&self, method: &str, delay: Duration) {
        self.lock().latency.insert(method.into(), delay);
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Parameters of every successful call of `method`.
    pub fn calls_to(&self, method: &str) -> Vec<Value> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method == method && c.outcome == "ok")
            .map(|c| c.params.clone())
            .collect()
    }

    pub fn count(&self, method: &str) -> usize {
        self.calls_to(method).len()
    }

    /// The DM channel ID Slack answers with for a user's DM with the bot.
    pub fn dm_channel(user: &str) -> String {
        format!("D{}", &user[1..])
    }

    pub fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    /// Messages in a conversation (a user ID means that user's DM), oldest first.
    pub fn messages_in(&self, channel: &str) -> Vec<Message> {
        let channel = if channel.starts_with('U') || channel.starts_with('W') {
            Self::dm_channel(channel)
        } else {
            channel.to_owned()
        };
        self.messages()
            .into_iter()
            .filter(|m| m.channel == channel)
            .collect()
    }

    /// (channel, user, text) of every ephemeral message.
    pub fn ephemeral(&self) -> Vec<(String, String, String)> {
        self.lock().ephemeral.clone()
    }

    /// Messages scheduled and not deleted, in the order they were scheduled.
    pub fn scheduled(&self) -> Vec<ScheduledMessage> {
        self.lock().scheduled.clone()
    }

    pub fn views(&self) -> Vec<OpenView> {
        self.lock().views.values().cloned().collect()
    }

    pub fn view(&self, id: &str) -> Option<OpenView> {
        self.lock().views.get(id).cloned()
    }

    /// The modal most recently opened for `user`.
    pub fn last_view_of(&self, user: &str) -> Option<OpenView> {
        self.lock()
            .views
            .values()
            .filter(|v| v.user.as_deref() == Some(user))
            .max_by_key(|v| v.id.clone())
            .cloned()
    }
}

fn take_fault(inner: &mut Inner, method: &str) -> Option<Fault> {
    let slot = inner
        .faults
        .iter_mut()
        .find(|(m, n, _)| m == method && *n > 0)?;
    slot.1 -= 1;
    Some(slot.2.clone())
}

fn params(headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Value {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut out = serde_json::Map::new();
    if let Some(q) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(&q).unwrap_or_default();
        for (k, v) in pairs {
            out.insert(k, Value::String(v));
        }
    }
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(m)) = serde_json::from_slice(body) {
            out.extend(m);
        }
    } else if !body.is_empty() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        for (k, v) in pairs {
            // Form-encoded JSON fields (views, blocks) arrive as strings.
            let parsed = serde_json::from_str::<Value>(&v)
                .ok()
                .filter(|p| p.is_object() || p.is_array());
            out.insert(k, parsed.unwrap_or(Value::String(v)));
        }
    }
    Value::Object(out)
}

fn slack_error(code: &str) -> Response {
    Json(json!({ "ok": false, "error": code })).into_response()
}

fn invalid(messages: Vec<String>) -> Response {
    Json(json!({
        "ok": false,
        "error": "invalid_arguments",
        "response_metadata": { "messages": messages }
    }))
    .into_response()
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(&headers, query, &body);
    let delay = inner.lock().unwrap().latency.get(&method).copied();
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    // Web API methods take the bot token; apps.connections.open only the app token.
    let token = if method == "apps.connections.open" {
        APP_TOKEN
    } else {
        BOT_TOKEN
    };
    let authorized = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {token}"));
    let mut guard = inner.lock().unwrap();
    let (response, outcome) = if !authorized {
        (slack_error("not_authed"), "not_authed".to_owned())
    } else if let Some(fault) = take_fault(&mut guard, &method) {
        match fault {
            Fault::RateLimited { retry_after } => (
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", retry_after.to_string())],
                    Json(json!({ "ok": false, "error": "ratelimited" })),
                )
                    .into_response(),
                "ratelimited".to_owned(),
            ),
            Fault::Error(code) => (slack_error(&code), code),
            Fault::Status(s) => (
                StatusCode::from_u16(s).unwrap().into_response(),
                s.to_string(),
            ),
        }
    } else {
        let r = answer(&mut guard, &method, &params);
        let outcome = r.1.clone();
        (r.0, outcome)
    };
    guard.calls.push(Call {
        method,
        params,
        at: Instant::now(),
        outcome,
    });
    response
}

fn ok(mut body: Value) -> Response {
    body["ok"] = Value::Bool(true);
    Json(body).into_response()
}

fn str_param<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

/// The bot scope a method needs, where accessbot calls it.
fn required_scope(method: &str) -> Option<&'static str> {
    match method {
        "users.info" => Some("users:read"),
        "users.lookupByEmail" => Some("users:read.email"),
        "usergroups.list" | "usergroups.users.list" => Some("usergroups:read"),
        "chat.postMessage"
        | "chat.update"
        | "chat.postEphemeral"
        | "chat.scheduleMessage"
        | "chat.deleteScheduledMessage" => Some("chat:write"),
        _ => None,
    }
}

/// Answers one method; the second value is `ok` or the error code.
fn answer(inner: &mut Inner, method: &str, p: &Value) -> (Response, String) {
    if let Some(needed) = required_scope(method).filter(|s| !inner.scopes.iter().any(|g| g == s)) {
        let body = json!({
            "ok": false,
            "error": "missing_scope",
            "needed": needed,
            "provided": inner.scopes.join(","),
        });
        return (Json(body).into_response(), "missing_scope".into());
    }
    let result: Result<Response, String> = match method {
        "apps.connections.open" => match &inner.socket_url {
            Some(url) => Ok(ok(json!({ "url": url }))),
            None => Err("not_allowed_token_type".into()),
        },
        "auth.test" => {
            let scopes = inner.scopes.join(",");
            let mut r = ok(json!({
                "url": "https://fake.slack.com/",
                "team": "Fake Team",
                "user": "accessbot",
                "team_id": TEAM_ID,
                "user_id": BOT_USER_ID,
                "bot_id": "BFAKE0001",
            }));
            r.headers_mut()
                .insert("x-oauth-scopes", scopes.parse().unwrap());
            Ok(r)
        }
        "users.info" => match str_param(p, "user").and_then(|u| inner.users.get(u)) {
            Some(u) => Ok(ok(json!({ "user": user_json(u, &inner.scopes) }))),
            None => Err("user_not_found".into()),
        },
        "users.lookupByEmail" => {
            let email = str_param(p, "email").unwrap_or("").to_ascii_lowercase();
            inner
                .users
                .values()
                .find(|u| {
                    u.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(&email))
                })
                .map(|u| ok(json!({ "user": user_json(u, &inner.scopes) })))
                .ok_or_else(|| "users_not_found".to_owned())
        }
        "usergroups.list" => {
            let groups: Vec<Value> = inner
                .groups
                .iter()
                .map(|(id, handle, members)| usergroup_json(id, handle, members.len()))
                .collect();
            Ok(ok(json!({ "usergroups": groups })))
        }
        "usergroups.users.list" => {
            let id = str_param(p, "usergroup").unwrap_or("");
            inner
                .groups
                .iter()
                .find(|(g, _, _)| g == id)
                .map(|(_, _, members)| ok(json!({ "users": members })))
                .ok_or_else(|| "no_such_subteam".to_owned())
        }
        "views.open" => views_open(inner, p),
        "views.update" => views_update(inner, p),
        "views.publish" => {
            let view = p.get("view").cloned().unwrap_or(Value::Null);
            match check_view(&view) {
                Err(problems) => return (invalid(problems), "invalid_arguments".into()),
                Ok(()) => {
                    inner.seq += 1;
                    let id = format!("VH{:08}", inner.seq);
                    Ok(ok(json!({ "view": stateful(&view, &id, "home-hash") })))
                }
            }
        }
        "chat.postMessage" => post_message(inner, p),
        "chat.scheduleMessage" => schedule_message(inner, p),
        "chat.deleteScheduledMessage" => {
            let channel = str_param(p, "channel").unwrap_or("");
            let id = str_param(p, "scheduled_message_id").unwrap_or("");
            match inner
                .scheduled
                .iter()
                .position(|m| m.id == id && m.channel == channel)
            {
                Some(i) => {
                    inner.scheduled.remove(i);
                    Ok(ok(json!({})))
                }
                None => Err("invalid_scheduled_message_id".into()),
            }
        }
        "chat.update" => update_message(inner, p),
        "chat.postEphemeral" => {
            let channel = str_param(p, "channel").unwrap_or("").to_owned();
            let user = str_param(p, "user").unwrap_or("").to_owned();
            let text = str_param(p, "text").unwrap_or("").to_owned();
            if !inner.users.contains_key(&user) {
                Err("user_not_found".into())
            } else {
                inner.ephemeral.push((channel, user, text));
                inner.seq += 1;
                Ok(ok(
                    json!({ "message_ts": format!("1700000000.{:06}", inner.seq) }),
                ))
            }
        }
        _ => Err("unknown_method".into()),
    };
    match result {
        Ok(r) => (r, "ok".into()),
        Err(code) => (slack_error(&code), code),
    }
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
        "tz": u.tz,
        "tz_offset": 3600,
        "profile": profile,
    })
}

fn usergroup_json(id: &str, handle: &str, count: usize) -> Value {
    json!({
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
        "user_count": count,
    })
}

fn stateful(view: &Value, id: &str, hash: &str) -> Value {
    let mut v = view.clone();
    v["id"] = json!(id);
    v["team_id"] = json!(TEAM_ID);
    v["hash"] = json!(hash);
    v["state"] = json!({ "values": {} });
    v["app_id"] = json!("AFAKE0001");
    v["bot_id"] = json!("BFAKE0001");
    v
}

fn views_open(inner: &mut Inner, p: &Value) -> Result<Response, String> {
    let trigger = str_param(p, "trigger_id").ok_or("invalid_arguments")?;
    let ttl = inner.trigger_ttl;
    let user = match inner.triggers.get_mut(trigger) {
        None => return Err("invalid_trigger_id".into()),
        Some((_, used, _)) if *used => return Err("expired_trigger_id".into()),
        Some((at, _, _)) if ttl.is_some_and(|ttl| at.elapsed() > ttl) => {
            return Err("expired_trigger_id".into())
        }
        Some((_, used, user)) => {
            *used = true;
            user.clone()
        }
    };
    let view = p.get("view").cloned().unwrap_or(Value::Null);
    if let Err(problems) = check_view(&view) {
        return Ok(invalid(problems));
    }
    inner.seq += 1;
    let id = format!("V{:010}", inner.seq);
    let hash = format!("{}.hash{}", 1_700_000_000 + inner.seq, inner.seq);
    inner.views.insert(
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

fn views_update(inner: &mut Inner, p: &Value) -> Result<Response, String> {
    let id = str_param(p, "view_id")
        .ok_or("invalid_arguments")?
        .to_owned();
    let view = p.get("view").cloned().unwrap_or(Value::Null);
    let hash = str_param(p, "hash").map(str::to_owned);
    inner.seq += 1;
    let seq = inner.seq;
    let Some(open) = inner.views.get_mut(&id) else {
        return Err("not_found".into());
    };
    if hash.is_some_and(|h| h != open.hash) {
        return Err("hash_conflict".into());
    }
    if let Err(problems) = check_view(&view) {
        return Ok(invalid(problems));
    }
    open.hash = format!("{}.hash{}", 1_700_000_000 + seq, seq);
    open.view = view.clone();
    open.versions.push(view.clone());
    Ok(ok(json!({ "view": stateful(&view, &id, &open.hash) })))
}

fn post_message(inner: &mut Inner, p: &Value) -> Result<Response, String> {
    let target = str_param(p, "channel")
        .ok_or("channel_not_found")?
        .to_owned();
    let channel = if target.starts_with('U') || target.starts_with('W') {
        match inner.users.get(&target) {
            Some(u) if !u.deleted => FakeSlack::dm_channel(&target),
            Some(_) => return Err("user_disabled".into()),
            None => return Err("channel_not_found".into()),
        }
    } else if inner.channels.contains(&target) || target.starts_with('D') {
        target
    } else {
        return Err("not_in_channel".into());
    };
    check_message(p)?;
    inner.seq += 1;
    let ts = format!("1700000000.{:06}", inner.seq);
    let text = str_param(p, "text").unwrap_or("").to_owned();
    let blocks = p.get("blocks").cloned().unwrap_or(json!([]));
    inner.messages.push(Message {
        channel: channel.clone(),
        ts: ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        versions: vec![json!({ "text": text, "blocks": blocks })],
    });
    Ok(ok(json!({
        "channel": channel,
        "ts": ts,
        "message": {
            "type": "message",
            "text": text,
            "blocks": blocks,
            "user": BOT_USER_ID,
            "bot_id": "BFAKE0001",
            "ts": ts,
        }
    })))
}

/// Like `chat.postMessage` (same channel rules and message limits), but
/// kept aside until `post_at`, which must be in the future and at most
/// [`MAX_SCHEDULE_AHEAD`] away. The fake never posts it.
fn schedule_message(inner: &mut Inner, p: &Value) -> Result<Response, String> {
    let target = str_param(p, "channel")
        .ok_or("channel_not_found")?
        .to_owned();
    let channel = if target.starts_with('U') || target.starts_with('W') {
        match inner.users.get(&target) {
            Some(u) if !u.deleted => FakeSlack::dm_channel(&target),
            Some(_) => return Err("user_disabled".into()),
            None => return Err("channel_not_found".into()),
        }
    } else if inner.channels.contains(&target) || target.starts_with('D') {
        target
    } else {
        return Err("not_in_channel".into());
    };
    // JSON bodies carry a number, form bodies a string.
    let post_at = match p.get("post_at") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or("invalid_time")?;
    let now = chrono::Utc::now().timestamp();
    if post_at <= now {
        return Err("time_in_past".into());
    }
    if post_at - now > MAX_SCHEDULE_AHEAD.as_secs() as i64 {
        return Err("time_too_far".into());
    }
    check_message(p)?;
    inner.seq += 1;
    let id = format!("Q{:010}", inner.seq);
    let text = str_param(p, "text").unwrap_or("").to_owned();
    inner.scheduled.push(ScheduledMessage {
        id: id.clone(),
        channel: channel.clone(),
        post_at,
        text: text.clone(),
    });
    Ok(ok(json!({
        "channel": channel,
        "scheduled_message_id": id,
        "post_at": post_at,
        "message": {
            "type": "delayed_message",
            "text": text,
            "user": BOT_USER_ID,
            "bot_id": "BFAKE0001",
        }
    })))
}

fn update_message(inner: &mut Inner, p: &Value) -> Result<Response, String> {
    let channel = str_param(p, "channel")
        .ok_or("channel_not_found")?
        .to_owned();
    let ts = str_param(p, "ts").ok_or("message_not_found")?.to_owned();
    // chat.update needs the conversation ID, not a user ID.
    if channel.starts_with('U') || channel.starts_with('W') {
        return Err("channel_not_found".into());
    }
    check_message(p)?;
    let text = str_param(p, "text").unwrap_or("").to_owned();
    let blocks = p.get("blocks").cloned().unwrap_or(json!([]));
    let msg = inner
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == ts)
        .ok_or("message_not_found")?;
    msg.text = text.clone();
    msg.blocks = blocks.clone();
    msg.versions
        .push(json!({ "text": text.clone(), "blocks": blocks.clone() }));
    Ok(ok(json!({
        "channel": channel,
        "ts": ts,
        "text": text,
        "message": { "text": text, "blocks": blocks, "user": BOT_USER_ID, "bot_id": "BFAKE0001" }
    })))
}

/// Slack's limits for message payloads.
fn check_message(p: &Value) -> Result<(), String> {
    let text = str_param(p, "text").unwrap_or("");
    let blocks = p.get("blocks").and_then(Value::as_array);
    if text.is_empty() && blocks.is_none_or(|b| b.is_empty()) {
        return Err("no_text".into());
    }
    if text.chars().count() > 40_000 {
        return Err("msg_too_long".into());
    }
    if let Some(blocks) = blocks {
        let mut problems = Vec::new();
        if blocks.len() > 50 {
            problems.push(format!("{} blocks; a message allows 50", blocks.len()));
        }
        check_blocks(blocks, &mut problems);
        if !problems.is_empty() {
            return Err(format!("invalid_blocks: {}", problems.join("; ")));
        }
    }
    Ok(())
}

fn chars(v: &Value, key: &str) -> usize {
    v.get(key)
        .and_then(|t| t.get("text").or(Some(t)))
        .and_then(Value::as_str)
        .map(|s| s.chars().count())
        .unwrap_or(0)
}

/// Slack's limits for modals and home tabs.
pub fn check_view(view: &Value) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let kind = view.get("type").and_then(Value::as_str).unwrap_or("");
    if kind != "modal" && kind != "home" {
        problems.push(format!("view type {kind:?} is not modal or home"));
    }
    if kind == "modal" {
        for key in ["title", "submit", "close"] {
            if chars(view, key) > 24 {
                problems.push(format!("{key} is over 24 characters"));
            }
        }
        if chars(view, "title") == 0 {
            problems.push("a modal needs a title".into());
        }
    }
    let meta = view
        .get("private_metadata")
        .and_then(Value::as_str)
        .unwrap_or("");
    if meta.len() > 3000 {
        problems.push(format!(
            "private_metadata is {} chars (max 3000)",
            meta.len()
        ));
    }
    let blocks = view
        .get("blocks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if blocks.len() > 100 {
        problems.push(format!("{} blocks; a view allows 100", blocks.len()));
    }
    let has_input = blocks
        .iter()
        .any(|b| b.get("type").and_then(Value::as_str) == Some("input"));
    if has_input && view.get("submit").is_none() {
        problems.push("a modal with input blocks needs a submit button".into());
    }
    check_blocks(&blocks, &mut problems);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Limits shared by messages and views: block IDs unique, text lengths,
/// option counts and sizes.
pub fn check_blocks(blocks: &[Value], problems: &mut Vec<String>) {
    let mut block_ids = Vec::new();
    for b in blocks {
        if let Some(id) = b.get("block_id").and_then(Value::as_str) {
            if block_ids.contains(&id) {
                problems.push(format!("duplicate block_id {id:?}"));
            }
            block_ids.push(id);
            if id.len() > 255 {
                problems.push("block_id over 255 chars".into());
            }
        }
        match b.get("type").and_then(Value::as_str).unwrap_or("") {
            "section" => {
                if chars(b, "text") > 3000 {
                    problems.push("section text over 3000 chars".into());
                }
                if let Some(fields) = b.get("fields").and_then(Value::as_array) {
                    if fields.len() > 10 {
                        problems.push("section with more than 10 fields".into());
                    }
                    for f in fields {
                        if f.get("text")
                            .and_then(Value::as_str)
                            .map_or(0, |t| t.chars().count())
                            > 2000
                        {
                            problems.push("section field over 2000 chars".into());
                        }
                    }
                }
                if b.get("text").is_none() && b.get("fields").is_none() {
                    problems.push("section needs text or fields".into());
                }
            }
            "input" => {
                if chars(b, "label") > 2000 {
                    problems.push("input label over 2000 chars".into());
                }
                if let Some(e) = b.get("element") {
                    check_element(e, problems);
                }
            }
            "actions" => {
                let elements = b
                    .get("elements")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                if elements.len() > 25 {
                    problems.push("actions block with more than 25 elements".into());
                }
                elements.iter().for_each(|e| check_element(e, problems));
            }
            "context" => {
                let n = b
                    .get("elements")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                if n == 0 || n > 10 {
                    problems.push("context block needs 1–10 elements".into());
                }
            }
            "divider" | "header" => {}
            other => problems.push(format!("unexpected block type {other:?}")),
        }
    }
}

fn check_options(options: &[Value], max: usize, problems: &mut Vec<String>) {
    if options.len() > max {
        problems.push(format!("{} options; at most {max}", options.len()));
    }
    for o in options {
        if chars(o, "text") > 75 {
            problems.push(format!("option text over 75 chars: {o}"));
        }
        if o.get("value").and_then(Value::as_str).map_or(0, str::len) > 150 {
            problems.push("option value over 150 chars".into());
        }
    }
}

fn check_element(e: &Value, problems: &mut Vec<String>) {
    let kind = e.get("type").and_then(Value::as_str).unwrap_or("");
    if e.get("action_id")
        .and_then(Value::as_str)
        .map_or(0, str::len)
        > 255
    {
        problems.push("action_id over 255 chars".into());
    }
    let options = e
        .get("options")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    match kind {
        "button" => {
            if chars(e, "text") > 75 {
                problems.push("button text over 75 chars".into());
            }
            if e.get("value").and_then(Value::as_str).map_or(0, str::len) > 2000 {
                problems.push("button value over 2000 chars".into());
            }
        }
        "static_select" => {
            if options.is_empty() && e.get("option_groups").is_none() {
                problems.push("static_select needs options".into());
            }
            check_options(&options, 100, problems);
        }
        "radio_buttons" => {
            if options.is_empty() {
                problems.push("radio_buttons needs options".into());
            }
            check_options(&options, 10, problems);
        }
        "external_select" | "users_select" | "plain_text_input" => {}
        other => problems.push(format!("unexpected element type {other:?}")),
    }
    if let Some(initial) = e.get("initial_option") {
        check_options(std::slice::from_ref(initial), 1, problems);
        if kind != "external_select"
            && !options.is_empty()
            && !options
                .iter()
                .any(|o| o.get("value") == initial.get("value"))
        {
            problems.push("initial_option is not one of the options".into());
        }
    }
}
