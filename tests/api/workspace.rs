//! Who may use the bot: only its own workspace (the team `auth.test`
//! names), and guests only for profiles that allow them.

use serde_json::json;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::FakeUser;
use crate::support::payloads::{self, FormInput};

on_both_backends!(
    interactions_from_another_workspace_are_refused,
    guests_may_request_only_what_allows_guests,
);

const OTHER_TEAM: &str = "T0OTHER01";

async fn interactions_from_another_workspace_are_refused(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let trigger = app.slack.trigger_for(ALICE);
    let mut shortcut = payloads::shortcut(ALICE, "request_access", &trigger);
    shortcut["team"]["id"] = json!(OTHER_TEAM);
    shortcut["user"]["team_id"] = json!(OTHER_TEAM);
    assert_eq!(app.interact(&shortcut).await.status(), 400);

    let command = payloads::slash_command(ALICE, "/access", "", &trigger)
        .replace("team_id=T0FAKE001", &format!("team_id={OTHER_TEAM}"));
    let resp = app
        .post_signed(
            "/slack/commands",
            "application/x-www-form-urlencoded",
            command,
        )
        .await;
    assert_eq!(resp.status(), 400);

    let mut home = payloads::app_home_opened(ALICE);
    home["team_id"] = json!(OTHER_TEAM);
    let resp = app
        .post_signed("/slack/events", "application/json", home.to_string())
        .await;
    assert_eq!(resp.status(), 400);

    // A decision from another workspace changes nothing either.
    let req = app.request(ALICE, prod_request()).await;
    let dm = app.message_with_button(BOB, "approve", req.id).await;
    let mut click = payloads::message_button(
        BOB,
        &dm.channel,
        &dm.ts,
        "approve",
        &req.id.to_string(),
        "t",
    );
    click["team"]["id"] = json!(OTHER_TEAM);
    assert_eq!(app.interact(&click).await.status(), 400);
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");

    assert_eq!(app.slack.count("views.publish"), 0);
    // The form the test opened itself is the only one.
    assert_eq!(app.slack.count("views.open"), 1);
    assert_eq!(app.slack.count("auth.test"), 1, "asked once, then kept");
}

const GUEST: &str = "U0GUEST01";
const SINGLE: &str = "U0SINGLE1";

/// Prod does not allow guests; `custom:guestAccess` does. Both let any
/// device be chosen, so the guests' lack of devices does not matter.
const GUEST_PROFILES: &str = r#"
[[profiles]]
attribute = "custom:prodAccess"
max_duration = "8h"
approvers = ["bob@example.com"]
devices = "any"

[[profiles]]
attribute = "custom:guestAccess"
max_duration = "8h"
approvers = ["bob@example.com"]
devices = "any"
allow_guests = true
"#;

async fn guests_may_request_only_what_allows_guests(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend).profiles(GUEST_PROFILES));
    app.slack
        .add_user(FakeUser::new(GUEST, "guest@partner.example", "Gus Guest").guest());
    app.slack.add_user(
        FakeUser::new(SINGLE, "single@partner.example", "Sid Single").single_channel_guest(),
    );
    let input = |profile: &str| FormInput {
        profile: Some(profile.into()),
        device: Some(PROD_DB.into()),
        duration_secs: Some(3600),
        approver: Some(BOB.into()),
        reason: Some("vendor maintenance".into()),
    };
    for guest in [GUEST, SINGLE] {
        let view = app.open_form_ready(guest).await;
        let answer = app.submit(guest, &view, &input(PROD)).await;
        assert_eq!(answer["response_action"], "errors", "{answer:#}");
        let why = answer["errors"]["profile"].as_str().unwrap();
        assert!(why.contains("Guest accounts cannot request"), "{why}");
        let view = app.open_form_ready(guest).await;
        let answer = app.submit(guest, &view, &input("custom:guestAccess")).await;
        assert_eq!(answer["response_action"], "update", "{answer:#}");
    }
    // A full member may request either.
    let view = app.open_form_ready(ALICE).await;
    let answer = app.submit(ALICE, &view, &input(PROD)).await;
    assert_eq!(answer["response_action"], "update", "{answer:#}");
    let count = app
        .state
        .store
        .count_requests(&Default::default())
        .await
        .unwrap();
    assert_eq!(count, 3);
}
