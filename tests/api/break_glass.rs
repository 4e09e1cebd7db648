//! Access without an approver's click: break glass (granted at once,
//! announced with Acknowledge and Revoke, its approvers reminded when
//! nobody reviewed it in time) and auto-approval. Both are audited.

use std::time::Duration;

use accessbot::audit::{self, Format, Query};
use accessbot::domain::AccessRequest;
use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::Message;
use crate::support::payloads::{self, FormInput};

const GLASS: &str = "custom:glassAccess";
const AUTO: &str = "custom:autoAccess";
const MINUTE: Duration = Duration::from_secs(60);
const OUTAGE: &str = "primary database is down, INC-7731";

fn profiles() -> String {
    format!(
        "{PROFILES}
[[profiles]]
attribute = \"{GLASS}\"
description = \"Break glass\"
max_duration = \"4h\"
approvers = [\"bob@example.com\", \"@sre\"]
break_glass = true
review_within = \"1h\"
notify_channel = \"{PROD_CHANNEL}\"

[[profiles]]
attribute = \"{AUTO}\"
description = \"Auto\"
max_duration = \"8h\"
approvers = [\"bob@example.com\"]
auto_approve = [\"@sre\", \"alice@example.com\"]
notify_channel = \"{PROD_CHANNEL}\"
devices = \"any\"
"
    )
}

fn input(profile: &str, reason: &str) -> FormInput {
    FormInput {
        profile: Some(profile.into()),
        device: Some(PROD_DB.into()),
        duration_secs: Some(2 * 3600),
        approver: None,
        reason: Some(reason.into()),
    }
}

/// A break-glass grant by alice on her laptop for 4 hours, active and announced.
async fn broken_glass(app: &TestApp) -> (AccessRequest, Message) {
    let req = app
        .request(
            ALICE,
            FormInput {
                device: Some(ALICE_LAPTOP.into()),
                duration_secs: Some(4 * 3600),
                ..input(GLASS, OUTAGE)
            },
        )
        .await;
    let active = app.wait_for_status(req.id, "active").await;
    let post = app
        .message_with_button(PROD_CHANNEL, "acknowledge", req.id)
        .await;
    app.settle().await;
    (active, post)
}

fn reminders(app: &TestApp, who: &str) -> usize {
    app.slack
        .messages_in(who)
        .iter()
        .filter(|m| m.render().contains("Please review"))
        .count()
}

fn actions(trail: &[accessbot::store::AuditEvent]) -> Vec<&str> {
    trail
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| *a != "notified")
        .collect()
}

async fn break_glass_is_announced_acknowledged_and_audited(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend).profiles(&profiles()));
    // A reason of fewer than 20 characters is refused, next to the reason.
    let view = app.open_form_ready(ALICE).await;
    let answer = app.submit(ALICE, &view, &input(GLASS, "db down")).await;
    assert_eq!(answer["response_action"], "errors", "{answer}");
    assert!(
        answer["errors"]["reason"]
            .as_str()
            .unwrap()
            .contains("at least 20 characters"),
        "{answer}"
    );

    let (req, post) = broken_glass(&app).await;
    assert_eq!(req.decided_by.as_ref().unwrap().as_str(), ALICE);
    assert_eq!(app.attribute_posts().len(), 1, "granted without a click");
    let text = post.render();
    assert!(text.contains("<@U0ALICE01> broke the glass"), "{text}");
    assert!(text.contains(OUTAGE), "{text}");
    assert_eq!(
        app.current_message(&post).buttons(),
        ["acknowledge", "revoke"]
    );
    assert!(
        [BOB, CAROL, DAVE]
            .iter()
            .all(|who| app.slack.messages_in(who).is_empty()),
        "nobody was asked to approve"
    );
    let granted = app.message_with_button(ALICE, "revoke", req.id).await;
    assert!(
        granted.render().contains("break glass"),
        "{}",
        granted.render()
    );

    // Only the profile's approvers review it, never the requester.
    for who in [MALLORY, ALICE] {
        app.click_on(who, &post, "acknowledge", req.id).await;
        wait_until(&format!("{who} is refused"), || {
            app.ephemeral_to(who)
                .iter()
                .any(|t| t.contains("Only the approvers"))
        })
        .await;
    }
    app.click_on(CAROL, &post, "acknowledge", req.id).await;
    wait_until("the post says who reviewed it", || {
        app.current_message(&post)
            .render()
            .contains("acknowledged by <@U0CAROL01>")
    })
    .await;
    assert_eq!(app.current_message(&post).buttons(), ["revoke"]);
    app.click_on(BOB, &post, "acknowledge", req.id).await;
    wait_until("bob hears carol was first", || {
        app.ephemeral_to(BOB)
            .iter()
            .any(|t| t.contains("<@U0CAROL01> has already acknowledged it"))
    })
    .await;

    // Acknowledged: no reminder when its time comes.
    app.advance(61 * MINUTE);
    app.settle().await;
    assert_eq!(reminders(&app, BOB) + reminders(&app, CAROL), 0);

    let trail = app.state.store.audit_events(req.id).await.unwrap();
    assert_eq!(
        actions(&trail),
        [
            "created",
            "approved",
            "attribute_set",
            "active",
            "acknowledged"
        ]
    );
    let approved = trail.iter().find(|e| e.action == "approved").unwrap();
    assert_eq!(approved.detail["break_glass"], true);
    assert_eq!(approved.actor.as_str(), ALICE);
    let ack = trail.iter().find(|e| e.action == "acknowledged").unwrap();
    assert_eq!(ack.actor.as_str(), CAROL);
    assert!(app
        .metrics()
        .await
        .contains("accessbot_decisions_total{decision=\"break_glass\"} 1"));
}

