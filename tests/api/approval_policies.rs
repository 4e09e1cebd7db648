//! Approval policies end to end: every approver asked ("any"), N of M,
//! an approval channel, approving for a shorter time and denying with a
//! reason. Every rule is checked on the server at click time.

use accessbot::domain::AccessRequest;
use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::{FakeSlack, Message};
use crate::support::payloads::{self, decision_state, FormInput};

pub const ANY: &str = "custom:anyAccess";
pub const TWO: &str = "custom:twoAccess";
pub const CHANNELED: &str = "custom:channelAccess";
pub const APPROVAL_CHANNEL: &str = "C0APPROVAL";

/// The usual profiles, and one per policy: "any" (bob and @sre: carol,
/// dave), two of four (alice among them, with self-approval: she never
/// counts), and an approval channel for @sre.
pub fn policy_profiles() -> String {
    format!(
        "{PROFILES}
[[profiles]]
attribute = \"{ANY}\"
description = \"Any approver\"
max_duration = \"8h\"
approvers = [\"bob@example.com\", \"@sre\"]
approval = \"any\"

[[profiles]]
attribute = \"{TWO}\"
description = \"Two approvers\"
max_duration = \"8h\"
approvers = [\"{ALICE}\", \"{BOB}\", \"{CAROL}\", \"{DAVE}\"]
approvals_required = 2
can_self_approve = true

[[profiles]]
attribute = \"{CHANNELED}\"
description = \"Approved in a channel\"
max_duration = \"8h\"
approvers = [\"@sre\"]
approval_channel = \"{APPROVAL_CHANNEL}\"
"
    )
}

fn add_approval_channel(slack: &FakeSlack) {
    slack.add_channel(APPROVAL_CHANNEL);
}

pub async fn policy_app(backend: Backend) -> Option<TestApp> {
    AppOptions::new(backend)
        .profiles(&policy_profiles())
        .slack_setup(add_approval_channel)
        .spawn()
        .await
}

macro_rules! policy_app {
    ($backend:expr) => {
        match policy_app($backend).await {
            Some(app) => app,
            None => return,
        }
    };
}

/// Alice asks for `profile` on her laptop for `hours`.
async fn ask(app: &TestApp, profile: &str, hours: u64) -> AccessRequest {
    app.request(
        ALICE,
        FormInput {
            profile: Some(profile.into()),
            duration_secs: Some(hours * 3600),
            approver: None,
            ..prod_request()
        },
    )
    .await
}

/// Wait until `who` is told something containing `text`.
async fn told(app: &TestApp, who: &str, text: &str) {
    wait_until(&format!("{who} is told {text:?}"), || {
        app.ephemeral_to(who).iter().any(|t| t.contains(text))
    })
    .await;
}

async fn wait_for_text(app: &TestApp, message: &Message, text: &str) {
    wait_until(&format!("the message says {text:?}"), || {
        app.current_message(message).render().contains(text)
    })
    .await;
}

/// Reminders posted to `conversation` (a user's DM, or a channel).
fn reminded(app: &TestApp, conversation: &str) -> usize {
    app.slack
        .messages_in(conversation)
        .iter()
        .filter(|m| m.render().contains("Reminder"))
        .count()
}

fn approved_events(trail: &[accessbot::store::AuditEvent]) -> Vec<&Value> {
    trail
        .iter()
        .filter(|e| e.action == "approved")
        .map(|e| &e.detail)
        .collect()
}

async fn any_asks_every_approver_and_the_first_click_decides(backend: Backend) {
    let app = policy_app!(backend);
    // The form says who is asked instead of asking.
    let view = app.open_form_ready(ALICE).await;
    let switch = payloads::view_select_action(
        ALICE,
        payloads::view_payload(&view, Value::Object(Default::default())),
        "profile",
        ANY,
    );
    app.interact(&switch).await;
    let id = view.id.clone();
    wait_until("the form shows the policy", || {
        app.current_view(&id)
            .view
            .to_string()
            .contains("Sent to every approver")
    })
    .await;
    let blocks = app.current_view(&id).view["blocks"].clone();
    let approver = blocks
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "approver")
        .unwrap();
    assert_eq!(approver["type"], "context", "no approver question");

    let req = ask(&app, ANY, 2).await;
    assert_eq!(req.approver, None);
    let dms: Vec<Message> = futures::future::join_all(
        [BOB, CAROL, DAVE].map(|who| app.message_with_button(who, "approve", req.id)),
    )
    .await;
    let waiting = app.message_with_button(ALICE, "cancel", req.id).await;
    assert!(
        waiting.render().contains("waiting for an approver"),
        "{}",
        waiting.render()
    );
    // Someone who is no approver cannot decide.
    app.click_on(MALLORY, &dms[0], "approve", req.id).await;
    told(&app, MALLORY, "can't approve this request").await;

    // Two approvers click at once: one decides, once.
    let (bob, carol) = tokio::join!(
        app.click_on(BOB, &dms[0], "approve", req.id),
        app.click_on(CAROL, &dms[1], "approve", req.id)
    );
    assert_eq!((bob.status().as_u16(), carol.status().as_u16()), (200, 200));
    let active = app.wait_for_status(req.id, "active").await;
    app.settle().await;
    assert_eq!(app.attribute_posts().len(), 1, "one grant");
    let trail = app.state.store.audit_events(req.id).await.unwrap();
    assert_eq!(approved_events(&trail).len(), 1);
    let winner = active.decided_by.unwrap();
    assert!([BOB, CAROL].contains(&winner.as_str()));
    // Every approver's message says who decided; no button is left to click.
    for dm in &dms {
        let now = app.current_message(dm);
        assert!(
            now.render().contains(&format!("Approved by <@{winner}>")),
            "{}",
            now.render()
        );
        assert!(!now.buttons().contains(&"approve".to_owned()));
    }
    // The one who lost the race heard so.
    let loser = if winner.as_str() == BOB { CAROL } else { BOB };
    told(&app, loser, "already").await;
}

async fn two_of_three_approve_once_and_the_requester_never_counts(backend: Backend) {
    let app = policy_app!(backend);
    let req = ask(&app, TWO, 2).await;
    let bob_dm = app.message_with_button(BOB, "approve", req.id).await;
    let carol_dm = app.message_with_button(CAROL, "approve", req.id).await;
    let dave_dm = app.message_with_button(DAVE, "approve", req.id).await;
    assert!(bob_dm.render().contains("Needs 2 approvals"));
    app.settle().await;
    assert!(
        app.slack
            .messages_in(ALICE)
            .iter()
            .all(|m| !m.buttons().contains(&"approve".to_owned())),
        "the requester is not asked, though she is an approver"
    );
    // Her own click does not count, even with can_self_approve.
    app.click_on(ALICE, &bob_dm, "approve", req.id).await;
    told(&app, ALICE, "Your own approval does not count").await;
    assert!(app.state.store.approvals(req.id).await.unwrap().is_empty());

    // Bob approves, twice: it counts once.
    app.click_on(BOB, &bob_dm, "approve", req.id).await;
    told(&app, BOB, "1 of 2 approvals").await;
    app.click_on(BOB, &bob_dm, "approve", req.id).await;
    told(&app, BOB, "already approved this request (1 of 2").await;
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");
    assert_eq!(app.state.store.approvals(req.id).await.unwrap().len(), 1);
    for dm in [&bob_dm, &carol_dm, &dave_dm] {
        wait_for_text(&app, dm, "1 of 2 approvals: <@U0BOB0001>").await;
    }
    let waiting = app.message_with_button(ALICE, "cancel", req.id).await;
    wait_for_text(&app, &waiting, "2 approvals (1 so far: <@U0BOB0001>)").await;
    // Still pending after an hour: those who have not approved are reminded.
    app.settle().await;
    app.advance(std::time::Duration::from_secs(61 * 60));
    for who in [CAROL, DAVE] {
        wait_until(&format!("{who} is reminded"), || reminded(&app, who) == 1).await;
    }
    app.settle().await;
    assert_eq!(reminded(&app, BOB), 0, "bob approved already");

    // The second and third approvals land together: one grant.
    let (carol, dave) = tokio::join!(
        app.click_on(CAROL, &carol_dm, "approve", req.id),
        app.click_on(DAVE, &dave_dm, "approve", req.id)
    );
    assert_eq!(
        (carol.status().as_u16(), dave.status().as_u16()),
        (200, 200)
    );
    let active = app.wait_for_status(req.id, "active").await;
    app.settle().await;
    assert_eq!(app.attribute_posts().len(), 1, "one grant");
    let approvals = app.state.store.approvals(req.id).await.unwrap();
    assert_eq!(approvals.len(), 2, "the third came too late: {approvals:?}");
    let second = active.decided_by.unwrap();
    assert_eq!(approvals[1].approver, second);
    let trail = app.state.store.audit_events(req.id).await.unwrap();
    let approved = approved_events(&trail);
    assert_eq!(approved.len(), 1);
    assert_eq!(
        approved[0]["approvals"],
        serde_json::json!([BOB, second.as_str()])
    );
    assert_eq!(
        trail
            .iter()
            .filter(|e| e.action == "approval_added")
            .count(),
        1
    );
    let both = format!("Approved by <@{BOB}> and <@{second}>");
    wait_for_text(&app, &bob_dm, &both).await;
    assert!(app.attribute_posts()[0]["comment"]
        .as_str()
        .unwrap()
        .contains("approved by"));
}

async fn a_deny_after_one_approval_ends_it_with_the_reason(backend: Backend) {
    let app = policy_app!(backend);
    let req = ask(&app, TWO, 2).await;
    let bob_dm = app.message_with_button(BOB, "approve", req.id).await;
    let carol_dm = app.message_with_button(CAROL, "approve", req.id).await;
    app.click_on(BOB, &bob_dm, "approve", req.id).await;
    told(&app, BOB, "1 of 2").await;
    let reason = "use staging & <the> replica";
    let state = decision_state(None, Some(reason));
    app.click_with_state(CAROL, &carol_dm, "deny", req.id, state)
        .await;
    let denied = app.wait_for_status(req.id, "denied").await;
    assert_eq!(denied.decided_by.unwrap().as_str(), CAROL);
    wait_until("the requester hears why", || {
        app.slack.messages_in(ALICE).iter().any(|m| {
            m.render()
                .contains("denied your request for *Two approvers* on *alice-laptop*: use staging &amp; &lt;the&gt; replica")
        })
    })
    .await;
    wait_for_text(&app, &bob_dm, "Denied by <@U0CAROL01>: use staging").await;
    let trail = app.state.store.audit_events(req.id).await.unwrap();
    let event = trail.iter().find(|e| e.action == "denied").unwrap();
    assert_eq!(event.detail["reason"], reason);
    // Approving afterwards changes nothing.
    app.click_on(DAVE, &bob_dm, "approve", req.id).await;
    told(&app, DAVE, "already denied").await;
    app.settle().await;
    assert!(app.attribute_posts().is_empty());
}

async fn an_approval_channel_takes_clicks_from_approvers_only(backend: Backend) {
    let app = policy_app!(backend);
    let req = ask(&app, CHANNELED, 1).await;
    let post = app
        .message_with_button(APPROVAL_CHANNEL, "approve", req.id)
        .await;
    assert!(post
        .render()
        .contains("requests access to *Approved in a channel*"));
    let waiting = app.message_with_button(ALICE, "cancel", req.id).await;
    assert!(waiting
        .render()
        .contains(&format!("an approver in <#{APPROVAL_CHANNEL}>")));
    // Anyone in the channel may click; only @sre counts.
    for who in [MALLORY, BOB, ALICE] {
        app.click_on(who, &post, "approve", req.id).await;
        wait_until(&format!("{who} is refused in the channel"), || {
            app.slack.ephemeral().iter().any(|(c, u, t)| {
                c == APPROVAL_CHANNEL && u == who && t.contains("can't approve this request")
            })
        })
        .await;
    }
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");
    // An hour on, the channel is reminded.
    app.settle().await;
    app.advance(std::time::Duration::from_secs(61 * 60));
    wait_until("the channel is reminded", || {
        reminded(&app, APPROVAL_CHANNEL) == 1
    })
    .await;
    app.click_on(DAVE, &post, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    wait_for_text(&app, &post, "Approved by <@U0DAVE001>").await;
    assert!(!app
        .current_message(&post)
        .buttons()
        .contains(&"approve".to_owned()));
    assert_eq!(
        app.slack.messages_in(APPROVAL_CHANNEL).len(),
        2,
        "one post and one reminder"
    );
    assert!(
        app.slack.messages_in(CAROL).is_empty() && app.slack.messages_in(DAVE).is_empty(),
        "no DMs"
    );
}

async fn approving_for_a_shorter_time_sets_a_shorter_expiry(backend: Backend) {
    let app = policy_app!(backend);
    let req = app
        .request(
            ALICE,
            FormInput {
                duration_secs: Some(8 * 3600),
                ..prod_request()
            },
        )
        .await;
    let dm = app.message_with_button(BOB, "approve", req.id).await;
    // Nothing from Slack is trusted: longer than asked, not offered, garbage.
    for (forged, why) in [
        ("43200", "at most the 8h"),
        ("3601", "not offered"),
        ("1h", "not offered"),
    ] {
        app.click_with_state(
            BOB,
            &dm,
            "approve",
            req.id,
            decision_state(Some(forged), None),
        )
        .await;
        told(&app, BOB, why).await;
    }
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");

    let decided_at = app.clock.now();
    let one_hour = decision_state(Some("3600"), None);
    app.click_with_state(BOB, &dm, "approve", req.id, one_hour)
        .await;
    let active = app.wait_for_status(req.id, "active").await;
    assert_eq!(active.duration, std::time::Duration::from_secs(3600));
    let attribute = app.tailnet.attribute(ALICE_LAPTOP, PROD).unwrap();
    let expiry = attribute.expiry.expect("an expiry");
    assert_eq!(Some(expiry), active.expires_at);
    let hour_out = (expiry - decided_at).num_seconds();
    assert!((3595..=3605).contains(&hour_out), "{hour_out} s, not 1 h");
    let granted = app.message_with_button(ALICE, "revoke", req.id).await;
    assert!(
        granted
            .render()
            .contains("approved by <@U0BOB0001> for 1h; you asked for 8h"),
        "{}",
        granted.render()
    );
    app.settle().await;
    wait_for_text(&app, &dm, "*Duration*\\n1h (asked 8h)").await;
}

on_both_backends!(
    any_asks_every_approver_and_the_first_click_decides,
    two_of_three_approve_once_and_the_requester_never_counts,
    a_deny_after_one_approval_ends_it_with_the_reason,
    an_approval_channel_takes_clicks_from_approvers_only,
    approving_for_a_shorter_time_sets_a_shorter_expiry,
);
