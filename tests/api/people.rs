//! The people directory at real-world sizes and against Slack's rate
//! limits: a 200-member approver group behind 150 ms calls is served from
//! the warm directory, so forms, submissions and clicks never wait on
//! Slack for people it knows, and a 429 leaves the directory serving.

use std::time::Duration;

use accessbot::domain::SlackUserId;
use accessbot::slack::api::SlackApiError;
use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::{FakeSlack, FakeUser, Fault};
use crate::support::payloads::{self, FormInput};

const BIG: &str = "custom:bigAccess";
const MEMBERS: usize = 200;
/// The Slack methods the directory uses.
const PEOPLE_METHODS: [&str; 5] = [
    "users.info",
    "users.lookupByEmail",
    "users.list",
    "usergroups.list",
    "usergroups.users.list",
];

fn member(i: usize) -> String {
    format!("U0BIG{i:04}")
}

fn big_profiles() -> String {
    format!(
        "{PROFILES}\n[[profiles]]\nattribute = \"{BIG}\"\ndescription = \"Big\"\n\
         max_duration = \"1h\"\napprovers = [\"@big\"]\n"
    )
}

/// 200 more people in one group, and Slack's people methods at 150 ms.
fn big_workspace(slack: &FakeSlack) {
    let members: Vec<String> = (0..MEMBERS).map(member).collect();
    for (i, m) in members.iter().enumerate() {
        let email = format!("{}@example.com", m.to_ascii_lowercase());
        slack.add_user(FakeUser::new(m, &email, &format!("Member {i}")));
    }
    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
    slack.add_group("S0BIG0001", "big", &refs);
    for method in PEOPLE_METHODS {
        slack.set_latency(method, Duration::from_millis(150));
    }
}

fn calls_of(app: &TestApp, method: &str) -> usize {
    app.slack
        .calls()
        .iter()
        .filter(|c| c.method == method)
        .count()
}

fn approver_block(view: &Value) -> Option<Value> {
    view["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["block_id"] == "approver")
        .cloned()
}

async fn a_big_group_is_served_from_the_warm_directory(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend)
        .profiles(&big_profiles())
        .slack_setup(big_workspace));
    // Warming took a users.list sweep of the workspace (205 people, two
    // pages), not 200 users.info calls, and stayed within every tier.
    assert_eq!(calls_of(&app, "users.list"), 2);
    assert_eq!(calls_of(&app, "users.info"), 0);
    assert!(
        app.slack.calls().iter().all(|c| c.outcome != "ratelimited"),
        "no 429 while warming"
    );

    let view = app.open_form_ready(ALICE).await;
    let alice = SlackUserId::parse(ALICE).unwrap();
    wait_until("the requester's details are known", || {
        app.state.people.cached_user(&alice).is_some()
    })
    .await;

    // From here on Slack's people methods never answer: anything that
    // waited on them would miss its budget and fail.
    for method in PEOPLE_METHODS {
        app.slack.hold(method);
    }

    // Switching to the big profile shows its approvers in the same update.
    let input = FormInput {
        profile: Some(BIG.into()),
        ..prod_request()
    };
    let switch = payloads::view_select_action(
        ALICE,
        payloads::view_payload(&view, payloads::form_state(&view.view, &input)),
        "profile",
        BIG,
    );
    assert_eq!(app.interact(&switch).await.status(), 200);
    let id = view.id.clone();
    wait_until("the form shows the big profile", || {
        app.current_view(&id).versions.len() == view.versions.len() + 1
    })
    .await;
    let switched = app.current_view(&id);
    let shown = switched.view.to_string();
    assert!(!shown.contains("Looking up"), "{shown}");
    assert!(!shown.contains("Bob Baker"), "no stale names: {shown}");
    let approvers = approver_block(&switched.view).expect("an approver question");
    assert_eq!(approvers["element"]["type"], "static_select");
    let options = approvers["element"]["options"].as_array().unwrap();
    assert_eq!(options.len(), 100, "a select shows 100 of the 200");
    assert_eq!(options[0]["text"]["text"], "Member 0");

    // The submission names member 150 and is checked from the directory.
    let chosen = member(150);
    let answer = app
        .submit(
            ALICE,
            &switched,
            &FormInput {
                approver: Some(chosen.clone()),
                ..input
            },
        )
        .await;
    assert_eq!(answer["response_action"], "update", "{answer:#}");
    let req = app.latest_request_of(ALICE).await;
    assert_eq!(req.approver.as_ref().map(|a| a.as_str()), Some(&*chosen));

    // So is member 150's Approve click, and the grant that follows.
    app.click(&chosen, &chosen, "approve", req.id).await;
    let active = app.wait_for_status(req.id, "active").await;
    assert_eq!(
        active.decided_by.as_ref().map(|d| d.as_str()),
        Some(&*chosen)
    );
    assert!(
        app.attribute_posts()[0]["comment"]
            .as_str()
            .unwrap()
            .contains("approved by u0big0150@example.com"),
        "the comment names both from the directory"
    );
    assert_eq!(app.slack.held_calls(), 0, "nothing waited on Slack");
    for method in PEOPLE_METHODS {
        app.slack.release(method);
    }
}

async fn a_rate_limited_refresh_keeps_serving_the_directory(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let profiles = app.state.config.profiles.clone();
    // Slack tells the next round to back off for two minutes.
    app.slack.fail_next(
        "usergroups.users.list",
        1,
        Fault::RateLimited { retry_after: 120 },
    );
    app.slack.fail_next(
        "users.lookupByEmail",
        1,
        Fault::RateLimited { retry_after: 120 },
    );
    app.state.people.refresh(&profiles).await;
    let asked = (
        calls_of(&app, "usergroups.users.list"),
        calls_of(&app, "users.lookupByEmail"),
    );
    // The round after that leaves both methods alone, as Slack asked.
    app.state.people.refresh(&profiles).await;
    assert_eq!(
        (
            calls_of(&app, "usergroups.users.list"),
            calls_of(&app, "users.lookupByEmail"),
        ),
        asked
    );
    // And requests and clicks go on with what the directory knew.
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    let carol_may = app
        .state
        .people
        .cached_approvers(app.state.config.profile(PROD).unwrap())
        .unwrap()
        .0
        .includes(&SlackUserId::parse(CAROL).unwrap());
    assert!(carol_may, "@sre's members are still known");
}

on_both_backends!(
    a_big_group_is_served_from_the_warm_directory,
    a_rate_limited_refresh_keeps_serving_the_directory,
);

/// Guards the guard: the fake answers 429 once a method's minute is used
/// up, with the time left as `Retry-After`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_enforces_rate_tiers() {
    let app = spawn_app!(AppOptions::new(Backend::Sqlite));
    app.slack
        .set_rate_limit("users.info", Some(calls_of(&app, "users.info") + 2));
    for _ in 0..2 {
        app.state.slack.user_info(ALICE).await.unwrap();
    }
    match app.state.slack.user_info(ALICE).await {
        Err(SlackApiError::RateLimited(Some(after))) => {
            assert!(after > Duration::ZERO && after <= Duration::from_secs(60))
        }
        other => panic!("expected a 429 with Retry-After, got {other:?}"),
    }
}
