//! App Home: what the requester and the approver see (snapshotted), that
//! its buttons act like the DM buttons, that it follows every change of
//! state — once per person for a burst — and that it stays within Slack's
//! 100 blocks however much there is.

use std::time::Duration;

use accessbot::domain::{AccessRequest, RequestId, RequestStatus};
use accessbot::flow::home::REFRESH_DELAY;
use accessbot::store::{Actor, Transition};
use serde_json::Value;

use super::rendering::{assert_within_slack_limits, regex_lite_replace};
use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::{check_view, Fault};
use crate::support::payloads;

on_both_backends!(
    what_the_requester_and_the_approver_see,
    approving_from_the_home_grants_exactly_once,
    a_state_change_republishes_the_home_of_everyone_concerned,
    a_burst_of_changes_publishes_once_per_person,
    a_rate_limited_publish_waits_and_takes_in_later_changes,
    a_full_home_stays_within_100_blocks,
);

/// Open `user`'s App Home; the view published for it.
async fn open_home(app: &TestApp, user: &str) -> Value {
    let before = app.slack.homes_of(user).len();
    let event = payloads::app_home_opened(user).to_string();
    let resp = app
        .post_signed("/slack/events", "application/json", event)
        .await;
    assert_eq!(resp.status(), 200);
    wait_until("the home is published", || {
        app.slack.homes_of(user).len() > before
    })
    .await;
    app.slack.homes_of(user).pop().unwrap()
}

/// Let the queued home refreshes run (they wait [`REFRESH_DELAY`] for
/// more changes to fold in).
async fn run_refreshes(app: &TestApp) {
    app.settle().await;
    app.advance(REFRESH_DELAY);
    app.settle().await;
}

/// How many homes were published for each of `users`.
fn publishes(app: &TestApp, users: &[&str]) -> Vec<usize> {
    users.iter().map(|u| app.slack.homes_of(u).len()).collect()
}

fn latest_home(app: &TestApp, user: &str) -> String {
    let home = app.slack.homes_of(user).pop().expect("a published home");
    home.to_string()
}

/// Every button of the view, as (action ID, value).
fn buttons(view: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in view["blocks"].as_array().unwrap() {
        let elements = block["elements"].as_array().cloned().unwrap_or_default();
        for e in elements.iter().chain([&block["accessory"]]) {
            if e["type"] == "button" {
                let text = |k: &str| e[k].as_str().unwrap_or("").to_owned();
                out.push((text("action_id"), text("value")));
            }
        }
    }
    out
}

fn has_button(view: &Value, action: &str, id: RequestId) -> bool {
    buttons(view).contains(&(action.to_owned(), id.to_string()))
}

/// Click `action` for `id` in `view` (a home) as `user`.
async fn click_home(app: &TestApp, user: &str, view: &Value, action: &str, id: RequestId) {
    assert!(has_button(view, action, id), "no {action} button: {view}");
    let trigger = app.slack.trigger_for(user);
    let payload = payloads::home_button(user, view, action, &id.to_string(), &trigger);
    assert_eq!(app.interact(&payload).await.status(), 200);
}

/// The view with request IDs named by their role and dates made stable.
fn normalize(view: &Value, named: &[(RequestId, &str)]) -> Value {
    let mut text = view.to_string();
    for (id, name) in named {
        text = text.replace(&id.to_string(), &format!("<{name}>"));
    }
    serde_json::from_str(&regex_lite_replace(&text)).unwrap()
}

async fn what_the_requester_and_the_approver_see(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let denied = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "deny", denied.id).await;
    app.wait_for_status(denied.id, "denied").await;
    let active = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", active.id).await;
    app.wait_for_status(active.id, "active").await;
    let pending = app.request(ALICE, prod_request()).await;
    app.settle().await;
    let named = [
        (denied.id, "denied-request"),
        (active.id, "active-request"),
        (pending.id, "pending-request"),
    ];

    let alice = open_home(&app, ALICE).await;
    assert_within_slack_limits(&alice);
    assert!(has_button(&alice, "revoke", active.id));
    assert!(has_button(&alice, "cancel", pending.id));
    assert!(
        !has_button(&alice, "approve", pending.id),
        "not hers to decide"
    );
    insta::assert_json_snapshot!("home_requester", normalize(&alice, &named));

    let bob = open_home(&app, BOB).await;
    assert_within_slack_limits(&bob);
    // The DM's own buttons: same action IDs, same values.
    let dm = app.message_with_button(BOB, "approve", pending.id).await;
    for action in ["approve", "deny"] {
        assert!(dm.buttons().iter().any(|b| b == action));
        assert!(has_button(&bob, action, pending.id), "{action}");
    }
    assert!(has_button(&bob, "revoke", active.id));
    insta::assert_json_snapshot!("home_approver", normalize(&bob, &named));
}

