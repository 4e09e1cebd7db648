//! What accessbot says about access matches the tailnet, under races,
//! refusals, outages and crashes: every change to an attribute goes
//! through one writer per (device, attribute), and a status that speaks of
//! the tailnet is written only after Tailscale was seen to agree. Races are
//! made deterministic by holding the fake tailnet's requests.

use std::time::Duration;

use accessbot::domain::AccessRequest;
use accessbot::flow::jobs::JobRun;
use accessbot::flow::reconcile;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::payloads::FormInput;

const HOUR: Duration = Duration::from_secs(3600);

/// A grant for `user` of `input`, approved by `approver` when one is asked.
async fn grant(app: &TestApp, user: &str, input: FormInput) -> AccessRequest {
    let req = app.request(user, input).await;
    if let Some(approver) = req.approver.clone() {
        app.click(approver.as_str(), approver.as_str(), "approve", req.id)
            .await;
    }
    let active = app.wait_for_status(req.id, "active").await;
    app.settle().await;
    active
}

async fn alice_prod(app: &TestApp, hours: u64) -> AccessRequest {
    let input = FormInput {
        duration_secs: Some(hours * 3600),
        ..prod_request()
    };
    grant(app, ALICE, input).await
}

/// Staging on the tagged prod-db server: self-approved at once.
fn staging_on_prod_db() -> FormInput {
    FormInput {
        profile: Some(STAGING.into()),
        device: Some(PROD_DB.into()),
        approver: None,
        ..prod_request()
    }
}

fn texts_to(app: &TestApp, conversation: &str) -> Vec<String> {
    app.slack
        .messages_in(conversation)
        .iter()
        .map(|m| m.render())
        .collect()
}

async fn wait_for_text(app: &TestApp, conversation: &str, text: &str) {
    wait_until(&format!("{conversation} is told {text:?}"), || {
        texts_to(app, conversation).iter().any(|t| t.contains(text))
    })
    .await;
}

fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

async fn revoke_during_a_reconciliation_round_stays_revoked(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    alice_prod(&app, 1).await;
    let phone = grant(
        &app,
        ALICE,
        FormInput {
            device: Some(ALICE_PHONE.into()),
            ..prod_request()
        },
    )
    .await;
    let staging = grant(&app, ALICE, staging_on_prod_db()).await;
    assert!(app.tailnet.attribute(PROD_DB, STAGING).is_some());
    // The round has listed the live grants and is reading the devices (in
    // node-ID order: the laptop, the phone, then prod-db); it stops at the phone.
    let reading = app
        .tailnet
        .hold("GET", &format!("/device/{ALICE_PHONE}/attributes"));
    let state = app.state.clone();
    let round =
        tokio::spawn(
            async move { reconcile::run(&state, &mut reconcile::Cursor::default()).await },
        );
    wait_until("the round reads the phone", || reading.waiting() == 1).await;
    // Meanwhile the staging grant, later in the round's list, is revoked.
    app.click(ALICE, ALICE, "revoke", staging.id).await;
    app.wait_for_status(staging.id, "revoked").await;
    assert!(app.tailnet.attribute(PROD_DB, STAGING).is_none());
    let posts_before = app.attribute_posts().len();
    reading.release();
    let report = round.await.unwrap().unwrap();
    assert!(report.reapplied.is_empty(), "{report:?}");
    assert!(
        app.tailnet.attribute(PROD_DB, STAGING).is_none(),
        "the round's stale list did not bring the access back"
    );
    assert_eq!(app.attribute_posts().len(), posts_before, "nothing written");
    assert_eq!(app.get(staging.id).await.status.as_str(), "revoked");
    assert_eq!(app.get(phone.id).await.status.as_str(), "active");
}

async fn a_revoke_waits_for_an_attribute_write_in_flight(backend: Backend) {
    // With `reapply`, reconciliation writes back a missing attribute; a
    // Revoke clicked while that write is in flight must still end gone.
    let app =
        spawn_app!(AppOptions::new(backend).worker_settings("missing_attribute = \"reapply\""));
    let req = alice_prod(&app, 4).await;
    app.tailnet.remove_attribute(ALICE_LAPTOP, PROD);
    let write = app.tailnet.hold("POST", "/attributes/");
    let state = app.state.clone();
    let round =
        tokio::spawn(
            async move { reconcile::run(&state, &mut reconcile::Cursor::default()).await },
        );
    wait_until("the write-back is in flight", || write.waiting() == 1).await;
    app.click(ALICE, ALICE, "revoke", req.id).await;
    assert_eq!(app.get(req.id).await.status.as_str(), "revoking");
    write.release();
    round.await.unwrap().unwrap();
    app.wait_for_status(req.id, "revoked").await;
    app.settle().await;
    assert!(
        app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none(),
        "the revoke removed what the in-flight write set"
    );
    wait_for_text(&app, ALICE, "was revoked by <@U0ALICE01>").await;
}

