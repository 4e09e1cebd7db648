//! Interactivity payloads shaped like the ones Slack sends (fields copied
//! from real payloads; only values are made up), for the test harness to
//! sign and post.

use serde_json::{json, Value};

use super::fake_slack::{OpenView, TEAM_ID};

fn team() -> Value {
    json!({ "id": TEAM_ID, "domain": "fake" })
}

fn user(id: &str) -> Value {
    json!({ "id": id, "username": id.to_ascii_lowercase(), "name": id.to_ascii_lowercase(), "team_id": TEAM_ID })
}

/// A global shortcut (`type: shortcut`).
pub fn shortcut(user_id: &str, callback_id: &str, trigger_id: &str) -> Value {
    json!({
        "type": "shortcut",
        "token": "legacy-verification-token",
        "action_ts": "1700000000.123456",
        "team": team(),
        "user": user(user_id),
        "is_enterprise_install": false,
        "enterprise": null,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
    })
}

/// A slash command, form-encoded like Slack sends it.
pub fn slash_command(user_id: &str, command: &str, text: &str, trigger_id: &str) -> String {
    serde_urlencoded::to_string([
        ("token", "legacy-verification-token"),
        ("team_id", TEAM_ID),
        ("team_domain", "fake"),
        ("channel_id", "C0GENERAL1"),
        ("channel_name", "general"),
        ("user_id", user_id),
        ("user_name", &user_id.to_ascii_lowercase()),
        ("command", command),
        ("text", text),
        ("api_app_id", "AFAKE0001"),
        ("is_enterprise_install", "false"),
        (
            "response_url",
            "https://hooks.slack.com/commands/T0FAKE001/1/abc",
        ),
        ("trigger_id", trigger_id),
    ])
    .unwrap()
}

/// What the person has entered in the request form.
#[derive(Debug, Clone, Default)]
pub struct FormInput {
    pub profile: Option<String>,
    pub device: Option<String>,
    pub duration_secs: Option<u64>,
    /// A user ID; sent the way the form's approver element sends it.
    pub approver: Option<String>,
    pub reason: Option<String>,
}

fn option(value: &str) -> Value {
    json!({ "text": { "type": "plain_text", "text": value, "emoji": true }, "value": value })
}

/// The kind of element the view uses for `block_id` (to shape its state).
fn element_type(view: &Value, block_id: &str) -> Option<String> {
    view["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["block_id"] == block_id)
        .and_then(|b| b["element"]["type"].as_str())
        .map(str::to_owned)
}

/// `view.state.values` for the form's current blocks and `input`.
pub fn form_state(view: &Value, input: &FormInput) -> Value {
    let mut values = serde_json::Map::new();
    let mut put = |block: &str, state: Value| {
        values.insert(block.to_owned(), json!({ block: state }));
    };
    let selected = |v: &Option<String>, kind: &str| match v {
        Some(v) => json!({ "type": kind, "selected_option": option(v) }),
        None => json!({ "type": kind, "selected_option": null }),
    };
    put("profile", selected(&input.profile, "static_select"));
    put("device", selected(&input.device, "external_select"));
    put(
        "duration",
        selected(&input.duration_secs.map(|d| d.to_string()), "static_select"),
    );
    match element_type(view, "approver").as_deref() {
        Some("users_select") => put(
            "approver",
            json!({ "type": "users_select", "selected_user": input.approver }),
        ),
        Some(kind) => put("approver", selected(&input.approver, kind)),
        None => {}
    }
    put(
        "reason",
        json!({ "type": "plain_text_input", "value": input.reason }),
    );
    Value::Object(values)
}

/// The view as Slack includes it in payloads: what the app sent, plus
/// Slack's fields and the state.
pub fn view_payload(open: &OpenView, state: Value) -> Value {
    let mut v = open.view.clone();
    v["id"] = json!(open.id);
    v["team_id"] = json!(TEAM_ID);
    v["hash"] = json!(open.hash);
    v["state"] = json!({ "values": state });
    v["app_id"] = json!("AFAKE0001");
    v["bot_id"] = json!("BFAKE0001");
    v["root_view_id"] = json!(open.id);
    v["previous_view_id"] = Value::Null;
    v
}

/// Submitting the request form.
pub fn view_submission(user_id: &str, view: Value) -> Value {
    json!({
        "type": "view_submission",
        "team": team(),
        "user": user(user_id),
        "api_app_id": "AFAKE0001",
        "token": "legacy-verification-token",
        "trigger_id": "1000.42.submission",
        "view": view,
        "response_urls": [],
        "is_enterprise_install": false,
        "enterprise": null,
    })
}

/// Closing the form with Cancel.
pub fn view_closed(user_id: &str, view: Value) -> Value {
    json!({
        "type": "view_closed",
        "team": team(),
        "user": user(user_id),
        "api_app_id": "AFAKE0001",
        "token": "legacy-verification-token",
        "view": view,
        "is_cleared": false,
        "is_enterprise_install": false,
    })
}

/// The device menu asking for options as the person types.
pub fn block_suggestion(user_id: &str, view: Value, action_id: &str, typed: &str) -> Value {
    json!({
        "type": "block_suggestion",
        "user": user(user_id),
        "container": { "type": "view", "view_id": view["id"] },
        "api_app_id": "AFAKE0001",
        "token": "legacy-verification-token",
        "action_id": action_id,
        "block_id": action_id,
        "value": typed,
        "team": team(),
        "enterprise": null,
        "is_enterprise_install": false,
        "view": view,
    })
}

/// A select changed inside the modal (e.g. the profile, which dispatches).
pub fn view_select_action(user_id: &str, view: Value, action_id: &str, value: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": user(user_id),
        "api_app_id": "AFAKE0001",
        "token": "legacy-verification-token",
        "container": { "type": "view", "view_id": view["id"] },
        "trigger_id": "1000.42.select",
        "team": team(),
        "enterprise": null,
        "is_enterprise_install": false,
        "view": view,
        "actions": [{
            "type": "static_select",
            "action_id": action_id,
            "block_id": action_id,
            "selected_option": option(value),
            "placeholder": { "type": "plain_text", "text": "Choose", "emoji": true },
            "action_ts": "1700000000.222222",
        }],
    })
}

