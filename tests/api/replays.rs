//! A form submission delivered more than once (a replayed signed request,
//! a Socket Mode redelivery) creates one request, enforced by the
//! database, so it holds across replicas.

use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::payloads;

on_both_backends!(a_replayed_submission_creates_one_request_across_two_replicas);

async fn a_replayed_submission_creates_one_request_across_two_replicas(backend: Backend) {
    let a = spawn_app!(AppOptions::new(backend));
    let b = a.replica(AppOptions::new(backend)).await;
    let view = a.open_form_ready(ALICE).await;
    let state = payloads::form_state(&view.view, &prod_request());
    let submission = payloads::view_submission(ALICE, payloads::view_payload(&view, state));
    // The same signed submission: twice to each replica, all at once.
    let answers: Vec<Value> = futures::future::join_all([
        a.interact_json(&submission),
        b.interact_json(&submission),
        a.interact_json(&submission),
        b.interact_json(&submission),
    ])
    .await;
    for answer in &answers {
        assert_eq!(answer["response_action"], "update", "{answer:#}");
    }
    let mine = a
        .state
        .store
        .list_requests(&accessbot::store::RequestFilter {
            requester: Some(accessbot::domain::SlackUserId::parse(ALICE).unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "one request: {mine:#?}");
    let id = mine[0].id;
    a.settle().await;
    b.settle().await;
    assert_eq!(a.audit_count(id, "created").await, 1);
    let asked = a
        .slack
        .messages_in(BOB)
        .into_iter()
        .filter(|m| m.buttons().iter().any(|b| b == "approve"))
        .count();
    assert_eq!(asked, 1, "the approver is asked once");
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_mode_redelivery_creates_one_request() {
    let app = AppOptions::new(Backend::Sqlite)
        .socket_mode(true)
        .spawn()
        .await
        .expect("SQLite is always there");
    let socket = app.socket.clone().unwrap();
    socket.wait_for_connections(1).await;
    let view = app.open_form_ready(ALICE).await;
    let state = payloads::form_state(&view.view, &prod_request());
    let submission = payloads::view_submission(ALICE, payloads::view_payload(&view, state));
    // Slack redelivers an envelope it thinks went unacknowledged.
    for _ in 0..2 {
        let ack = socket.send("interactive", submission.clone(), true).await;
        assert_eq!(ack["payload"]["response_action"], "update", "{ack}");
    }
    let count = app
        .state
        .store
        .count_requests(&Default::default())
        .await
        .unwrap();
    assert_eq!(count, 1);
}
