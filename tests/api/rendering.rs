//! What people see: the modal and the messages, snapshotted (insta) and
//! held to Slack's limits.

use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::check_view;
use crate::support::payloads::FormInput;

async fn app_with(profiles: &str) -> TestApp {
    AppOptions::new(Backend::Sqlite)
        .profiles(profiles)
        .spawn()
        .await
        .expect("SQLite is always there")
}

/// Replace what changes from run to run (request IDs, times) with stable text.
fn normalize(v: &Value, id: Option<accessbot::domain::RequestId>) -> Value {
    let mut text = v.to_string();
    if let Some(id) = id {
        text = text.replace(&id.to_string(), "<request-id>");
    }
    let date = regex_lite_replace(&text);
    serde_json::from_str(&date).unwrap()
}

/// `<!date^1700000000^…|2023-11-14 22:13 UTC>` → `<!date^<ts>^…|<utc>>`.
pub(super) fn regex_lite_replace(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!date^") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let end = tail.find('>').map(|e| e + 1).unwrap_or(tail.len());
        let token = &tail[..end];
        let format = token
            .split('^')
            .nth(2)
            .and_then(|f| f.split('|').next())
            .unwrap_or("");
        out.push_str(&format!("<!date^<ts>^{format}|<utc>>"));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn all_options(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            for key in ["options", "initial_option"] {
                match m.get(key) {
                    Some(Value::Array(a)) => out.extend(a.iter().cloned()),
                    Some(o @ Value::Object(_)) => out.push(o.clone()),
                    _ => {}
                }
            }
            m.values().for_each(|v| all_options(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| all_options(v, out)),
        _ => {}
    }
}

/// Slack's limits, asserted here as well as enforced by the fake.
pub(super) fn assert_within_slack_limits(view: &Value) {
    let chars = |v: &Value| v["text"].as_str().map_or(0, |t| t.chars().count());
    assert!(chars(&view["title"]) <= 24, "title");
    assert!(chars(&view["submit"]) <= 24, "submit");
    assert!(chars(&view["close"]) <= 24, "close");
    assert!(view["blocks"].as_array().unwrap().len() <= 100, "blocks");
    assert!(
        view["private_metadata"].as_str().unwrap_or("").len() <= 3000,
        "private_metadata"
    );
    let mut options = Vec::new();
    all_options(view, &mut options);
    for o in &options {
        assert!(chars(&o["text"]) <= 75, "option text: {o}");
        assert!(
            o["value"].as_str().unwrap().len() <= 150,
            "option value: {o}"
        );
    }
    for block in view["blocks"].as_array().unwrap() {
        if let Some(opts) = block["element"]["options"].as_array() {
            let max = if block["element"]["type"] == "radio_buttons" {
                10
            } else {
                100
            };
            assert!(
                opts.len() <= max,
                "{} options in {}",
                opts.len(),
                block["block_id"]
            );
        }
    }
    check_view(view).expect("the fake's own checks agree");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_modal() {
    let app = app_with(PROFILES).await;
    let view = app.open_form_ready(ALICE).await;
    assert_within_slack_limits(&view.view);
    insta::assert_json_snapshot!("request_modal", view.view);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_profiles_and_approvers_stay_within_limits() {
    // 120 profiles (a select shows 100) and a group of 15 approvers (too
    // many for radio buttons: a select of exactly them, never a picker of
    // the whole workspace).
    let mut profiles = String::new();
    for i in 0..120 {
        profiles.push_str(&format!(
            "[[profiles]]\nattribute = \"custom:p{i:03}\"\n\
             description = \"Profile {i:03} with a long description that goes on and on and on\"\n\
             max_duration = \"1h\"\napprovers = [\"@big\"]\n\n"
        ));
    }
    let app = app_with(&profiles).await;
    let members: Vec<String> = (0..15).map(|i| format!("U0MEMBER{i:02}")).collect();
    for m in &members {
        app.slack
            .add_user(crate::support::fake_slack::FakeUser::new(
                m,
                &format!("{}@example.com", m.to_lowercase()),
                &format!("Member {m}"),
            ));
    }
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    app.slack.add_group("S0BIG0001", "big", &refs);
    // The directory's next round finds the new group.
    app.state.people.refresh(&app.state.config.profiles).await;
    let view = app.open_form_ready(ALICE).await;
    assert_within_slack_limits(&view.view);
    let approver = view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "approver")
        .unwrap();
    assert_eq!(approver["element"]["type"], "static_select");
    assert_eq!(approver["element"]["options"].as_array().unwrap().len(), 15);
    let profile = &view.view["blocks"][0]["element"];
    assert_eq!(profile["options"].as_array().unwrap().len(), 100);
}

fn message_json(m: &crate::support::fake_slack::Message) -> Value {
    serde_json::json!({ "text": m.text, "blocks": m.blocks })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_messages_people_get() {
    let app = app_with(PROFILES).await;
    let req = app.request(ALICE, prod_request()).await;
    let ask = app.message_with_button(BOB, "approve", req.id).await;
    let pending = app.message_with_button(ALICE, "cancel", req.id).await;
    insta::assert_json_snapshot!(
        "approver_dm_pending",
        normalize(&message_json(&ask), Some(req.id))
    );
    insta::assert_json_snapshot!(
        "requester_dm_pending",
        normalize(&message_json(&pending), Some(req.id))
    );

    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    let granted = app.message_with_button(ALICE, "revoke", req.id).await;
    app.settle().await;
    let decided = app.current_message(&ask);
    let post = app.slack.messages_in(PROD_CHANNEL).pop().unwrap();
    insta::assert_json_snapshot!(
        "approver_dm_granted",
        normalize(&message_json(&decided), Some(req.id))
    );
    insta::assert_json_snapshot!(
        "requester_dm_granted",
        normalize(&message_json(&granted), Some(req.id))
    );
    insta::assert_json_snapshot!(
        "channel_post_granted",
        normalize(&message_json(&post), Some(req.id))
    );

    // Denied, for the other outcome people see most.
    let other = app
        .request(
            ALICE,
            FormInput {
                reason: Some("look at <the> logs & more".into()),
                ..prod_request()
            },
        )
        .await;
    app.click(BOB, BOB, "deny", other.id).await;
    app.wait_for_status(other.id, "denied").await;
    app.settle().await;
    let denied = app
        .slack
        .messages_in(ALICE)
        .into_iter()
        .find(|m| m.render().contains("denied your request"))
        .unwrap();
    insta::assert_json_snapshot!(
        "requester_dm_denied",
        normalize(&message_json(&denied), Some(other.id))
    );
    assert!(
        denied.render().contains("&lt;the&gt; logs &amp; more"),
        "mrkdwn is escaped"
    );
}
