//! Extend: an active grant gets more time, without approval within the
//! profile's `extend_without_approval`, else through its approval policy;
//! either way the attribute's expiry moves through the one writer and the
//! grant's messages say the new time.

use std::time::Duration;

use accessbot::domain::{AccessRequest, RequestId, RequestStatus};
use accessbot::store::RequestFilter;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::{self, OpenView};
use crate::support::payloads::{self, FormInput};

on_both_backends!(
    extending_within_the_allowance_moves_the_attributes_expiry,
    an_approved_extension_moves_the_attributes_expiry_once,
    an_extension_past_the_limit_is_refused_naming_the_latest_time,
    only_the_requester_can_extend,
    a_revoke_after_an_extension_still_removes_access,
    an_extension_approved_after_the_grant_ended_fails_clearly,
);

const MINUTE: Duration = Duration::from_secs(60);

/// The test profiles, with prod allowing an hour more without approval.
fn with_allowance(backend: Backend) -> AppOptions {
    let profiles = PROFILES.replacen(
        "notify_channel = \"C0PRODNOTE\"\n",
        "notify_channel = \"C0PRODNOTE\"\nextend_without_approval = \"1h\"\n",
        1,
    );
    AppOptions::new(backend).profiles(&profiles)
}

/// Alice's prod grant for `hours`, approved by Bob, everyone told.
async fn grant(app: &TestApp, hours: u64) -> AccessRequest {
    let input = FormInput {
        duration_secs: Some(hours * 3600),
        ..prod_request()
    };
    let req = app.request(ALICE, input).await;
    app.click(BOB, BOB, "approve", req.id).await;
    let active = app.wait_for_status(req.id, "active").await;
    app.settle().await;
    active
}

/// Click Extend on the grant's DM as `user`; the form, if one opened.
async fn click_extend(app: &TestApp, user: &str, id: RequestId) -> Option<OpenView> {
    let dm = app.message_with_button(ALICE, "extend", id).await;
    let trigger = app.slack.trigger_for(user);
    let payload = payloads::message_button(
        user,
        &dm.channel,
        &dm.ts,
        "extend",
        &id.to_string(),
        &trigger,
    );
    assert_eq!(app.interact(&payload).await.status(), 200);
    let opened = || {
        app.slack
            .calls_to("views.open")
            .iter()
            .any(|c| c["trigger_id"] == trigger)
    };
    let told = || !app.ephemeral_to(user).is_empty();
    wait_until("the form opens or the clicker is told", || {
        opened() || told()
    })
    .await;
    opened().then(|| app.slack.last_view_of(user).unwrap())
}

/// Submit the Extend form: `extra` more, for `reason`; Slack must accept
/// the answer.
async fn submit_extend(app: &TestApp, user: &str, view: &OpenView, extra: Duration) -> Value {
    let option = |v: &str| json!({ "text": { "type": "plain_text", "text": v }, "value": v });
    let state = json!({
        "extend_by": { "extend_by": {
            "type": "static_select",
            "selected_option": option(&extra.as_secs().to_string()),
        } },
        "reason": { "reason": { "type": "plain_text_input", "value": "the migration runs long" } },
    });
    let payload = payloads::view_submission(user, payloads::view_payload(view, state));
    let answer = app.interact_json(&payload).await;
    if let Err(problems) = fake_slack::check_submission_answer(&view.view, &answer) {
        panic!("Slack refuses this answer: {problems:#?}\n{answer:#}");
    }
    answer
}

/// How Slack is asked to show `at` in a message.
fn date(at: DateTime<Utc>) -> String {
    format!("<!date^{}^", at.timestamp())
}

fn attribute_expiry(app: &TestApp) -> Option<DateTime<Utc>> {
    app.tailnet
        .attribute(ALICE_LAPTOP, PROD)
        .and_then(|a| a.expiry)
}

/// The DM in alice's conversation that carries the grant's buttons, now.
async fn grant_dm(app: &TestApp, id: RequestId) -> String {
    app.message_with_button(ALICE, "revoke", id).await.render()
}

