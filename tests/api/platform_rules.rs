//! Rules of the real Slack and Tailscale that the fakes now enforce, end
//! to end: form errors only for questions the view asked, user groups
//! listed with their counts, shared-in devices never offered, and comments
//! that fit Tailscale's limit whatever the reason's script.

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::FakeSlack;
use crate::support::fake_tailscale::FakeDevice;
use crate::support::payloads::{self, FormInput};

const SHARED_IN: &str = "nSharedIn1";

/// Slack never answers the group lookups, so approvers stay "being looked up".
fn group_lookups_hang(slack: &FakeSlack) {
    slack.hold("usergroups.users.list");
}

async fn errors_name_only_questions_the_form_asked(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend)
        .cold_people()
        .slack_setup(group_lookups_hang));
    let view = app.open_form(ALICE).await;
    let shown = view.view.to_string();
    assert!(shown.contains("Looking up who can approve"), "{shown}");
    // No approver question yet: its problem goes on the reason, saying
    // which question it is about (`submit` also holds the answer to what
    // Slack accepts).
    let answer = app
        .submit(
            ALICE,
            &view,
            &FormInput {
                approver: None,
                ..prod_request()
            },
        )
        .await;
    assert_eq!(answer["response_action"], "errors", "{answer:#}");
    let errors = answer["errors"].as_object().unwrap();
    assert_eq!(errors.keys().collect::<Vec<_>>(), ["reason"], "{answer:#}");
    assert!(
        errors["reason"]
            .as_str()
            .unwrap()
            .starts_with("Who should approve? "),
        "{answer:#}"
    );
    // Once Slack answers, the form shows the approvers.
    app.slack.release("usergroups.users.list");
    let id = view.id.clone();
    wait_until("the approvers are shown", || {
        app.current_view(&id)
            .view
            .to_string()
            .contains("\"block_id\":\"approver\"")
    })
    .await;
}

async fn shared_in_devices_are_never_offered(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    app.tailnet
        .add_device(FakeDevice::owned(SHARED_IN, "alice-guest", "alice@example.com").shared_in());
    app.state.devices.refresh().await.unwrap();
    let view = app.open_form_ready(ALICE).await;
    for typed in ["", "guest", SHARED_IN] {
        let state = payloads::form_state(
            &view.view,
            &FormInput {
                profile: Some(PROD.into()),
                ..Default::default()
            },
        );
        let suggestion = payloads::block_suggestion(
            ALICE,
            payloads::view_payload(&view, state),
            "device",
            typed,
        );
        let answer = app.interact_json(&suggestion).await;
        assert!(
            !answer.to_string().contains(SHARED_IN),
            "{typed:?}: {answer}"
        );
    }
    // Named anyway, it is not a device of this tailnet.
    let answer = app
        .submit(
            ALICE,
            &view,
            &FormInput {
                device: Some(SHARED_IN.into()),
                ..prod_request()
            },
        )
        .await;
    assert!(
        answer["errors"]["device"]
            .as_str()
            .is_some_and(|m| m.contains("not found")),
        "{answer:#}"
    );
    assert!(app.attribute_posts().is_empty());
}

async fn non_ascii_reasons_are_granted_within_the_comment_limit(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let reasons = [
        "本番データベースの障害対応のため、至急アクセスが必要です。".repeat(5),
        "🚒🔥 hotfix for the 🧯 incident ".repeat(12),
    ];
    // One device each: a second grant on the same device writes nothing
    // while the first one's attribute already covers it.
    for (reason, device) in reasons.into_iter().zip([ALICE_LAPTOP, ALICE_PHONE]) {
        let req = app
            .request(
                ALICE,
                FormInput {
                    reason: Some(reason.clone()),
                    device: Some(device.into()),
                    ..prod_request()
                },
            )
            .await;
        app.click(BOB, BOB, "approve", req.id).await;
        app.wait_for_status(req.id, "active").await;
        let posts = app.attribute_posts();
        let comment = posts.last().unwrap()["comment"].as_str().unwrap();
        assert!(comment.len() <= 200, "{} bytes", comment.len());
        let full = format!("accessbot: alice@example.com approved by bob@example.com: {reason}");
        assert!(full.starts_with(comment), "cut on a character: {comment}");
        assert!(comment.len() > 190, "as much as fits: {comment}");
    }
}

on_both_backends!(
    errors_name_only_questions_the_form_asked,
    shared_in_devices_are_never_offered,
    non_ascii_reasons_are_granted_within_the_comment_limit,
);

/// Slack sends a group's `user_count` only with `include_count=true`, and
/// slack-morphism cannot read a group without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_groups_are_listed_with_their_counts() {
    let app = spawn_app!(AppOptions::new(Backend::Sqlite));
    let listed = app.slack.calls_to("usergroups.list");
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|p| p["include_count"] == "true"),
        "{listed:?}"
    );
    let db = app.state.config.profile(DB).unwrap();
    let (_, named) = app.state.people.cached_approvers(db).unwrap();
    let names: Vec<&str> = named.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["Carol Cole", "Dave Dunn"]);
}
