//! Clicks that cannot change anything (repeated, retried or replayed clicks
//! on decided or unknown requests) write nothing and tell the person once
//! a minute; a message is refreshed only when it is really stale.

use std::time::Duration;

use accessbot::domain::RequestId;
use accessbot::store::NewJob;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::payloads;

on_both_backends!(
    a_flood_of_decided_clicks_writes_nothing_and_is_answered_once_a_minute,
    clicks_on_unknown_requests_and_invalid_buttons_are_answered_once,
    a_click_on_a_message_whose_notification_was_given_up_refreshes_it_once,
    a_changed_answer_is_told_even_within_the_minute,
);

/// Alice's prod request, approved by Bob and active, with every job done.
async fn active_request(app: &TestApp) -> RequestId {
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    req.id
}

async fn a_flood_of_decided_clicks_writes_nothing_and_is_answered_once_a_minute(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let id = active_request(&app).await;
    let dm = app
        .slack
        .messages_in(BOB)
        .into_iter()
        .find(|m| m.render().contains(&id.to_string()))
        .expect("the approver's message");
    let trail = app.state.store.audit_events(id).await.unwrap().len();
    let updates = app.slack.count("chat.update");

    // 40 replays of the original Approve click, some at once.
    let clicks = (0..40).map(|_| app.click_on(BOB, &dm, "approve", id));
    for resp in futures::future::join_all(clicks).await {
        assert_eq!(resp.status(), 200);
    }
    wait_until("bob is told", || !app.ephemeral_to(BOB).is_empty()).await;
    // Whether a note goes out is decided before the ack: none can follow.
    assert_eq!(app.ephemeral_to(BOB), ["This request is already active."]);
    app.settle().await;
    assert_eq!(
        app.state.store.audit_events(id).await.unwrap().len(),
        trail,
        "no audit event"
    );
    let jobs = app
        .state
        .store
        .notification_jobs(id, app.clock.now())
        .await
        .unwrap();
    assert_eq!((jobs.waiting, jobs.dead), (0, 0), "no job enqueued");
    assert_eq!(
        app.slack.count("chat.update"),
        updates,
        "the messages were current: nothing to refresh"
    );
    assert_eq!(app.get(id).await.status.as_str(), "active");

    // A minute later the same click is answered again.
    app.advance(Duration::from_secs(61));
    app.click_on(BOB, &dm, "approve", id).await;
    wait_until("bob is told again", || app.ephemeral_to(BOB).len() == 2).await;
}

async fn clicks_on_unknown_requests_and_invalid_buttons_are_answered_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let unknown = RequestId::new().to_string();
    for value in [unknown.as_str(), "not-a-request"] {
        for _ in 0..10 {
            let click = payloads::message_button(BOB, "D0BOB", "1.2", "approve", value, "t");
            assert_eq!(app.interact(&click).await.status(), 200);
        }
    }
    wait_until("bob is told twice", || app.ephemeral_to(BOB).len() >= 2).await;
    let mut told = app.ephemeral_to(BOB);
    told.sort();
    assert_eq!(
        told,
        [
            "That button is not valid. Please use the latest message.",
            "That request does not exist.",
        ]
    );
}

async fn a_click_on_a_message_whose_notification_was_given_up_refreshes_it_once(backend: Backend) {
    // No reminder: the given-up job below is the request's only one.
    let app = spawn_app!(AppOptions::new(backend).requests("pending_timeout = \"24h\""));
    let id = active_request(&app).await;
    // The App Home refreshes that follow each change run a second later.
    app.advance(Duration::from_secs(2));
    app.settle().await;
    // A notification that ran out of attempts (Slack was down for hours):
    // enqueued for later, claimed and given up here.
    let later = app.clock.now() + chrono::Duration::days(1);
    let store = &app.state.store;
    let job = store
        .enqueue(&NewJob::notify(
            id,
            accessbot::store::NotifyEvent::Granted,
            later,
        ))
        .await
        .unwrap();
    let claimed = store
        .claim_jobs("test", later, Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert_eq!(claimed.iter().map(|j| j.id).collect::<Vec<_>>(), [job]);
    assert!(store
        .fail_job(job, "test", "Slack down", None)
        .await
        .unwrap());
    let updates = app.slack.count("chat.update");

    let dm = app.message_with_button(BOB, "revoke", id).await;
    for _ in 0..5 {
        app.click_on(BOB, &dm, "approve", id).await;
    }
    wait_until("the messages are refreshed", || {
        app.slack.count("chat.update") > updates
    })
    .await;
    app.settle().await;
    let refreshed = app.slack.count("chat.update");
    // One refresh for the five clicks: it re-rendered each message once.
    let refs = store.message_refs(id).await.unwrap().len();
    assert_eq!(refreshed - updates, refs, "one refresh");
    // Within the minute, more clicks do not ask again.
    app.click_on(BOB, &dm, "approve", id).await;
    app.settle().await;
    assert_eq!(app.slack.count("chat.update"), refreshed);
}

async fn a_changed_answer_is_told_even_within_the_minute(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let approve = app.message_with_button(BOB, "approve", req.id).await;
    // Bob may not cancel Alice's request…
    app.click(BOB, ALICE, "cancel", req.id).await;
    wait_until("bob is told no", || !app.ephemeral_to(BOB).is_empty()).await;
    app.click(ALICE, ALICE, "cancel", req.id).await;
    app.wait_for_status(req.id, "cancelled").await;
    // …and then hears that it was cancelled, in the same minute.
    app.click_on(BOB, &approve, "approve", req.id).await;
    wait_until("bob hears it is cancelled", || {
        app.ephemeral_to(BOB).len() == 2
    })
    .await;
    assert_eq!(
        app.ephemeral_to(BOB)[1],
        "This request is already cancelled."
    );
}