async fn approving_from_the_home_grants_exactly_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let home = open_home(&app, BOB).await;

    // The same rules as the DM: someone else clicking Bob's button is refused.
    click_home(&app, MALLORY, &home, "approve", req.id).await;
    wait_until("mallory is told", || !app.ephemeral_to(MALLORY).is_empty()).await;
    assert_eq!(
        app.ephemeral_to(MALLORY),
        ["You cannot decide this request."]
    );
    assert_eq!(app.get(req.id).await.status, RequestStatus::Pending);

    // Two clicks at once (a double click, or two devices): one approval,
    // one grant; the other click is told it is already decided.
    tokio::join!(
        click_home(&app, BOB, &home, "approve", req.id),
        click_home(&app, BOB, &home, "approve", req.id),
    );
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    assert_eq!(app.audit_count(req.id, "approved").await, 1);
    assert_eq!(app.audit_count(req.id, "active").await, 1);
    assert_eq!(app.attribute_posts().len(), 1, "one attribute write");
    wait_until("the second click is answered", || {
        app.ephemeral_to(BOB)
            .iter()
            .any(|t| t.starts_with("This request is already"))
    })
    .await;
    assert_eq!(app.ephemeral_to(BOB).len(), 1);

    // And the home follows: no decision left, the grant to revoke.
    run_refreshes(&app).await;
    let home = app.slack.homes_of(BOB).pop().unwrap();
    assert!(!has_button(&home, "approve", req.id), "{home}");
    assert!(has_button(&home, "revoke", req.id), "{home}");
}

async fn a_state_change_republishes_the_home_of_everyone_concerned(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let people = [ALICE, BOB, CAROL];
    let req = app.request(ALICE, prod_request()).await;
    run_refreshes(&app).await;
    // The requester and the approver, without opening the tab.
    assert_eq!(publishes(&app, &people), [1, 1, 0]);
    assert!(latest_home(&app, BOB).contains("Waiting for your decision"));

    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    // Queued, not yet published: it waits a moment for more changes.
    assert_eq!(publishes(&app, &people), [1, 1, 0]);
    run_refreshes(&app).await;
    // Approved, then active: one publish each.
    assert_eq!(publishes(&app, &people), [2, 2, 0]);
    assert!(latest_home(&app, ALICE).contains("Your active access"));
    assert!(latest_home(&app, ALICE).contains(":white_check_mark:"));
    assert!(latest_home(&app, BOB).contains("Access you approved"));

    // Carol (an approver of the profile) revokes from Alice's DM: her home
    // is refreshed too, since she acted on it.
    app.click(CAROL, ALICE, "revoke", req.id).await;
    app.wait_for_status(req.id, "revoked").await;
    run_refreshes(&app).await;
    assert_eq!(publishes(&app, &people), [3, 3, 1]);
    let alice = latest_home(&app, ALICE);
    assert!(alice.contains("No active access."), "{alice}");
    assert!(
        alice.contains("revoked (approved by <@U0BOB0001>)"),
        "{alice}"
    );
    assert!(!latest_home(&app, BOB).contains("Access you approved"));
}

async fn a_burst_of_changes_publishes_once_per_person(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let denied = app.request(ALICE, prod_request()).await;
    let cancelled = app.request(ALICE, prod_request()).await;
    let waiting = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "deny", denied.id).await;
    app.wait_for_status(denied.id, "denied").await;
    app.click(ALICE, ALICE, "cancel", cancelled.id).await;
    app.wait_for_status(cancelled.id, "cancelled").await;
    // Five changes, each with its notification run: nothing published yet.
    app.settle().await;
    assert_eq!(publishes(&app, &[ALICE, BOB]), [0, 0]);

    run_refreshes(&app).await;
    assert_eq!(publishes(&app, &[ALICE, BOB]), [1, 1]);
    let alice = app.slack.homes_of(ALICE).pop().unwrap();
    assert!(has_button(&alice, "cancel", waiting.id));
    assert!(!has_button(&alice, "cancel", cancelled.id));
    let history = alice.to_string();
    assert!(history.contains("denied by <@U0BOB0001>"), "{history}");
    assert!(history.contains(":no_entry_sign:"), "{history}");
    let bob = app.slack.homes_of(BOB).pop().unwrap();
    assert!(has_button(&bob, "approve", waiting.id));
    assert!(!has_button(&bob, "approve", denied.id));
    assert!(!has_button(&bob, "approve", cancelled.id));
}

