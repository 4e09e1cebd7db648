//! After the grant: expiry, revoke, overlapping grants, cancel, timeouts,
//! reminders, request again, reconciliation, crashes and replicas. Time is
//! a manual clock: nothing waits for hours.

use std::time::Duration;

use accessbot::domain::{AccessRequest, RequestId};
use accessbot::flow::reconcile;
use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::payloads::FormInput;

const HOUR: Duration = Duration::from_secs(3600);

/// A prod grant for alice approved by bob, active.
async fn active_grant(app: &TestApp, hours: u64) -> AccessRequest {
    let req = app
        .request(
            ALICE,
            FormInput {
                duration_secs: Some(hours * 3600),
                ..prod_request()
            },
        )
        .await;
    app.click(BOB, BOB, "approve", req.id).await;
    let active = app.wait_for_status(req.id, "active").await;
    // Everyone has been told before the test moves on (or the clock).
    app.settle().await;
    active
}

fn dms_containing(app: &TestApp, user: &str, text: &str) -> usize {
    app.slack
        .messages_in(user)
        .iter()
        .filter(|m| m.render().contains(text))
        .count()
}

async fn wait_for_dm(app: &TestApp, user: &str, text: &str) {
    wait_until(&format!("{user} gets a DM with {text:?}"), || {
        dms_containing(app, user, text) > 0
    })
    .await;
}

/// The grant's post in the profile channel says `text` (it is edited in place).
fn channel_says(app: &TestApp, text: &str) -> bool {
    let posts = app.slack.messages_in(PROD_CHANNEL);
    posts.len() == 1 && posts[0].render().contains(text)
}

fn deletes(app: &TestApp) -> usize {
    app.tailnet.count("DELETE", "/attributes/")
}

async fn expiry_is_announced_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = active_grant(&app, 1).await;
    app.advance(HOUR + Duration::from_secs(60));
    app.wait_for_status(req.id, "expired").await;
    wait_for_dm(&app, ALICE, "has ended").await;
    let ended = app
        .slack
        .messages_in(ALICE)
        .into_iter()
        .find(|m| m.render().contains("has ended"))
        .unwrap();
    assert!(ended
        .render()
        .contains("Your access to *Production* on *alice-laptop* has ended"));
    assert!(ended.buttons().contains(&"request_again".to_owned()));
    wait_until("the approver's message shows the end", || {
        dms_containing(&app, BOB, "Access ended") == 1
    })
    .await;
    wait_until("the channel post shows the end", || {
        channel_says(&app, "has ended")
    })
    .await;
    // More rounds of the worker announce nothing more.
    for _ in 0..3 {
        app.advance(Duration::from_secs(60));
        app.settle().await;
    }
    assert_eq!(dms_containing(&app, ALICE, "has ended"), 1);
    // Tailscale drops the attribute by itself; accessbot deletes nothing.
    assert_eq!(deletes(&app), 0);
}