async fn cancelling_an_approval_whose_write_is_in_flight_leaves_nothing(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let write = app.tailnet.hold("POST", "/attributes/");
    app.click(BOB, BOB, "approve", req.id).await;
    wait_until("the grant's write is in flight", || write.waiting() == 1).await;
    // The approver takes it back before it is applied.
    let msg = app.message_with_button(BOB, "cancel", req.id).await;
    app.click_on(BOB, &msg, "cancel", req.id).await;
    app.wait_for_status(req.id, "cancelled").await;
    write.release();
    app.settle().await;
    wait_until("the device is left without the attribute", || {
        app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none()
    })
    .await;
    app.settle().await;
    assert_eq!(app.get(req.id).await.status.as_str(), "cancelled");
    assert_eq!(app.audit_count(req.id, "active").await, 0);
    assert!(!texts_to(&app, ALICE)
        .iter()
        .any(|t| t.contains("You have *Production*")));
}

async fn a_refused_revoke_is_announced_and_retried_until_it_succeeds(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = alice_prod(&app, 4).await;
    // The OAuth client lost its write scope: every DELETE is refused.
    app.tailnet
        .fail_next("DELETE", "/attributes/", 1000, 403, None);
    app.click(BOB, BOB, "revoke", req.id).await;
    wait_for_text(&app, ALICE, "Could not remove").await;
    wait_for_text(&app, BOB, "Could not remove").await;
    wait_for_text(&app, PROD_CHANNEL, "Could not remove").await;
    let told = texts_to(&app, ALICE)
        .into_iter()
        .find(|t| t.contains("Could not remove"))
        .unwrap();
    assert!(
        told.contains("injected failure"),
        "Tailscale's reason: {told}"
    );
    assert!(told.contains("It stays until"), "{told}");
    assert_eq!(app.get(req.id).await.status.as_str(), "revoking");
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_some());
    app.state.kick();
    let metrics = app.metrics().await;
    assert_eq!(
        metric(&metrics, "accessbot_revoke_failures_total"),
        Some(1.0)
    );
    wait_until("the gauge shows the access that should have ended", || {
        app.state.metrics.lingering_grants.get() == 1
    })
    .await;
    assert!(
        !texts_to(&app, ALICE)
            .iter()
            .any(|t| t.contains("was revoked by")),
        "nobody is told it is gone while it is not"
    );

    // The scope comes back; the next retry removes it.
    app.tailnet.clear_faults();
    app.advance(Duration::from_secs(16 * 60));
    app.wait_for_status(req.id, "revoked").await;
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none());
    wait_for_text(&app, ALICE, "was revoked by <@U0BOB0001>").await;
    wait_for_text(&app, BOB, "has now been removed").await;
    wait_for_text(&app, PROD_CHANNEL, "has now been removed").await;
    wait_until("the gauge is back to zero", || {
        app.state.kick();
        app.state.metrics.lingering_grants.get() == 0
    })
    .await;
    let failures = app.audit_count(req.id, "revoke_failed").await;
    assert_eq!(failures, 1, "announced once, however many retries");
}

async fn a_grant_refused_after_it_was_applied_fails_and_leaves_nothing(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    // Tailscale carries out the write but answers with a refusal.
    app.tailnet
        .fail_next_after_applying("POST", "/attributes/", 1, 400);
    app.click(BOB, BOB, "approve", req.id).await;
    let failed = app.wait_for_status(req.id, "failed").await;
    assert!(failed.failure_reason.is_some());
    assert!(
        app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none(),
        "failed means no access on the tailnet"
    );
    assert_eq!(app.tailnet.count("DELETE", "/attributes/"), 1);
    wait_for_text(&app, ALICE, "could not be granted").await;
}

async fn a_grant_whose_last_attempt_timed_out_after_applying_fails_clean(backend: Backend) {
    // No worker: the test runs the grant's last attempt itself.
    let app = spawn_app!(AppOptions::new(backend).worker(false));
    let req = app.request(ALICE, prod_request()).await;
    let msg = crate::support::fake_slack::Message {
        channel: crate::support::fake_slack::FakeSlack::dm_channel(BOB),
        ts: "1700000000.000001".into(),
        text: String::new(),
        blocks: serde_json::Value::Null,
        versions: vec![],
    };
    app.click_on(BOB, &msg, "approve", req.id).await;
    let approved = app.wait_for_status(req.id, "approved").await;
    // Every write is carried out, but its answer never comes in time.
    app.tailnet
        .fail_next_after_applying("POST", "/attributes/", 100, 504);
    let last = JobRun {
        attempts: accessbot::worker::MAX_ATTEMPTS,
        last_attempt: true,
    };
    accessbot::flow::grant::run_grant(&app.state, approved, last)
        .await
        .expect("the grant is settled: failed, with nothing left behind");
    let failed = app.get(req.id).await;
    assert_eq!(failed.status.as_str(), "failed");
    assert!(
        failed
            .failure_reason
            .as_deref()
            .is_some_and(|r| r.contains("kept failing")),
        "{failed:?}"
    );
    assert!(!app.attribute_posts().is_empty(), "the write was tried");
    assert!(
        app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none(),
        "what the timed-out write left was removed"
    );
    assert_eq!(app.tailnet.count("DELETE", "/attributes/"), 1);
}