async fn extending_within_the_allowance_moves_the_attributes_expiry(backend: Backend) {
    let app = spawn_app!(with_allowance(backend));
    let req = grant(&app, 1).await;
    let before = req.expires_at.unwrap();
    assert_eq!(attribute_expiry(&app), Some(before));

    let form = click_extend(&app, ALICE, req.id).await.expect("the form");
    let offered = form.view.to_string();
    assert!(
        offered.contains("Up to 1h more needs no new approval"),
        "{offered}"
    );
    let answer = submit_extend(&app, ALICE, &form, 30 * MINUTE).await;
    assert_eq!(answer["response_action"], "update", "{answer:#}");
    let until = before + chrono::Duration::minutes(30);
    assert!(answer.to_string().contains(&date(until)), "{answer:#}");
    app.settle().await;

    assert_eq!(app.get(req.id).await.expires_at, Some(until));
    assert_eq!(
        attribute_expiry(&app),
        Some(until),
        "the one writer moved it"
    );
    assert_eq!(
        app.attribute_posts().len(),
        2,
        "the grant, then the extension"
    );
    assert_eq!(app.audit_count(req.id, "extended").await, 1);
    // The grant's DM says the new time, and Alice is told once.
    let dm = grant_dm(&app, req.id).await;
    assert!(dm.contains(&date(until)), "{dm}");
    assert!(dm.contains("Extended by 30m (no approval needed)"), "{dm}");
    let told = app
        .slack
        .messages_in(ALICE)
        .iter()
        .filter(|m| m.render().contains("now lasts until"))
        .count();
    assert_eq!(told, 1);
    wait_until("the channel post says the new time", || {
        app.slack.messages_in(PROD_CHANNEL)[0]
            .render()
            .contains(&date(until))
    })
    .await;

    // The allowance is for all extensions together: 30m more is free, an
    // hour is not (it goes to Bob, who approved the grant).
    let form = click_extend(&app, ALICE, req.id).await.expect("the form");
    assert!(form.view.to_string().contains("Up to 30m more"));
    let answer = submit_extend(&app, ALICE, &form, 60 * MINUTE).await;
    assert!(
        answer.to_string().contains("Sent to <@U0BOB0001>"),
        "{answer:#}"
    );
    app.settle().await;
    assert_eq!(app.get(req.id).await.expires_at, Some(until));
}

