//! The HTTP side: one route for every Web API method, the order in which
//! a call is checked (latency, hold, token, injected fault, rate limit,
//! scope), the table of methods, and the response shapes they share.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{auth, chat, directory, faults, recording, views, Inner, SharedInner};

/// What a method handler answers: the response, or a Slack error code.
pub(super) type Reply = Result<Response, String>;

pub(super) fn router(inner: SharedInner) -> Router {
    Router::new()
        .route("/api/{method}", any(handle))
        .with_state(inner)
}

async fn handle(
    State(inner): State<SharedInner>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(&headers, query, &body);
    let delay = faults::latency(&inner.lock().unwrap(), &method);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    faults::wait_while_held(&inner, &method).await;
    let authorized = auth::authorized(&headers, &method);
    let mut guard = inner.lock().unwrap();
    let (response, outcome) = if !authorized {
        (slack_error("not_authed"), "not_authed".to_owned())
    } else if let Some(fault) = faults::take(&mut guard, &method) {
        fault.response()
    } else if let Some(limited) = faults::over_limit(&mut guard, &method) {
        limited.response()
    } else {
        answer(&mut guard, &method, &params)
    };
    recording::record(&mut guard, method, params, outcome);
    response
}

/// JSON body, form fields and query parameters of a call, as one object.
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

/// Answers one method; the second value is `ok` or the error code.
fn answer(inner: &mut Inner, method: &str, p: &Value) -> (Response, String) {
    if let Some(refusal) = auth::missing_scope(inner, method) {
        return (refusal, "missing_scope".into());
    }
    let reply: Reply = match method {
        "apps.connections.open" => auth::connections_open(inner),
        "auth.test" => auth::auth_test(inner),
        "users.info" => directory::users_info(inner, p),
        "users.lookupByEmail" => directory::lookup_by_email(inner, p),
        "users.list" => directory::users_list(inner, p),
        "usergroups.list" => directory::usergroups_list(inner, p),
        "usergroups.users.list" => directory::usergroup_members(inner, p),
        "views.open" => views::open(inner, p),
        "views.update" => views::update(inner, p),
        "views.publish" => return views::publish(inner, p),
        "chat.postMessage" => chat::post_message(inner, p),
        "chat.scheduleMessage" => chat::schedule_message(inner, p),
        "chat.deleteScheduledMessage" => chat::delete_scheduled_message(inner, p),
        "chat.update" => chat::update_message(inner, p),
        "chat.postEphemeral" => chat::post_ephemeral(inner, p),
        _ => Err("unknown_method".into()),
    };
    match reply {
        Ok(r) => (r, "ok".into()),
        Err(code) => (slack_error(&code), code),
    }
}

pub(super) fn ok(mut body: Value) -> Response {
    body["ok"] = Value::Bool(true);
    Json(body).into_response()
}

pub(super) fn slack_error(code: &str) -> Response {
    Json(json!({ "ok": false, "error": code })).into_response()
}

/// `invalid_arguments` with the problems listed, as Slack answers broken
/// Block Kit.
pub(super) fn invalid(messages: Vec<String>) -> Response {
    Json(json!({
        "ok": false,
        "error": "invalid_arguments",
        "response_metadata": { "messages": messages }
    }))
    .into_response()
}

pub(super) fn str_param<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}