async fn an_attribute_removed_in_the_console_ends_the_grant(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = alice_prod(&app, 4).await;
    let posts = app.attribute_posts().len();
    app.tailnet.remove_attribute(ALICE_LAPTOP, PROD);
    let report = reconcile::run(&app.state, &mut reconcile::Cursor::default())
        .await
        .unwrap();
    assert_eq!(report.ended_outside, vec![req.id.to_string()]);
    assert!(report.reapplied.is_empty());
    let ended = app.wait_for_status(req.id, "revoked").await;
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none());
    assert_eq!(app.attribute_posts().len(), posts, "not set again");
    let events = app.state.store.audit_events(ended.id).await.unwrap();
    let by = events.iter().find(|e| e.action == "revoked").unwrap();
    assert_eq!(by.actor.as_str(), "tailnet");
    wait_for_text(&app, ALICE, "was revoked by an admin outside accessbot").await;
    // Later rounds leave it ended.
    reconcile::run(&app.state, &mut reconcile::Cursor::default())
        .await
        .unwrap();
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_none());
}

async fn a_replica_killed_after_the_write_is_converged_by_another(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    // The write goes through; the read-back after it never returns.
    let read_back = app
        .tailnet
        .hold_after("GET", &format!("/device/{ALICE_LAPTOP}/attributes"), 1);
    app.click(BOB, BOB, "approve", req.id).await;
    wait_until("the write landed, the read-back hangs", || {
        read_back.waiting() == 1
    })
    .await;
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_some());
    let other = app.replica(app.options.clone()).await;
    app.crash().await;
    read_back.release();
    assert_eq!(other.get(req.id).await.status.as_str(), "approved");
    // The job's lease and the attribute's lock both run out.
    other.advance(accessbot::worker::LEASE + Duration::from_secs(1));
    let active = other.wait_for_status(req.id, "active").await;
    assert_eq!(other.attribute_posts().len(), 1, "no second write needed");
    let carried = other.tailnet.attribute(ALICE_LAPTOP, PROD).unwrap();
    assert_eq!(carried.expiry, active.expires_at);
    assert_eq!(other.audit_count(req.id, "active").await, 1);
}

async fn a_job_still_running_is_not_started_again(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let write = app.tailnet.hold("POST", "/attributes/");
    app.click(BOB, BOB, "approve", req.id).await;
    wait_until("the grant's write is in flight", || write.waiting() == 1).await;
    // Its lease runs out while it runs: the worker claims it again…
    app.advance(accessbot::worker::LEASE + Duration::from_secs(1));
    let attempts = || async {
        app.db
            .raw("SELECT CAST(attempts AS BIGINT) FROM jobs WHERE kind = 'grant'")
            .await
    };
    let deadline = tokio::time::Instant::now() + WAIT;
    while attempts().await != vec![2] {
        assert!(tokio::time::Instant::now() < deadline, "never reclaimed");
        app.state.kick();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // …but does not run it twice.
    write.release();
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    assert_eq!(app.attribute_posts().len(), 1);
    assert_eq!(app.audit_count(req.id, "active").await, 1);
}

async fn expiry_removes_the_attribute_before_saying_it_ended(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = alice_prod(&app, 1).await;
    // Tailscale keeps an expired attribute "for a few minutes": the fake
    // here keeps it while this hold stands.
    let reads = app.tailnet.hold("GET", "/attributes");
    app.advance(HOUR + Duration::from_secs(60));
    wait_until("the expiry's converge reads the device", || {
        reads.waiting() >= 1
    })
    .await;
    assert_eq!(app.get(req.id).await.status.as_str(), "active");
    assert!(!texts_to(&app, ALICE)
        .iter()
        .any(|t| t.contains("has ended")));
    reads.release();
    app.wait_for_status(req.id, "expired").await;
    wait_for_text(&app, ALICE, "has ended").await;
}

on_both_backends!(
    revoke_during_a_reconciliation_round_stays_revoked,
    a_revoke_waits_for_an_attribute_write_in_flight,
    cancelling_an_approval_whose_write_is_in_flight_leaves_nothing,
    a_refused_revoke_is_announced_and_retried_until_it_succeeds,
    a_grant_refused_after_it_was_applied_fails_and_leaves_nothing,
    a_grant_whose_last_attempt_timed_out_after_applying_fails_clean,
    an_attribute_removed_in_the_console_ends_the_grant,
    a_replica_killed_after_the_write_is_converged_by_another,
    a_job_still_running_is_not_started_again,
    expiry_removes_the_attribute_before_saying_it_ended,
);