async fn an_unreviewed_break_glass_grant_reminds_its_approvers(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend).profiles(&profiles()));
    let (req, post) = broken_glass(&app).await;
    app.advance(30 * MINUTE);
    app.settle().await;
    assert_eq!(reminders(&app, BOB), 0, "not before review_within");

    app.advance(31 * MINUTE);
    for who in [BOB, CAROL, DAVE] {
        wait_until(&format!("{who} is reminded"), || reminders(&app, who) == 1).await;
    }
    app.settle().await;
    assert_eq!(reminders(&app, ALICE), 0, "never the requester");
    wait_until("the post says nobody reviewed it", || {
        app.current_message(&post)
            .render()
            .contains("Nobody has reviewed this within 1h")
    })
    .await;
    // Still within the grant's 4 hours.
    for _ in 0..3 {
        app.advance(30 * MINUTE);
        app.settle().await;
    }
    assert_eq!(reminders(&app, BOB), 1, "reminded once");

    // A reviewer revokes it from the channel.
    app.click_on(DAVE, &post, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
    assert!(app.tailnet.attribute(ALICE_LAPTOP, GLASS).is_none());

    // The export has the grant, its missed review and the revoke.
    app.settle().await;
    let export = audit::collect(&app.state.store, &Query::default(), app.clock.now())
        .await
        .unwrap();
    let record = export
        .requests
        .iter()
        .find(|r| r.id == req.id.to_string())
        .unwrap();
    let exported: Vec<&str> = record
        .events
        .iter()
        .map(|e| e.action.as_str())
        .filter(|a| *a != "notified")
        .collect();
    assert_eq!(
        exported,
        [
            "created",
            "approved",
            "attribute_set",
            "active",
            "review_overdue",
            "revoking",
            "attribute_removed",
            "revoked"
        ]
    );
    let csv = audit::render(&export, Format::Csv).unwrap();
    assert!(csv.contains("\"\"break_glass\"\":true"), "{csv}");
    assert!(csv.contains("review_overdue"), "{csv}");
}

async fn auto_approval_is_recorded_and_announced(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend).profiles(&profiles()));
    // Carol (in @sre) sees that she needs nobody.
    let view = app.open_form_ready(CAROL).await;
    let switch = payloads::view_select_action(
        CAROL,
        payloads::view_payload(&view, Value::Object(Default::default())),
        "profile",
        AUTO,
    );
    app.interact(&switch).await;
    let id = view.id.clone();
    wait_until("the form says so", || {
        app.current_view(&id)
            .view
            .to_string()
            .contains("approved automatically")
    })
    .await;

    let req = app.request(CAROL, input(AUTO, "rotate the db certs")).await;
    let active = app.wait_for_status(req.id, "active").await;
    assert_eq!(active.decided_by, None, "nobody clicked");
    assert_eq!(app.attribute_posts().len(), 1);
    let trail = app.state.store.audit_events(req.id).await.unwrap();
    let approved = trail.iter().find(|e| e.action == "approved").unwrap();
    assert_eq!(approved.actor.as_str(), "system");
    assert_eq!(approved.detail["auto_approved"], true);
    assert_eq!(approved.detail["requester"], CAROL);
    wait_until("the grant is announced", || {
        app.slack.messages_in(PROD_CHANNEL).iter().any(|m| {
            m.render().contains("<@U0CAROL01> has *Auto* on *prod-db*")
                && m.render().contains("(auto-approved)")
        })
    })
    .await;
    let granted = app.message_with_button(CAROL, "revoke", req.id).await;
    assert!(
        granted.render().contains("auto-approved"),
        "{}",
        granted.render()
    );

    // By e-mail too; someone not listed is asked as usual.
    let alices = app.request(ALICE, input(AUTO, "rotate the db certs")).await;
    app.wait_for_status(alices.id, "active").await;
    let asks_bob = FormInput {
        approver: Some(BOB.into()),
        ..input(AUTO, "rotate the db certs")
    };
    let mallorys = app.request(MALLORY, asks_bob).await;
    assert_eq!(mallorys.status.as_str(), "pending");
    app.message_with_button(BOB, "approve", mallorys.id).await;
    assert!(app
        .metrics()
        .await
        .contains("accessbot_decisions_total{decision=\"auto_approved\"} 2"));
}

on_both_backends!(
    break_glass_is_announced_acknowledged_and_audited,
    an_unreviewed_break_glass_grant_reminds_its_approvers,
    auto_approval_is_recorded_and_announced,
);