async fn an_approved_extension_moves_the_attributes_expiry_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = grant(&app, 1).await;
    let before = req.expires_at.unwrap();
    app.advance(10 * MINUTE);
    // From App Home this time: the same button, the same form.
    app.settle().await;
    let home = {
        let event = payloads::app_home_opened(ALICE).to_string();
        app.post_signed("/slack/events", "application/json", event)
            .await;
        wait_until("the home is published", || {
            !app.slack.homes_of(ALICE).is_empty()
        })
        .await;
        app.slack.homes_of(ALICE).pop().unwrap()
    };
    let trigger = app.slack.trigger_for(ALICE);
    let click = payloads::home_button(ALICE, &home, "extend", &req.id.to_string(), &trigger);
    assert_eq!(app.interact(&click).await.status(), 200);
    let form = app.wait_for_view(ALICE, &trigger).await;
    assert!(form
        .view
        .to_string()
        .contains("An extension needs a new approval"));
    let answer = submit_extend(&app, ALICE, &form, 2 * 60 * MINUTE).await;
    let until = before + chrono::Duration::hours(2);
    assert!(
        answer.to_string().contains("Sent to <@U0BOB0001>"),
        "{answer:#}"
    );
    assert!(answer.to_string().contains(&date(until)), "{answer:#}");

    // Bob, who approved the grant, is asked: an extension, until when.
    let asked = app.latest_request_of(ALICE).await;
    assert_eq!(asked.extends, Some(req.id));
    assert_eq!(asked.duration, 2 * 60 * MINUTE);
    let ask = app.message_with_button(BOB, "approve", asked.id).await;
    let text = ask.render();
    assert!(
        text.contains("asks to extend *Production* on *alice-laptop* by *2h*"),
        "{text}"
    );
    assert!(text.contains(&date(until)), "{text}");
    app.click_on(BOB, &ask, "approve", asked.id).await;
    app.wait_for_status(asked.id, "extended").await;
    app.settle().await;

    let extended = app.get(req.id).await;
    assert_eq!(extended.status, RequestStatus::Active);
    assert_eq!(extended.expires_at, Some(until));
    assert_eq!(attribute_expiry(&app), Some(until));
    assert_eq!(
        app.attribute_posts().len(),
        2,
        "one write for the extension"
    );
    let trail = app.state.store.audit_events(req.id).await.unwrap();
    let event = trail.iter().find(|e| e.action == "extended").unwrap();
    assert_eq!(event.detail["extension"], asked.id.to_string());
    assert_eq!(event.detail["approved_by"], BOB);
    // The grant's messages say the new time; the extension is not a grant.
    let dm = grant_dm(&app, req.id).await;
    assert!(dm.contains(&date(until)), "{dm}");
    assert!(dm.contains("by 2h (approved by <@U0BOB0001>)"), "{dm}");
    let bobs = app
        .message_with_button(BOB, "revoke", req.id)
        .await
        .render();
    assert!(bobs.contains(&date(until)), "{bobs}");
    let live = app
        .state
        .store
        .list_requests(&RequestFilter {
            statuses: vec![RequestStatus::Active],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(live.len(), 1, "still one grant");
    let asked = app.get(asked.id).await;
    assert_eq!(asked.expires_at, Some(until));
    let bobs_ask = app.current_message(&ask).render();
    assert!(bobs_ask.contains("Access extended until"), "{bobs_ask}");
}

async fn an_extension_past_the_limit_is_refused_naming_the_latest_time(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = grant(&app, 4).await;
    let form = click_extend(&app, ALICE, req.id).await.expect("the form");
    // Offered: what an approval now could allow (4h more at most of 8h).
    let offered = form.view.to_string();
    assert!(offered.contains("\"value\":\"14400\""), "{offered}");
    assert!(!offered.contains("\"value\":\"28800\""), "{offered}");
    // 8h more is past what any approval now allows.
    let latest = app.clock.now() + chrono::Duration::hours(8);
    let answer = submit_extend(&app, ALICE, &form, 8 * 60 * MINUTE).await;
    assert_eq!(answer["response_action"], "errors", "{answer:#}");
    let error = answer["errors"]["extend_by"].as_str().unwrap();
    assert!(
        error.contains("Production lasts at most 8h from an approval"),
        "{error}"
    );
    let latest = latest.format("%Y-%m-%d %H:%M UTC").to_string();
    assert!(error.contains(&latest), "{error} names {latest}");
    app.settle().await;
    assert_eq!(
        app.latest_request_of(ALICE).await.id,
        req.id,
        "nothing asked"
    );

    // A grant as long as the profile allows cannot be extended at all.
    let full = grant(&app, 8).await;
    assert!(click_extend(&app, ALICE, full.id).await.is_none());
    let told = app.ephemeral_to(ALICE);
    assert!(
        told.iter()
            .any(|t| t.contains("already lasts as long as Production can")),
        "{told:?}"
    );
}

async fn only_the_requester_can_extend(backend: Backend) {
    let app = spawn_app!(with_allowance(backend));
    let req = grant(&app, 1).await;
    for someone in [MALLORY, BOB] {
        assert!(
            click_extend(&app, someone, req.id).await.is_none(),
            "{someone}"
        );
        assert_eq!(
            app.ephemeral_to(someone),
            ["Only the person who requested this access can extend it."]
        );
    }
    // A submission with someone else's grant in its metadata is refused too.
    let form = click_extend(&app, ALICE, req.id).await.expect("the form");
    let answer = submit_extend(&app, MALLORY, &form, 30 * MINUTE).await;
    assert_eq!(answer["response_action"], "errors", "{answer:#}");
    app.settle().await;
    assert_eq!(app.get(req.id).await.expires_at, req.expires_at);
    assert_eq!(app.audit_count(req.id, "extended").await, 0);
}

async fn a_revoke_after_an_extension_still_removes_access(backend: Backend) {
    let app = spawn_app!(with_allowance(backend));
    let req = grant(&app, 1).await;
    let form = click_extend(&app, ALICE, req.id).await.expect("the form");
    submit_extend(&app, ALICE, &form, 60 * MINUTE).await;
    app.settle().await;
    assert_eq!(
        attribute_expiry(&app),
        Some(req.expires_at.unwrap() + chrono::Duration::hours(1))
    );
    app.click(ALICE, ALICE, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
    assert_eq!(app.tailnet.attribute(ALICE_LAPTOP, PROD), None);
}

async fn an_extension_approved_after_the_grant_ended_fails_clearly(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = grant(&app, 1).await;
    let form = click_extend(&app, ALICE, req.id).await.expect("the form");
    submit_extend(&app, ALICE, &form, 60 * MINUTE).await;
    let asked = app.latest_request_of(ALICE).await;
    let bobs_ask = app.message_with_button(BOB, "approve", asked.id).await;
    app.click(ALICE, ALICE, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;

    app.click_on(BOB, &bobs_ask, "approve", asked.id).await;
    let failed = app.wait_for_status(asked.id, "failed").await;
    assert_eq!(
        failed.failure_reason.as_deref(),
        Some("the access is revoked now")
    );
    app.settle().await;
    assert_eq!(
        app.tailnet.attribute(ALICE_LAPTOP, PROD),
        None,
        "nothing set"
    );
    assert_eq!(app.audit_count(req.id, "extended").await, 0);
    let told = app.slack.messages_in(ALICE).iter().any(|m| {
        m.render()
            .contains("could not be extended: the access is revoked now")
    });
    assert!(told, "alice is told");
}