async fn the_requester_can_revoke(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = active_grant(&app, 4).await;
    app.click(ALICE, ALICE, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
    app.settle().await;
    assert_eq!(deletes(&app), 1);
    assert!(
        app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none(),
        "access ends at once"
    );
    wait_for_dm(&app, ALICE, "was revoked by <@U0ALICE01>").await;
    wait_for_dm(&app, BOB, "Revoked early by <@U0ALICE01>").await;
    wait_until("the channel is told", || channel_says(&app, "revoked")).await;
    let events = app.state.store.audit_events(req.id).await.unwrap();
    let clicked = events.iter().find(|e| e.action == "revoking").unwrap();
    assert_eq!(clicked.actor.as_str(), ALICE, "who revoked");
    let confirmed = events.iter().find(|e| e.action == "revoked").unwrap();
    assert_eq!(
        confirmed.actor.as_str(),
        "system",
        "Tailscale's confirmation"
    );
}

async fn the_approver_can_revoke(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = active_grant(&app, 4).await;
    app.click(BOB, BOB, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
    app.settle().await;
    assert_eq!(deletes(&app), 1);
    wait_for_dm(&app, ALICE, "was revoked by <@U0BOB0001>").await;
}

async fn others_cannot_revoke_but_eligible_approvers_can(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = active_grant(&app, 4).await;
    let msg = app.message_with_button(ALICE, "revoke", req.id).await;
    app.click_on(MALLORY, &msg, "revoke", req.id).await;
    wait_until("mallory is told no", || {
        app.ephemeral_to(MALLORY)
            .iter()
            .any(|t| t.contains("cannot revoke"))
    })
    .await;
    assert_eq!(app.get(req.id).await.status.as_str(), "active");
    assert_eq!(deletes(&app), 0);
    // Carol approves production (via @sre), so she may end it too.
    app.click_on(CAROL, &msg, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
}

/// Two active prod grants for alice's laptop: 1 h and 8 h.
async fn two_overlapping_grants(app: &TestApp) -> (AccessRequest, AccessRequest) {
    let short = active_grant(app, 1).await;
    let long = active_grant(app, 8).await;
    (short, long)
}

fn attribute_expiry(app: &TestApp) -> Option<chrono::DateTime<chrono::Utc>> {
    app.tailnet
        .attribute(ALICE_LAPTOP, PROD)
        .and_then(|a| a.expiry)
}

async fn revoking_keeps_a_longer_overlapping_grant(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let (short, long) = two_overlapping_grants(&app).await;
    assert_eq!(attribute_expiry(&app), long.expires_at);
    app.click(ALICE, ALICE, "revoke", short.id).await;
    app.wait_for_status(short.id, "revoked").await;
    app.settle().await;
    assert_eq!(
        deletes(&app),
        0,
        "the longer grant still needs the attribute"
    );
    assert_eq!(attribute_expiry(&app), long.expires_at);
    // Revoking the long one shortens to nothing left: now it is deleted.
    app.click(ALICE, ALICE, "revoke", long.id).await;
    app.wait_for_status(long.id, "revoked").await;
    app.settle().await;
    assert_eq!(deletes(&app), 1);
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none());
}

async fn revoking_the_longer_grant_shortens_to_the_other(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let (short, long) = two_overlapping_grants(&app).await;
    app.click(ALICE, ALICE, "revoke", long.id).await;
    app.wait_for_status(long.id, "revoked").await;
    app.settle().await;
    assert_eq!(deletes(&app), 0);
    assert_eq!(
        attribute_expiry(&app),
        short.expires_at,
        "cut back to the remaining grant"
    );
}

async fn granting_never_shortens_existing_access(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let long = active_grant(&app, 8).await;
    let short = active_grant(&app, 1).await;
    let posts = app.attribute_posts();
    assert_eq!(
        posts.len(),
        1,
        "the device already carries the later expiry: nothing to write"
    );
    // The short grant still ends on its own time.
    assert!(short.expires_at < long.expires_at);
    assert_eq!(attribute_expiry(&app), long.expires_at);
}

async fn concurrent_overlapping_grants_never_shorten_access(backend: Backend) {
    let a = spawn_app!(AppOptions::new(backend));
    let b = a.replica(a.options.clone()).await;
    let long = a
        .request(
            ALICE,
            FormInput {
                duration_secs: Some(8 * 3600),
                ..prod_request()
            },
        )
        .await;
    let short = a
        .request(
            ALICE,
            FormInput {
                duration_secs: Some(3600),
                ..prod_request()
            },
        )
        .await;
    let long_dm = a.message_with_button(BOB, "approve", long.id).await;
    let short_dm = a.message_with_button(BOB, "approve", short.id).await;
    // The long grant's write is in flight on one replica when the short one
    // is approved on the other: the second waits for the first, then finds
    // the device already carrying the later expiry.
    let hold = a.tailnet.hold("POST", "/attributes/");
    a.click_on(BOB, &long_dm, "approve", long.id).await;
    wait_until("the long grant is in flight", || hold.waiting() == 1).await;
    b.click_on(BOB, &short_dm, "approve", short.id).await;
    let waits =
        || a.state.metrics.attribute_lock_waits.get() + b.state.metrics.attribute_lock_waits.get();
    wait_until("the short grant waits for the long one", || waits() >= 1).await;
    assert_eq!(
        hold.waiting(),
        1,
        "never two writes of one attribute at once"
    );
    drop(hold);
    let long = a.wait_for_status(long.id, "active").await;
    a.wait_for_status(short.id, "active").await;
    a.settle().await;
    b.settle().await;
    assert_eq!(
        attribute_expiry(&a),
        long.expires_at,
        "the longer grant keeps its access"
    );
    assert_eq!(
        a.attribute_posts().len(),
        1,
        "the short grant wrote nothing"
    );
    b.stop().await;
}

async fn the_requester_can_cancel_a_pending_request(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let approver_dm = app.message_with_button(BOB, "approve", req.id).await;
    // Only the requester may cancel.
    app.click(BOB, ALICE, "cancel", req.id).await;
    wait_until("bob is told no", || !app.ephemeral_to(BOB).is_empty()).await;
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");

    app.click(ALICE, ALICE, "cancel", req.id).await;
    app.wait_for_status(req.id, "cancelled").await;
    wait_until("the approver's message can no longer be approved", || {
        app.slack.messages_in(BOB).iter().any(|m| {
            m.ts == approver_dm.ts && m.buttons().is_empty() && m.render().contains("Cancelled")
        })
    })
    .await;
    // A late click on the old message changes nothing.
    app.click_on(BOB, &approver_dm, "approve", req.id).await;
    wait_until("bob hears it is cancelled", || {
        app.ephemeral_to(BOB)
            .iter()
            .any(|t| t.contains("already cancelled"))
    })
    .await;
    assert_eq!(app.get(req.id).await.status.as_str(), "cancelled");
    assert!(app.attribute_posts().is_empty());
}

async fn undecided_requests_time_out(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    app.message_with_button(BOB, "approve", req.id).await;
    app.advance(Duration::from_secs(23 * 3600));
    app.settle().await;
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");
    app.advance(Duration::from_secs(3600 + 60));
    app.wait_for_status(req.id, "timed_out").await;
    wait_for_dm(&app, ALICE, "timed out").await;
    wait_until("the approver's message shows it", || {
        app.slack.messages_in(BOB).iter().any(|m| {
            m.render().contains("Timed out") && !m.buttons().contains(&"approve".to_owned())
        })
    })
    .await;
}

async fn the_approver_is_reminded_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    app.message_with_button(BOB, "approve", req.id).await;
    app.advance(Duration::from_secs(30 * 60));
    app.settle().await;
    assert_eq!(
        dms_containing(&app, BOB, "Reminder"),
        0,
        "not before remind_after"
    );
    app.advance(Duration::from_secs(31 * 60));
    wait_for_dm(&app, BOB, "Reminder").await;
    // (Moving the clock past a job's lease while it runs would hand it out again.)
    app.settle().await;
    for _ in 0..4 {
        app.advance(HOUR);
        app.settle().await;
    }
    assert_eq!(dms_containing(&app, BOB, "Reminder"), 1);
    // No reminder for a request decided in time.
    let decided = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", decided.id).await;
    app.wait_for_status(decided.id, "active").await;
    app.advance(2 * HOUR);
    app.settle().await;
    assert_eq!(dms_containing(&app, BOB, "Reminder"), 1);
}

async fn request_again_opens_a_prefilled_form(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = active_grant(&app, 1).await;
    let msg = app
        .message_with_button(ALICE, "request_again", req.id)
        .await;
    let before = app.slack.count("views.open");
    let resp = app.click_on(ALICE, &msg, "request_again", req.id).await;
    assert_eq!(resp.status(), 200);
    wait_until("a form opens", || {
        app.slack.count("views.open") == before + 1
    })
    .await;
    let view = app.slack.last_view_of(ALICE).unwrap();
    let id = view.id.clone();
    wait_until("the approvers are shown", || {
        app.current_view(&id)
            .view
            .to_string()
            .contains("radio_buttons")
    })
    .await;
    let blocks = app.current_view(&id).view["blocks"].clone();
    let block = |id: &str| -> Value {
        blocks
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["block_id"] == id)
            .unwrap()["element"]
            .clone()
    };
    assert_eq!(block("profile")["initial_option"]["value"], PROD);
    assert_eq!(block("device")["initial_option"]["value"], ALICE_LAPTOP);
    assert_eq!(block("duration")["initial_option"]["value"], "3600");
    assert_eq!(block("approver")["initial_option"]["value"], BOB);
    // Only the requester may use it.
    app.click_on(MALLORY, &msg, "request_again", req.id).await;
    wait_until("mallory is told no", || {
        !app.ephemeral_to(MALLORY).is_empty()
    })
    .await;
    assert_eq!(app.slack.count("views.open"), before + 1);
}

