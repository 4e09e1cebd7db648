//! Tokens and scopes: which token a method takes, which scope it needs,
//! and the two methods about the app itself (`auth.test`,
//! `apps.connections.open`).

use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::server::{ok, Reply};
use super::{FakeSlack, Inner, BOT_ID, BOT_USER_ID, TEAM_ID};

pub const BOT_TOKEN: &str = "xoxb-fake-bot-token";
/// The app-level token Socket Mode uses (`apps.connections.open` only).
pub const APP_TOKEN: &str = "xapp-1-fake-app-token";
/// The scopes accessbot asks for; `auth.test` reports these unless changed.
pub const DEFAULT_SCOPES: &[&str] = &[
    "commands",
    "chat:write",
    "users:read",
    "users:read.email",
    "usergroups:read",
];

pub(super) struct AuthState {
    /// The bot token's scopes.
    pub(super) scopes: Vec<String>,
    /// The WebSocket URL `apps.connections.open` hands out.
    socket_url: Option<String>,
}

impl Default for AuthState {
    fn default() -> Self {
        Self {
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
            socket_url: None,
        }
    }
}

impl FakeSlack {
    /// Where `apps.connections.open` sends Socket Mode clients.
    pub fn set_socket_url(&self, url: &str) {
        self.lock().auth.socket_url = Some(url.to_owned());
    }

    pub fn set_scopes(&self, scopes: &[&str]) {
        self.lock().auth.scopes = scopes.iter().map(|s| s.to_string()).collect();
    }
}

/// Whether the call carries the token `method` takes: Web API methods take
/// the bot token; `apps.connections.open` only the app token.
pub(super) fn authorized(headers: &HeaderMap, method: &str) -> bool {
    let token = if method == "apps.connections.open" {
        APP_TOKEN
    } else {
        BOT_TOKEN
    };
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {token}"))
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

/// Slack's `missing_scope` answer when the token lacks what `method` needs.
pub(super) fn missing_scope(inner: &Inner, method: &str) -> Option<Response> {
    let scopes = &inner.auth.scopes;
    let needed = required_scope(method).filter(|s| !scopes.iter().any(|g| g == s))?;
    let body = json!({
        "ok": false,
        "error": "missing_scope",
        "needed": needed,
        "provided": scopes.join(","),
    });
    Some(Json(body).into_response())
}

pub(super) fn connections_open(inner: &Inner) -> Reply {
    match &inner.auth.socket_url {
        Some(url) => Ok(ok(json!({ "url": url }))),
        None => Err("not_allowed_token_type".into()),
    }
}

/// Who the bot is, with its scopes in `x-oauth-scopes` as Slack sends them.
pub(super) fn auth_test(inner: &Inner) -> Reply {
    let scopes = inner.auth.scopes.join(",");
    let mut r = ok(json!({
        "url": "https://fake.slack.com/",
        "team": "Fake Team",
        "user": "accessbot",
        "team_id": TEAM_ID,
        "user_id": BOT_USER_ID,
        "bot_id": BOT_ID,
    }));
    r.headers_mut()
        .insert("x-oauth-scopes", scopes.parse().unwrap());
    Ok(r)
}
