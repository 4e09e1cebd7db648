//! Socket Mode: the same handlers over a WebSocket, with answers in the
//! envelope acknowledgements, against a fake `apps.connections.open` and a
//! fake Socket Mode server.

use serde_json::{json, Value};

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::fake_slack::{check_submission_answer, OpenView};
use crate::support::fake_socket::FakeSocketMode;
use crate::support::payloads::{self, FormInput};

async fn socket_app() -> (TestApp, FakeSocketMode) {
    let app = AppOptions::new(Backend::Sqlite)
        .socket_mode(true)
        .spawn()
        .await
        .expect("SQLite is always there");
    let socket = app.socket.clone().expect("socket mode on");
    socket.wait_for_connections(1).await;
    (app, socket)
}

fn no_reason() -> FormInput {
    FormInput {
        reason: Some(" ".into()),
        ..prod_request()
    }
}

/// Alice submitting the form with `input`; the ack.
async fn submit(
    socket: &FakeSocketMode,
    view: &OpenView,
    input: &FormInput,
    accepts_response_payload: bool,
) -> Value {
    let state = payloads::form_state(&view.view, input);
    let submission = payloads::view_submission(ALICE, payloads::view_payload(view, state));
    socket
        .send("interactive", submission, accepts_response_payload)
        .await
}