async fn reconciliation_reapplies_missing_and_reports_unknown(backend: Backend) {
    let app =
        spawn_app!(AppOptions::new(backend).worker_settings("missing_attribute = \"reapply\""));
    let req = active_grant(&app, 4).await;
    app.settle().await;
    // Someone deletes the attribute by hand, and sets another one nobody asked for.
    app.tailnet.remove_attribute(ALICE_LAPTOP, PROD);
    app.tailnet.put_attribute(
        BOB_LAPTOP,
        STAGING,
        Value::Bool(true),
        Some(app.clock.now() + chrono::Duration::days(30)),
        "set by hand",
    );
    let report = reconcile::run(&app.state, &mut reconcile::Cursor::default())
        .await
        .unwrap();
    assert_eq!(report.reapplied, vec![req.id.to_string()]);
    assert_eq!(
        report.unaccounted,
        vec![(BOB_LAPTOP.to_owned(), STAGING.to_owned())]
    );
    let back = app
        .tailnet
        .attribute(ALICE_LAPTOP, PROD)
        .expect("re-applied");
    assert_eq!(back.expiry, req.expires_at, "with the grant's own expiry");
    assert!(
        app.tailnet.attribute(BOB_LAPTOP, STAGING).is_some(),
        "reported, not deleted"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("accessbot_unaccounted_attributes 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("accessbot_reapplied_attributes_total 1"),
        "{metrics}"
    );
    let events = app.state.store.audit_events(req.id).await.unwrap();
    assert!(events.iter().any(|e| e.action == "reapplied"));

    // A second round finds everything in order.
    let again = reconcile::run(&app.state, &mut reconcile::Cursor::default())
        .await
        .unwrap();
    assert!(again.reapplied.is_empty());
}

async fn reconciliation_fails_grants_of_removed_devices(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = active_grant(&app, 4).await;
    assert!(app.tailnet.remove_device(ALICE_LAPTOP));
    let report = reconcile::run(&app.state, &mut reconcile::Cursor::default())
        .await
        .unwrap();
    assert_eq!(report.device_gone, vec![req.id.to_string()]);
    let failed = app.wait_for_status(req.id, "failed").await;
    assert!(failed.failure_reason.unwrap().contains("no longer exists"));
    wait_for_dm(&app, ALICE, "no longer exists").await;
}

async fn a_crash_after_approval_still_grants_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend).worker(false));
    let req = app.request(ALICE, prod_request()).await;
    // Without a worker nobody is notified; click from a message we craft.
    let fake_dm = crate::support::fake_slack::Message {
        channel: crate::support::fake_slack::FakeSlack::dm_channel(BOB),
        ts: "1700000000.000001".into(),
        text: String::new(),
        blocks: Value::Null,
        versions: vec![],
    };
    app.click_on(BOB, &fake_dm, "approve", req.id).await;
    assert_eq!(app.get(req.id).await.status.as_str(), "approved");
    let options = app.options.clone();
    let restarted = app.replica(options.worker(true)).await;
    app.crash().await;
    restarted.wait_for_status(req.id, "active").await;
    restarted.settle().await;
    assert_eq!(restarted.attribute_posts().len(), 1);
}