async fn a_rate_limited_publish_waits_and_takes_in_later_changes(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    app.slack
        .fail_next("views.publish", 2, Fault::RateLimited { retry_after: 30 });
    run_refreshes(&app).await;
    let refused = |app: &TestApp| {
        app.slack
            .calls()
            .iter()
            .filter(|c| c.method == "views.publish" && c.outcome == "ratelimited")
            .count()
    };
    assert_eq!(refused(&app), 2);
    assert_eq!(publishes(&app, &[ALICE, BOB]), [0, 0]);

    // A change while the publishes wait for Slack: no new job, no call.
    app.click(BOB, BOB, "deny", req.id).await;
    app.wait_for_status(req.id, "denied").await;
    run_refreshes(&app).await;
    assert_eq!(publishes(&app, &[ALICE, BOB]), [0, 0]);
    assert_eq!(refused(&app), 2);

    // After Slack's Retry-After: once each, showing the latest state.
    app.advance(Duration::from_secs(30));
    app.settle().await;
    assert_eq!(publishes(&app, &[ALICE, BOB]), [1, 1]);
    assert!(latest_home(&app, ALICE).contains("denied by <@U0BOB0001>"));
    assert!(!latest_home(&app, BOB).contains("Waiting for your decision"));
}

/// A copy of `template` made `n` seconds later, stored as `status`
/// (through the state machine, decided by its approver), without jobs.
async fn stored(
    app: &TestApp,
    template: &AccessRequest,
    status: RequestStatus,
    n: i64,
) -> AccessRequest {
    let store = &app.state.store;
    let mut req = template.clone();
    req.id = RequestId::new();
    req.status = RequestStatus::Pending;
    req.created_at += chrono::Duration::seconds(n);
    req.updated_at = req.created_at;
    store.create_request(&req, None, &[]).await.unwrap();
    let approver = req.approver.clone().unwrap();
    let at = req.created_at;
    let step = |from, to| Transition::new(req.id, from, to, Actor::User(approver.clone()), at);
    use RequestStatus::*;
    match status {
        Pending => {}
        Denied => {
            let t = step(Pending, Denied).decided_by(approver.clone(), None);
            store.transition(t).await.unwrap();
        }
        Active => {
            let t = step(Pending, Approved).decided_by(approver.clone(), None);
            store.transition(t).await.unwrap();
            let t = step(Approved, Active).expires_at(at + chrono::Duration::hours(1));
            store.transition(t).await.unwrap();
        }
        other => panic!("not needed: {other}"),
    }
    app.get(req.id).await
}

async fn a_full_home_stays_within_100_blocks(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend).worker(false));
    let template = app.request(ALICE, prod_request()).await;
    // 15 waiting for Bob (with the one above), 12 active, 14 denied.
    for (status, n) in [
        (RequestStatus::Pending, 14),
        (RequestStatus::Active, 12),
        (RequestStatus::Denied, 14),
    ] {
        for i in 0..n {
            stored(&app, &template, status, i + 1).await;
        }
    }

    for (user, sections) in [
        (
            ALICE,
            [
                ("Your pending requests", 5),
                ("Your active access", 2),
                ("Recent history", 4),
            ],
        ),
        (
            BOB,
            [
                ("Waiting for your decision", 5),
                ("Access you approved", 2),
                ("", 0),
            ],
        ),
    ] {
        // Refused by the (fake) Slack if over 100 blocks: it would never show.
        let home = open_home(&app, user).await;
        assert_within_slack_limits(&home);
        let text = home.to_string();
        for (title, more) in sections.iter().filter(|(t, _)| !t.is_empty()) {
            assert!(text.contains(title), "{user}: {title}");
            assert!(
                text.contains(&format!("…and {more} more.")),
                "{user}: {title}"
            );
        }
    }
    let bob = open_home(&app, BOB).await;
    let approvals = buttons(&bob)
        .into_iter()
        .filter(|(a, _)| a == "approve")
        .count();
    assert_eq!(approvals, 10, "ten shown, five counted");

    // What the fake Slack holds a home to, as Slack does.
    let divider = serde_json::json!({ "type": "divider" });
    let too_big = serde_json::json!({ "type": "home", "blocks": vec![divider; 101] });
    let refused = check_view(&too_big).unwrap_err();
    assert_eq!(refused, ["101 blocks; a home view allows 100"]);
}