/// A button clicked in a message (Approve, Deny, Revoke, Cancel, Request again).
pub fn message_button(
    user_id: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
    trigger_id: &str,
) -> Value {
    json!({
        "type": "block_actions",
        "user": user(user_id),
        "api_app_id": "AFAKE0001",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": false,
        },
        "trigger_id": trigger_id,
        "team": team(),
        "enterprise": null,
        "is_enterprise_install": false,
        "channel": { "id": channel, "name": "directmessage" },
        "message": {
            "type": "message",
            "user": "UBOTFAKE1",
            "ts": message_ts,
            "bot_id": "BFAKE0001",
            "text": "…",
        },
        "state": { "values": {} },
        "response_url": "https://hooks.slack.com/actions/T0FAKE001/1/abc",
        "actions": [{
            "action_id": action_id,
            "block_id": "decision",
            "text": { "type": "plain_text", "text": action_id, "emoji": true },
            "value": value,
            "type": "button",
            "action_ts": "1700000000.333333",
        }],
    })
}

/// A button clicked in the App Home: `view` is the published home view
/// (Slack sends it back with its ID; the container is the view).
pub fn home_button(
    user_id: &str,
    view: &Value,
    action_id: &str,
    value: &str,
    trigger_id: &str,
) -> Value {
    let mut shown = view.clone();
    shown["id"] = json!("VHOME00001");
    shown["team_id"] = json!(TEAM_ID);
    shown["hash"] = json!("1700000000.home");
    shown["state"] = json!({ "values": {} });
    shown["private_metadata"] = json!("");
    shown["callback_id"] = json!("");
    json!({
        "type": "block_actions",
        "user": user(user_id),
        "api_app_id": "AFAKE0001",
        "token": "legacy-verification-token",
        "container": { "type": "view", "view_id": "VHOME00001" },
        "trigger_id": trigger_id,
        "team": team(),
        "enterprise": null,
        "is_enterprise_install": false,
        "view": shown,
        "actions": [{
            "action_id": action_id,
            "block_id": "home",
            "text": { "type": "plain_text", "text": action_id, "emoji": true },
            "value": value,
            "type": "button",
            "action_ts": "1700000000.555555",
        }],
    })
}

/// An Events API envelope for `app_home_opened`.
pub fn app_home_opened(user_id: &str) -> Value {
    json!({
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "api_app_id": "AFAKE0001",
        "event": {
            "type": "app_home_opened",
            "user": user_id,
            "channel": "D0HOME001",
            "tab": "home",
            "event_ts": "1700000000.444444",
        },
        "type": "event_callback",
        "event_id": "Ev0FAKE001",
        "event_time": 1700000000,
    })
}

/// A button clicked in a message whose inputs hold `values` (its
/// `state.values`, as Slack sends them with the click).
pub fn message_button_with_state(
    user_id: &str,
    channel: &str,
    message_ts: &str,
    action_id: &str,
    value: &str,
    trigger_id: &str,
    values: Value,
) -> Value {
    let mut payload = message_button(user_id, channel, message_ts, action_id, value, trigger_id);
    payload["state"] = json!({ "values": values });
    payload
}

/// `state.values` of a message asking to decide: the duration chosen next
/// to Approve (seconds, sent as the option's value) and the reason typed
/// for a denial.
pub fn decision_state(duration: Option<&str>, deny_reason: Option<&str>) -> Value {
    let selected = duration
        .map(|d| json!({ "text": { "type": "plain_text", "text": d, "emoji": true }, "value": d }));
    json!({
        "decision": {
            "approve_duration": { "type": "static_select", "selected_option": selected }
        },
        "deny_reason": {
            "deny_reason": { "type": "plain_text_input", "value": deny_reason }
        }
    })
}
