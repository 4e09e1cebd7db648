//! The request flow: shortcut or slash command → modal → submission →
//! approver DM → decision → grant → notifications.

use std::time::Duration;

use serde_json::Value;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::Fault;
use crate::support::payloads::{self, FormInput};

/// The approver element of a modal, once the approvers are known.
fn approver_element(view: &Value) -> Option<Value> {
    view["blocks"]
        .as_array()?
        .iter()
        .find(|b| b["block_id"] == "approver")
        .map(|b| b["element"].clone())
}

fn option_values(element: &Value) -> Vec<String> {
    element["options"]
        .as_array()
        .map(|o| {
            o.iter()
                .map(|o| o["value"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn open_form_with_approvers(
    app: &TestApp,
    user: &str,
) -> crate::support::fake_slack::OpenView {
    app.open_form_ready(user).await
}

async fn shortcut_and_slash_command_open_the_form(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let view = open_form_with_approvers(&app, ALICE).await;
    assert_eq!(view.view["callback_id"], "accessbot_request");
    assert_eq!(view.view["title"]["text"], "Request access");
    let blocks: Vec<&str> = view.view["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["block_id"].as_str())
        .collect();
    for id in ["profile", "device", "duration", "approver", "reason"] {
        assert!(blocks.contains(&id), "{id} missing from {blocks:?}");
    }
    // Production is approved by bob (e-mail) and @sre (carol, dave); never
    // offered to alice herself, and as radio buttons (≤ 10 people).
    let approvers = approver_element(&view.view).unwrap();
    assert_eq!(approvers["type"], "radio_buttons");
    assert_eq!(option_values(&approvers), vec![BOB, CAROL, DAVE]);

    let trigger = app.slack.trigger_for(BOB);
    let body = payloads::slash_command(BOB, "/jit", "", &trigger);
    let resp = app
        .post_signed("/slack/commands", "application/x-www-form-urlencoded", body)
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.text().await.unwrap(),
        "",
        "the command is acknowledged silently"
    );
    let bobs = app.wait_for_view(BOB, &trigger).await;
    assert_eq!(bobs.view["callback_id"], "accessbot_request");
}

async fn choosing_another_profile_updates_the_form(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let view = open_form_with_approvers(&app, ALICE).await;
    let input = FormInput {
        profile: Some(STAGING.into()),
        reason: Some("testing the new build".into()),
        ..Default::default()
    };
    let state = payloads::form_state(&view.view, &input);
    let payload = payloads::view_select_action(
        ALICE,
        payloads::view_payload(&view, state),
        "profile",
        STAGING,
    );
    assert_eq!(app.interact(&payload).await.status(), 200);
    let id = view.id.clone();
    let shows_staging = |v: &Value| v.to_string().contains("Sets `custom:stagingAccess`");
    wait_until("the form shows staging", || {
        shows_staging(&app.current_view(&id).view)
    })
    .await;
    let updated = app.current_view(&id).view;
    // Anyone may approve staging: a people picker, optional because alice
    // may grant it to herself.
    let approver_block = updated["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["block_id"] == "approver")
        .unwrap()
        .clone();
    assert_eq!(approver_block["element"]["type"], "users_select");
    assert_eq!(approver_block["optional"], true);
    // Durations go up to staging's 7 days; the typed reason survives.
    assert!(updated.to_string().contains("\"value\":\"604800\""));
    assert!(updated.to_string().contains("testing the new build"));

    // A stale hash (someone changed the form meanwhile) is not an error.
    let stale = payloads::view_select_action(
        ALICE,
        payloads::view_payload(&view, payloads::form_state(&view.view, &input)),
        "profile",
        PROD,
    );
    assert_eq!(app.interact(&stale).await.status(), 200);
    wait_until("the stale update is tried", || {
        app.slack
            .calls()
            .iter()
            .any(|c| c.method == "views.update" && c.outcome == "hash_conflict")
    })
    .await;
    assert!(shows_staging(&app.current_view(&id).view));
}

async fn options(
    app: &TestApp,
    view: &crate::support::fake_slack::OpenView,
    profile: &str,
    typed: &str,
) -> Value {
    let input = FormInput {
        profile: Some(profile.into()),
        ..Default::default()
    };
    let state = payloads::form_state(&view.view, &input);
    let payload =
        payloads::block_suggestion(ALICE, payloads::view_payload(view, state), "device", typed);
    app.interact_json(&payload).await
}

fn groups(answer: &Value) -> Vec<(String, Vec<String>)> {
    answer["option_groups"]
        .as_array()
        .map(|g| {
            g.iter()
                .map(|g| {
                    (
                        g["label"]["text"].as_str().unwrap().to_owned(),
                        option_values(g),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn device_menu_lists_own_devices_first_and_filters(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let view = app.open_form(ALICE).await;

    // Production: only her own devices, most recently seen first.
    let prod = options(&app, &view, PROD, "").await;
    assert_eq!(
        groups(&prod),
        vec![(
            "Your devices".to_owned(),
            vec![ALICE_LAPTOP.to_owned(), ALICE_PHONE.to_owned()]
        )]
    );
    let label = prod["option_groups"][0]["options"][0]["text"]["text"]
        .as_str()
        .unwrap();
    assert_eq!(label, "alice-laptop · macOS · 100.64.0.1");

    // Staging also allows tagged servers, after her own.
    let staging = options(&app, &view, STAGING, "").await;
    assert_eq!(
        groups(&staging),
        vec![
            (
                "Your devices".to_owned(),
                vec![ALICE_LAPTOP.to_owned(), ALICE_PHONE.to_owned()]
            ),
            ("Tagged devices".to_owned(), vec![PROD_DB.to_owned()]),
        ]
    );

    // Typing filters by name, IP and node ID.
    for (typed, expected) in [
        ("phone", vec![ALICE_PHONE]),
        ("100.64.0.2", vec![ALICE_PHONE]),
        ("nAliceL", vec![ALICE_LAPTOP]),
        ("prod", vec![PROD_DB]),
        ("zzz", vec![]),
    ] {
        let answer = options(&app, &view, STAGING, typed).await;
        let found: Vec<String> = groups(&answer).into_iter().flat_map(|(_, v)| v).collect();
        assert_eq!(found, expected, "typed {typed:?}");
    }

    // "any": other people's devices come last.
    let any = options(&app, &view, DB, "").await;
    let labels: Vec<String> = groups(&any).into_iter().map(|(l, _)| l).collect();
    assert_eq!(
        labels,
        ["Your devices", "Tagged devices", "Other people's devices"]
    );
    assert_eq!(groups(&any)[2].1, vec![BOB_LAPTOP.to_owned()]);
}

async fn device_menu_respects_slacks_limits(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    for i in 0..150 {
        app.tailnet.add_device(
            crate::support::fake_tailscale::FakeDevice::owned(
                &format!("nBulk{i:04}"),
                &format!("alice-build-machine-with-a-very-long-descriptive-hostname-{i:04}"),
                "alice@example.com",
            )
            .os("linux"),
        );
    }
    // The directory caches the device list (reconciliation at start-up may
    // have fetched it already); fetch it anew.
    app.state.devices.refresh().await.unwrap();
    let view = app.open_form(ALICE).await;
    let answer = options(&app, &view, DB, "").await;
    let total: usize = groups(&answer).iter().map(|(_, v)| v.len()).sum();
    assert_eq!(total, 100, "at most 100 options in all");
    for group in answer["option_groups"].as_array().unwrap() {
        assert!(group["label"]["text"].as_str().unwrap().chars().count() <= 75);
        for o in group["options"].as_array().unwrap() {
            assert!(
                o["text"]["text"].as_str().unwrap().chars().count() <= 75,
                "{o}"
            );
            assert!(o["value"].as_str().unwrap().len() <= 150);
        }
    }
}

async fn each_invalid_field_is_named(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let view = open_form_with_approvers(&app, ALICE).await;
    let cases: Vec<(&str, FormInput, &str)> = vec![
        (
            "no profile",
            FormInput {
                profile: None,
                ..prod_request()
            },
            "profile",
        ),
        (
            "unknown profile",
            FormInput {
                profile: Some("custom:godMode".into()),
                ..prod_request()
            },
            "profile",
        ),
        (
            "unknown device",
            FormInput {
                device: Some("nGhost1".into()),
                ..prod_request()
            },
            "device",
        ),
        (
            "forged device ID",
            FormInput {
                device: Some("../../etc/passwd".into()),
                ..prod_request()
            },
            "device",
        ),
        (
            "someone else's device",
            FormInput {
                device: Some(BOB_LAPTOP.into()),
                ..prod_request()
            },
            "device",
        ),
        (
            "a tagged server for an own-devices profile",
            FormInput {
                device: Some(PROD_DB.into()),
                ..prod_request()
            },
            "device",
        ),
        (
            "over the cap",
            FormInput {
                duration_secs: Some(12 * 3600),
                ..prod_request()
            },
            "duration",
        ),
        (
            "not an offered duration",
            FormInput {
                duration_secs: Some(3601),
                ..prod_request()
            },
            "duration",
        ),
        (
            "no duration",
            FormInput {
                duration_secs: None,
                ..prod_request()
            },
            "duration",
        ),
        (
            "approver not eligible",
            FormInput {
                approver: Some(MALLORY.into()),
                ..prod_request()
            },
            "approver",
        ),
        (
            "self-approval not allowed",
            FormInput {
                approver: Some(ALICE.into()),
                ..prod_request()
            },
            "approver",
        ),
        (
            "no approver",
            FormInput {
                approver: None,
                ..prod_request()
            },
            "approver",
        ),
        (
            "forged approver",
            FormInput {
                approver: Some("<!channel>".into()),
                ..prod_request()
            },
            "approver",
        ),
        (
            "empty reason",
            FormInput {
                reason: Some("   ".into()),
                ..prod_request()
            },
            "reason",
        ),
        (
            "reason too long",
            FormInput {
                reason: Some("x".repeat(501)),
                ..prod_request()
            },
            "reason",
        ),
    ];
    for (what, input, field) in cases {
        let answer = app.submit(ALICE, &view, &input).await;
        assert_eq!(answer["response_action"], "errors", "{what}: {answer}");
        let message = answer["errors"][field]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error on {field}: {answer}"));
        assert!(!message.is_empty());
        assert_eq!(
            answer["errors"].as_object().unwrap().len(),
            1,
            "{what}: only {field} is wrong: {answer}"
        );
    }
    let stored = app
        .state
        .store
        .list_requests(&Default::default())
        .await
        .unwrap();
    assert!(stored.is_empty(), "nothing invalid was stored");
    assert_eq!(
        app.slack.count("chat.postMessage"),
        0,
        "nobody was told anything"
    );
    // The profile in private_metadata is not trusted either: a forged one
    // falls back to what the form says.
    let mut forged = view.clone();
    forged.view["private_metadata"] = Value::String("{\"p\":\"custom:godMode\"}".into());
    let answer = app
        .submit(
            ALICE,
            &forged,
            &FormInput {
                profile: Some("custom:godMode".into()),
                ..prod_request()
            },
        )
        .await;
    assert_eq!(answer["response_action"], "errors");
}

async fn happy_path_grants_once_and_tells_everyone(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    assert_eq!(req.status.as_str(), "pending");
    assert_eq!(req.approver.as_ref().unwrap().as_str(), BOB);
    assert_eq!(req.requester_email.as_deref(), Some("alice@example.com"));

    // The approver's DM has the details and the two buttons.
    let dm = app.message_with_button(BOB, "approve", req.id).await;
    assert_eq!(dm.buttons(), ["approve", "deny"]);
    let text = dm.render();
    for expected in [
        "<@U0ALICE01>",
        "Production",
        "custom:prodAccess",
        "alice-laptop",
        "macOS",
        "100.64.0.1",
        "1h",
        "deploy hotfix 42",
        "admin/machines/100.64.0.1",
    ] {
        assert!(
            text.contains(expected),
            "approver DM lacks {expected:?}: {text}"
        );
    }
    // The requester is told it is pending, and by whom it will be decided.
    let pending = app.message_with_button(ALICE, "cancel", req.id).await;
    assert!(pending.render().contains("<@U0BOB0001>"));

    let decided_at = app.clock.now();
    app.click(BOB, BOB, "approve", req.id).await;
    let active = app.wait_for_status(req.id, "active").await;
    assert_eq!(active.decided_by.as_ref().unwrap().as_str(), BOB);

    let posts = app.attribute_posts();
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let post = app
        .tailnet
        .requests()
        .into_iter()
        .find(|r| r.method == "POST" && r.path.contains("/attributes/"))
        .unwrap();
    assert!(
        post.path
            .starts_with(&format!("/api/v2/device/{ALICE_LAPTOP}/attributes/custom")),
        "{}",
        post.path
    );
    let body = &posts[0];
    assert_eq!(body["value"], true);
    let expiry = chrono::DateTime::parse_from_rfc3339(body["expiry"].as_str().unwrap()).unwrap();
    let expected = decided_at + chrono::Duration::hours(1);
    assert!(
        (expiry.timestamp() - expected.timestamp()).abs() <= 5,
        "{expiry} vs {expected}"
    );
    assert_eq!(active.expires_at.unwrap().timestamp(), expiry.timestamp());
    assert_eq!(
        body["comment"],
        "accessbot: alice@example.com approved by bob@example.com: deploy hotfix 42"
    );
    let attribute = app
        .tailnet
        .attribute(ALICE_LAPTOP, PROD)
        .expect("attribute set");
    assert_eq!(attribute.value, Value::Bool(true));

    // Everyone is told: the approver's message shows the outcome (no more
    // Approve/Deny), the requester gets a DM, the channel gets a post.
    wait_until("the approver's message shows the grant", || {
        app.slack
            .messages_in(BOB)
            .iter()
            .any(|m| m.ts == dm.ts && m.render().contains("Access until"))
    })
    .await;
    let updated = app.current_message(&dm);
    assert!(!updated.buttons().contains(&"approve".to_owned()));
    let granted = app.message_with_button(ALICE, "revoke", req.id).await;
    assert!(
        granted.render().contains("<!date^"),
        "until a time in her own time zone"
    );
    assert!(granted.render().contains("approved by <@U0BOB0001>"));
    wait_until("the channel is told", || {
        !app.slack.messages_in(PROD_CHANNEL).is_empty()
    })
    .await;
    let post = &app.slack.messages_in(PROD_CHANNEL)[0];
    assert!(
        post.render()
            .contains("<@U0ALICE01> has *Production* on *alice-laptop*"),
        "{}",
        post.render()
    );

    // The audit trail has every step.
    let actions: Vec<String> = app
        .state
        .store
        .audit_events(req.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .filter(|a| a != "notified")
        .collect();
    assert_eq!(actions, ["created", "approved", "attribute_set", "active"]);
}

async fn deny_tells_the_requester_and_sets_nothing(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "deny", req.id).await;
    let denied = app.wait_for_status(req.id, "denied").await;
    assert_eq!(denied.decided_by.as_ref().unwrap().as_str(), BOB);
    wait_until("the requester hears", || {
        app.slack
            .messages_in(ALICE)
            .iter()
            .any(|m| m.render().contains("denied your request"))
    })
    .await;
    let dm = app
        .slack
        .messages_in(ALICE)
        .into_iter()
        .find(|m| m.render().contains("denied your request"))
        .unwrap();
    assert!(!dm.render().contains("until"), "no until time for a denial");
    wait_until("the approver's message shows the denial", || {
        app.slack
            .messages_in(BOB)
            .iter()
            .any(|m| m.render().contains("Denied by <@U0BOB0001>"))
    })
    .await;
    assert!(app.attribute_posts().is_empty());
}

async fn only_the_named_approver_can_decide(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let dm = app.message_with_button(BOB, "approve", req.id).await;
    // A forged click from someone else, the requester herself, and an
    // eligible approver who was not asked.
    for who in [MALLORY, ALICE, CAROL] {
        assert_eq!(
            app.click_on(who, &dm, "approve", req.id).await.status(),
            200
        );
        wait_until("the clicker is told", || {
            app.ephemeral_to(who)
                .iter()
                .any(|t| t.contains("cannot decide"))
        })
        .await;
    }
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");
    // A button value that is not a request, and one for no request.
    let garbage = payloads::message_button(
        BOB,
        &dm.channel,
        &dm.ts,
        "approve",
        "'; DROP TABLE requests; --",
        "t",
    );
    assert_eq!(app.interact(&garbage).await.status(), 200);
    let unknown = payloads::message_button(
        BOB,
        &dm.channel,
        &dm.ts,
        "approve",
        &accessbot::domain::RequestId::new().to_string(),
        "t",
    );
    assert_eq!(app.interact(&unknown).await.status(), 200);
    wait_until("bob is told twice", || app.ephemeral_to(BOB).len() >= 2).await;
    assert_eq!(app.get(req.id).await.status.as_str(), "pending");
    assert!(app.attribute_posts().is_empty());
}

async fn twenty_concurrent_approvals_grant_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app.request(ALICE, prod_request()).await;
    let dm = app.message_with_button(BOB, "approve", req.id).await;
    let clicks = (0..20).map(|_| app.click_on(BOB, &dm, "approve", req.id));
    let statuses: Vec<u16> = futures::future::join_all(clicks)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    assert_eq!(app.attribute_posts().len(), 1);
    let approvals = app.audit_count(req.id, "approved").await;
    assert_eq!(approvals, 1);
}

async fn self_approval_without_confirmation_grants_at_once(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let input = FormInput {
        profile: Some(STAGING.into()),
        device: Some(PROD_DB.into()),
        duration_secs: Some(1800),
        approver: None,
        reason: Some("load test".into()),
    };
    let req = app.request(ALICE, input).await;
    let active = app.wait_for_status(req.id, "active").await;
    assert_eq!(active.decided_by.as_ref().unwrap().as_str(), ALICE);
    assert_eq!(active.approver, None);
    let posts = app.attribute_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(
        posts[0]["comment"],
        "accessbot: alice@example.com self-approved: load test"
    );
    app.message_with_button(ALICE, "revoke", req.id).await;
    assert!(
        app.slack
            .messages_in(ALICE)
            .iter()
            .all(|m| !m.buttons().contains(&"approve".to_owned())),
        "nobody was asked to approve"
    );
}

async fn self_approval_with_confirmation_asks_in_a_dm(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    // Carol is in @sre, which approves the database profile; she may approve
    // for herself but must confirm.
    let view = open_form_with_approvers(&app, CAROL).await;
    let input = FormInput {
        profile: Some(DB.into()),
        device: Some(PROD_DB.into()),
        duration_secs: Some(3600),
        approver: Some(CAROL.into()),
        reason: Some("migrate schema".into()),
    };
    // The form was built for production; switch it to the database profile first.
    let state = payloads::form_state(&view.view, &input);
    app.interact(&payloads::view_select_action(
        CAROL,
        payloads::view_payload(&view, state),
        "profile",
        DB,
    ))
    .await;
    let id = view.id.clone();
    wait_until("the form shows the database profile", || {
        app.current_view(&id)
            .view
            .to_string()
            .contains("I'll confirm in a DM")
    })
    .await;
    let answer = app.submit(CAROL, &app.current_view(&id), &input).await;
    assert_eq!(answer["response_action"], "update", "{answer}");
    let req = app.latest_request_of(CAROL).await;
    assert_eq!(req.status.as_str(), "pending");
    app.click(CAROL, CAROL, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    let posts = app.attribute_posts();
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0]["value"], "readonly");
}

async fn a_group_member_can_be_the_approver(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    let req = app
        .request(
            ALICE,
            FormInput {
                approver: Some(CAROL.into()),
                ..prod_request()
            },
        )
        .await;
    app.click(CAROL, CAROL, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    assert_eq!(
        app.attribute_posts()[0]["comment"],
        "accessbot: alice@example.com approved by carol@example.com: deploy hotfix 42"
    );
}

async fn transient_tailscale_errors_are_retried(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    app.tailnet.fail_next("POST", "/attributes/", 2, 503, None);
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    assert_eq!(
        app.tailnet.count("POST", "/attributes/"),
        3,
        "two 503s, then success"
    );
    assert!(app.tailnet.attribute(ALICE_LAPTOP, PROD).is_some());
}

async fn a_permanent_tailscale_error_fails_the_request_and_says_why(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    app.tailnet.fail_next("POST", "/attributes/", 1, 400, None);
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", req.id).await;
    let failed = app.wait_for_status(req.id, "failed").await;
    let why = failed.failure_reason.unwrap();
    assert!(
        why.contains("injected failure"),
        "Tailscale's message is kept: {why}"
    );
    assert_eq!(
        app.tailnet.count("POST", "/attributes/"),
        1,
        "a 400 is not retried"
    );
    wait_until("both people are told", || {
        app.slack
            .messages_in(ALICE)
            .iter()
            .any(|m| m.render().contains("could not be granted"))
            && app
                .slack
                .messages_in(BOB)
                .iter()
                .any(|m| m.render().contains("could not be granted"))
    })
    .await;
}

async fn a_slack_failure_on_the_approver_dm_is_retried(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    app.slack
        .fail_next("chat.postMessage", 1, Fault::RateLimited { retry_after: 1 });
    let req = app.request(ALICE, prod_request()).await;
    // Stored regardless, and the requester already told.
    assert_eq!(req.status.as_str(), "pending");
    app.message_with_button(ALICE, "cancel", req.id).await;
    wait_until("the first try failed", || {
        app.slack
            .calls()
            .iter()
            .any(|c| c.method == "chat.postMessage" && c.outcome == "ratelimited")
    })
    .await;
    assert!(app.slack.messages_in(BOB).is_empty());
    // Wait until the worker has put the job back with its retry time: a
    // clock moved before that would only push the retry further out.
    app.settle().await;
    // The job is retried after its backoff.
    app.advance(Duration::from_secs(60));
    let dm = app.message_with_button(BOB, "approve", req.id).await;
    app.settle().await;
    assert_eq!(app.slack.messages_in(BOB).len(), 1, "one approver DM");
    assert_eq!(app.slack.messages_in(ALICE).len(), 1, "one requester DM");
    // And the flow goes on from there.
    app.click_on(BOB, &dm, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
}

async fn an_unreachable_approver_is_reported_to_the_requester(backend: Backend) {
    let app = spawn_app!(AppOptions::new(backend));
    // Slack refuses the DM for good (the first chat.postMessage is the approver's).
    app.slack.fail_next(
        "chat.postMessage",
        1,
        Fault::Error("channel_not_found".into()),
    );
    let req = app.request(ALICE, prod_request()).await;
    wait_until("the requester is told", || {
        app.slack.messages_in(ALICE).iter().any(|m| {
            m.render()
                .contains("could not send your request to <@U0BOB0001>")
        })
    })
    .await;
    app.settle().await;
    assert!(app.slack.messages_in(BOB).is_empty());
    // She can still cancel it.
    app.click(ALICE, ALICE, "cancel", req.id).await;
    app.wait_for_status(req.id, "cancelled").await;
}

on_both_backends!(
    shortcut_and_slash_command_open_the_form,
    choosing_another_profile_updates_the_form,
    device_menu_lists_own_devices_first_and_filters,
    device_menu_respects_slacks_limits,
    each_invalid_field_is_named,
    happy_path_grants_once_and_tells_everyone,
    deny_tells_the_requester_and_sets_nothing,
    only_the_named_approver_can_decide,
    twenty_concurrent_approvals_grant_once,
    self_approval_without_confirmation_grants_at_once,
    self_approval_with_confirmation_asks_in_a_dm,
    a_group_member_can_be_the_approver,
    transient_tailscale_errors_are_retried,
    a_permanent_tailscale_error_fails_the_request_and_says_why,
    a_slack_failure_on_the_approver_dm_is_retried,
    an_unreachable_approver_is_reported_to_the_requester,
);