async fn a_crash_during_the_grant_is_picked_up_after_the_lease(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let hold = app.tailnet.hold("POST", "/attributes/");
    app.click(BOB, BOB, "approve", req.id).await;
    wait_until("the grant call is in flight", || hold.waiting() == 1).await;
    // The process dies with the job leased to it.
    let restarted = app.replica(app.options.clone()).await;
    app.crash().await;
    drop(hold);
    assert_eq!(restarted.get(req.id).await.status.as_str(), "approved");
    // Once the lease has run out, the new process runs the job again.
    restarted.advance(accessbot::worker::LEASE + Duration::from_secs(1));
    restarted.wait_for_status(req.id, "active").await;
    assert!(restarted.tailnet.attribute(ALICE_LAPTOP, PROD).is_some());
    let activations = restarted.audit_count(req.id, "active").await;
    assert_eq!(activations, 1);
    wait_for_dm(&restarted, ALICE, "You have *Production*").await;
    assert_eq!(
        dms_containing(&restarted, ALICE, "You have *Production*"),
        1
    );
}

async fn two_replicas_grant_and_expire_exactly_once(backend: Backend) {
    let a = spawn_app!(AppOptions::new(backend));
    let b = a.replica(a.options.clone()).await;
    let mut ids: Vec<RequestId> = Vec::new();
    for _ in 0..10 {
        ids.push(a.request(ALICE, prod_request()).await.id);
    }
    let mut messages = Vec::new();
    for id in &ids {
        messages.push(a.message_with_button(BOB, "approve", *id).await);
    }
    // 100 clicks: ten per request, alternating between the replicas.
    let clicks = (0..100).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        let n = i % 10;
        app.click_on(BOB, &messages[n], "approve", ids[n])
    });
    for r in futures::future::join_all(clicks).await {
        assert_eq!(r.status(), 200);
    }
    for id in &ids {
        a.wait_for_status(*id, "active").await;
    }
    a.settle().await;
    b.settle().await;
    // Ten grants of one attribute on one device, approved at the same
    // moment: one write serves them all.
    assert_eq!(a.attribute_posts().len(), 1, "one POST for the device");
    a.advance(HOUR + Duration::from_secs(60));
    b.state.kick();
    for id in &ids {
        a.wait_for_status(*id, "expired").await;
    }
    a.settle().await;
    b.settle().await;
    assert_eq!(
        dms_containing(&a, ALICE, "has ended"),
        10,
        "every expiry announced once"
    );
    b.stop().await;
    a.stop().await;
}

on_both_backends!(
    expiry_is_announced_once,
    the_requester_can_revoke,
    the_approver_can_revoke,
    others_cannot_revoke_but_eligible_approvers_can,
    revoking_keeps_a_longer_overlapping_grant,
    revoking_the_longer_grant_shortens_to_the_other,
    granting_never_shortens_existing_access,
    concurrent_overlapping_grants_never_shorten_access,
    the_requester_can_cancel_a_pending_request,
    undecided_requests_time_out,
    the_approver_is_reminded_once,
    request_again_opens_a_prefilled_form,
    reconciliation_reapplies_missing_and_reports_unknown,
    reconciliation_fails_grants_of_removed_devices,
    a_crash_after_approval_still_grants_once,
    a_crash_during_the_grant_is_picked_up_after_the_lease,
    two_replicas_grant_and_expire_exactly_once,
);