/// Alice's device menu asking for options with `typed`; the ack.
async fn device_options(
    socket: &FakeSocketMode,
    view: &OpenView,
    typed: &str,
    accepts_response_payload: bool,
) -> Value {
    let input = FormInput {
        profile: Some(PROD.into()),
        ..Default::default()
    };
    let state = payloads::form_state(&view.view, &input);
    let suggestion =
        payloads::block_suggestion(ALICE, payloads::view_payload(view, state), "device", typed);
    socket
        .send("interactive", suggestion, accepts_response_payload)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_flow_works_over_socket_mode() {
    let (app, socket) = socket_app().await;

    // The shortcut opens the form; the ack carries nothing.
    let trigger = app.slack.trigger_for(ALICE);
    let ack = socket
        .send(
            "interactive",
            payloads::shortcut(ALICE, "request_access", &trigger),
            true,
        )
        .await;
    assert_eq!(ack.as_object().unwrap().len(), 1, "a bare ack: {ack}");
    let view = app.wait_for_view(ALICE, &trigger).await;
    let id = view.id.clone();
    wait_until("the approvers are shown", || {
        app.current_view(&id)
            .view
            .to_string()
            .contains("radio_buttons")
    })
    .await;
    let view = app.current_view(&id);

    // Options come back in the ack.
    let ack = device_options(&socket, &view, "lap", true).await;
    assert_eq!(
        ack["payload"]["option_groups"][0]["options"][0]["value"], ALICE_LAPTOP,
        "{ack}"
    );

    // Field errors come back in the ack.
    let ack = submit(&socket, &view, &no_reason(), true).await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    assert!(ack["payload"]["errors"]["reason"].is_string());

    // A valid submission is stored and the approver asked.
    let submission = payloads::view_submission(
        ALICE,
        payloads::view_payload(&view, payloads::form_state(&view.view, &prod_request())),
    );
    let ack = socket.send("interactive", submission, true).await;
    assert_eq!(ack["payload"]["response_action"], "update", "{ack}");
    let req = app.latest_request_of(ALICE).await;
    let dm = app.message_with_button(BOB, "approve", req.id).await;

    // The approval click, over the socket too.
    let click = payloads::message_button(
        BOB,
        &dm.channel,
        &dm.ts,
        "approve",
        &req.id.to_string(),
        "t.1",
    );
    socket.send("interactive", click, true).await;
    app.wait_for_status(req.id, "active").await;
    assert_eq!(app.attribute_posts().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slash_commands_and_events_arrive_over_socket_mode() {
    let (app, socket) = socket_app().await;
    let trigger = app.slack.trigger_for(BOB);
    let body = payloads::slash_command(BOB, "/access", "", &trigger);
    let fields: std::collections::BTreeMap<String, String> =
        serde_urlencoded::from_str(&body).unwrap();
    let ack = socket.send("slash_commands", json!(fields), true).await;
    assert!(ack.get("payload").is_none(), "{ack}");
    app.wait_for_view(BOB, &trigger).await;

    socket
        .send("events_api", payloads::app_home_opened(ALICE), false)
        .await;
    wait_until("App Home is published", || {
        app.slack.count("views.publish") == 1
    })
    .await;
    let home = &app.slack.calls_to("views.publish")[0];
    assert_eq!(home["user_id"], ALICE);

    // Something that is not a valid payload is acknowledged, not fatal.
    let ack = socket
        .send("interactive", json!({ "nonsense": true }), true)
        .await;
    assert!(ack.get("payload").is_none());
    let ack = socket
        .send(
            "interactive",
            json!({ "type": "brand_new_kind", "user": { "id": ALICE } }),
            true,
        )
        .await;
    assert!(ack.get("payload").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reconnects_when_slack_asks() {
    let (app, socket) = socket_app().await;
    socket.request_reconnect();
    socket.wait_for_connections(2).await;
    assert_eq!(
        app.slack.count("apps.connections.open"),
        2,
        "a fresh URL for each connection"
    );
    // And it still serves on the new connection.
    let trigger = app.slack.trigger_for(ALICE);
    socket
        .send(
            "interactive",
            payloads::shortcut(ALICE, "request_access", &trigger),
            true,
        )
        .await;
    app.wait_for_view(ALICE, &trigger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_still_demand_a_signature_in_socket_mode() {
    let (app, _socket) = socket_app().await;
    let body: Value = payloads::shortcut(ALICE, "request_access", "t");
    let form = serde_urlencoded::to_string([("payload", body.to_string())]).unwrap();
    let resp = app
        .http
        .post(app.url("/slack/interactions"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

/// Slack does not always set `accepts_response_payload` on envelopes whose
/// answer it acts on: the answer goes in the ack all the same.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_go_in_the_ack_whatever_the_envelope_announces() {
    let (app, socket) = socket_app().await;
    let view = app.open_form_ready(ALICE).await;
    let ack = submit(&socket, &view, &no_reason(), false).await;
    assert_eq!(ack["payload"]["response_action"], "errors", "{ack}");
    check_submission_answer(&view.view, &ack["payload"]).expect("an answer Slack accepts");

    let ack = device_options(&socket, &view, "", false).await;
    assert_eq!(
        ack["payload"]["option_groups"][0]["options"][0]["value"], ALICE_LAPTOP,
        "{ack}"
    );
}

/// A Socket Mode app whose liveness checks run in milliseconds.
async fn quick_socket_app(server: &str) -> (TestApp, FakeSocketMode) {
    let app = AppOptions::new(Backend::Sqlite)
        .socket_mode(true)
        .worker(false)
        .server(server)
        .socket_timing(
            std::time::Duration::from_millis(100),
            std::time::Duration::from_millis(500),
        )
        .spawn()
        .await
        .expect("SQLite is always there");
    let socket = app.socket.clone().expect("socket mode on");
    socket.wait_for_connections(1).await;
    (app, socket)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_gone_silent_is_replaced() {
    let (app, socket) = quick_socket_app("").await;
    // The client pings while the connection is alive…
    wait_until("the client pings", || socket.pings() >= 2).await;
    assert_eq!(socket.connections(), 1, "answered pings keep it");
    // …and when nothing comes back any more, it connects anew.
    socket.go_silent();
    socket.wait_for_connections(2).await;
    assert_eq!(app.slack.count("apps.connections.open"), 2);
    let trigger = app.slack.trigger_for(ALICE);
    socket
        .send(
            "interactive",
            payloads::shortcut(ALICE, "request_access", &trigger),
            true,
        )
        .await;
    app.wait_for_view(ALICE, &trigger).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_during_a_slow_options_request_acks_on_the_old_connection() {
    let (app, socket) = quick_socket_app("").await;
    let view = app.open_form(ALICE).await;
    let state = payloads::form_state(
        &view.view,
        &FormInput {
            profile: Some(PROD.into()),
            ..Default::default()
        },
    );
    let suggestion =
        payloads::block_suggestion(ALICE, payloads::view_payload(&view, state), "device", "lap");
    // The options request waits for the tailnet's device list.
    let hold = app.tailnet.hold("GET", "/devices");
    let ack = socket.send_envelope("interactive", suggestion, true);
    wait_until("the options request waits", || hold.waiting() == 1).await;
    socket.request_reconnect();
    socket.wait_for_connections(2).await;
    assert_eq!(
        socket.log(),
        ["open 1", "open 2"],
        "the new connection opens before the old one closes"
    );
    hold.release();
    let ack = tokio::time::timeout(std::time::Duration::from_secs(10), ack)
        .await
        .expect("an ack")
        .unwrap();
    assert_eq!(ack.connection, 1, "acked where it arrived");
    assert_eq!(
        ack.frame["payload"]["option_groups"][0]["options"][0]["value"], ALICE_LAPTOP,
        "{:?}",
        ack.frame
    );
    wait_until("the old connection is closed", || {
        socket.log() == ["open 1", "open 2", "close 1"]
    })
    .await;
    // New envelopes go to, and are acked on, the new connection.
    let trigger = app.slack.trigger_for(ALICE);
    let ack = socket
        .send_envelope(
            "interactive",
            payloads::shortcut(ALICE, "request_access", &trigger),
            true,
        )
        .await
        .unwrap();
    assert_eq!(ack.connection, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_over_one_mebibyte_is_refused() {
    let (app, socket) = quick_socket_app("").await;
    let huge = json!({
        "envelope_id": "env-huge",
        "type": "interactive",
        "payload": { "type": "shortcut", "padding": "x".repeat(1024 * 1024) },
    });
    socket.send_raw(huge.to_string());
    // The connection is dropped, and a new one made.
    socket.wait_for_connections(2).await;
    wait_until("the old connection is closed", || {
        socket.log().contains(&"close 1".to_owned())
    })
    .await;
    assert_eq!(app.slack.count("views.open"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_in_progress_count_against_max_in_flight() {
    let (app, socket) = quick_socket_app("max_in_flight = 1").await;
    let view = app.open_form(ALICE).await;
    let state = payloads::form_state(&view.view, &Default::default());
    let suggestion =
        payloads::block_suggestion(ALICE, payloads::view_payload(&view, state), "device", "a");
    let hold = app.tailnet.hold("GET", "/devices");
    let ack = socket.send_envelope("interactive", suggestion, true);
    wait_until("the options request waits", || hold.waiting() == 1).await;
    // The one slot is taken: an HTTP request is turned away meanwhile.
    let resp = app
        .interact(&payloads::shortcut(ALICE, "request_access", "t"))
        .await;
    assert_eq!(resp.status(), 503);
    hold.release();
    let ack = ack.await.unwrap();
    assert!(ack.frame["payload"].is_object(), "{:?}", ack.frame);
}
