//! The HTTP surface: Slack signature checks, body limits, health,
//! readiness, metrics and URL verification.

use serde_json::json;

use crate::support::app::{AppOptions, Clock, TestApp, ALICE, SIGNING_SECRET};
use crate::support::db::Backend;
use crate::support::payloads;
use accessbot::edge::signature;

const FORM: &str = "application/x-www-form-urlencoded";

async fn app() -> TestApp {
    AppOptions::new(Backend::Sqlite)
        .spawn()
        .await
        .expect("SQLite is always there")
}

fn shortcut_body(app: &TestApp) -> String {
    let trigger = app.slack.trigger_for(ALICE);
    let payload = payloads::shortcut(ALICE, "request_access", &trigger);
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

/// POST with the given timestamp and signature headers (each optional).
async fn post(app: &TestApp, body: String, ts: Option<String>, sig: Option<String>) -> u16 {
    let mut req = app
        .http
        .post(app.url("/slack/interactions"))
        .header("content-type", FORM)
        .body(body);
    if let Some(ts) = ts {
        req = req.header("x-slack-request-timestamp", ts);
    }
    if let Some(sig) = sig {
        req = req.header("x-slack-signature", sig);
    }
    req.send().await.unwrap().status().as_u16()
}

fn sign_at(body: &str, ts: i64) -> (Option<String>, Option<String>) {
    let ts = ts.to_string();
    let sig = signature::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes());
    (Some(ts), Some(sig))
}

#[tokio::test]
async fn unsigned_or_badly_signed_requests_are_refused_without_effect() {
    let app = app().await;
    let now = app.clock.now().timestamp();
    let body = shortcut_body(&app);

    assert_eq!(
        post(&app, body.clone(), None, None).await,
        401,
        "no headers"
    );

    let (ts, _) = sign_at(&body, now);
    let wrong = signature::sign(b"not-the-secret", &now.to_string(), body.as_bytes());
    assert_eq!(
        post(&app, body.clone(), ts.clone(), Some(wrong)).await,
        401,
        "wrong signature"
    );

    let (ts_old, sig_old) = sign_at(&body, now - 6 * 60);
    assert_eq!(
        post(&app, body.clone(), ts_old, sig_old).await,
        401,
        "6 minutes old"
    );

    let (ts_new, sig_new) = sign_at(&body, now + 6 * 60);
    assert_eq!(
        post(&app, body.clone(), ts_new, sig_new).await,
        401,
        "6 minutes ahead"
    );

    let sig = signature::sign(SIGNING_SECRET.as_bytes(), "soon", body.as_bytes());
    assert_eq!(
        post(&app, body.clone(), Some("soon".into()), Some(sig)).await,
        401,
        "non-numeric timestamp"
    );

    let (ts, sig) = sign_at(&body, now);
    let tampered = body.replace("request_access", "request_accesz");
    assert_eq!(
        post(&app, tampered, ts, sig).await,
        401,
        "body changed after signing"
    );

    assert_eq!(
        app.slack.count("views.open"),
        0,
        "no refused request had an effect"
    );
}

#[tokio::test]
async fn a_validly_signed_shortcut_is_accepted_and_opens_the_form() {
    let app = app().await;
    let now = app.clock.now().timestamp();
    let body = shortcut_body(&app);
    let (ts, sig) = sign_at(&body, now);
    assert_eq!(post(&app, body, ts, sig).await, 200);
    crate::support::app::wait_until("the form opens", || app.slack.count("views.open") == 1).await;
}

#[tokio::test]
async fn bodies_over_one_mebibyte_get_413() {
    let app = app().await;
    let body = format!("payload={}", "x".repeat(2 * 1024 * 1024));
    let (ts, sig) = sign_at(&body, app.clock.now().timestamp());
    assert_eq!(post(&app, body, ts, sig).await, 413);
    // A chunked body (no Content-Length to refuse up front) is cut off at the limit too.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /slack/interactions HTTP/1.1\r\nhost: {}\r\ncontent-type: {FORM}\r\n\
         x-slack-request-timestamp: {}\r\nx-slack-signature: v0=00\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n",
        app.addr,
        app.clock.now().timestamp()
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..32 {
        let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if conn.write_all(&frame).await.is_err() {
            break; // the server may stop reading once it has answered
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}

#[tokio::test]
async fn garbage_payloads_get_400_not_500() {
    let app = app().await;
    for body in [
        "payload=%7Bnot-json".to_owned(),
        "nothing=here".to_owned(),
        serde_urlencoded::to_string([("payload", r#"{"type":"block_actions"}"#)]).unwrap(),
    ] {
        let resp = app
            .post_signed("/slack/interactions", FORM, body.clone())
            .await;
        assert_eq!(resp.status(), 400, "{body}");
    }
    let resp = app
        .post_signed("/slack/commands", FORM, "text=hi".into())
        .await;
    assert_eq!(resp.status(), 400);
    let resp = app
        .post_signed("/slack/events", "application/json", "{".into())
        .await;
    assert_eq!(resp.status(), 400);
    // An interaction type nobody knows yet is acknowledged, not an error.
    let unknown = json!({ "type": "something_new", "user": { "id": ALICE } });
    assert_eq!(app.interact(&unknown).await.status(), 200);
}

#[tokio::test]
async fn url_verification_echoes_the_challenge() {
    let app = app().await;
    let body = json!({ "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification" });
    let resp = app
        .post_signed("/slack/events", "application/json", body.to_string())
        .await;
    assert_eq!(resp.status(), 200);
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
}

#[tokio::test]
async fn health_readiness_and_metrics_answer() {
    let app = app().await;
    let get = |path: &'static str| {
        let client = app.http.clone();
        let url = app.url(path);
        async move { client.get(url).send().await.unwrap() }
    };
    assert_eq!(get("/healthz").await.status(), 200);
    assert_eq!(get("/readyz").await.status(), 200);
    let metrics = get("/metrics").await;
    assert_eq!(metrics.status(), 200);
    assert!(metrics
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = metrics.text().await.unwrap();
    assert!(text.contains("accessbot_job_queue_depth"), "{text}");
    // Health endpoints need no signature; Slack endpoints always do.
    let resp = app
        .http
        .post(app.url("/slack/events"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn graceful_shutdown_finishes_and_returns_cleanly() {
    let app = app().await;
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let addr = app.addr;
    app.stop().await; // panics unless run_until returned Ok
    assert!(
        reqwest::get(format!("http://{addr}/healthz"))
            .await
            .is_err(),
        "listener is closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_a_whole_flow() {
    use crate::support::app::{prod_request, BOB};
    let app = app().await;
    app.tailnet.fail_next("POST", "/attributes/", 1, 503, None);
    let req = app.request(ALICE, prod_request()).await;
    app.click(BOB, BOB, "approve", req.id).await;
    app.wait_for_status(req.id, "active").await;
    app.settle().await;
    // The gauges are refreshed at the end of each worker round.
    let mut text = app.metrics().await;
    for _ in 0..500 {
        if text.contains("accessbot_active_grants 1")
            && text.contains("accessbot_job_queue_depth 0\n")
        {
            break;
        }
        app.state.kick();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        text = app.metrics().await;
    }
    for expected in [
        r#"accessbot_requests_total{outcome="created",profile="custom:prodAccess"} 1"#,
        r#"accessbot_requests_total{outcome="active",profile="custom:prodAccess"} 1"#,
        r#"accessbot_decisions_total{decision="approved"} 1"#,
        r#"accessbot_grants_total{result="applied"} 1"#,
        "accessbot_active_grants 1",
        "accessbot_job_queue_depth 0",
        "accessbot_job_oldest_due_age_seconds 0",
        r#"accessbot_tailscale_api_duration_seconds_count{operation="set_attribute",status="503"} 1"#,
        r#"accessbot_tailscale_api_duration_seconds_count{operation="set_attribute",status="ok"} 1"#,
        r#"accessbot_slack_api_duration_seconds_count{method="views.open",status="ok"} 1"#,
        r#"accessbot_interaction_ack_seconds_count{kind="view_submission"} 1"#,
        r#"accessbot_interaction_ack_seconds_count{kind="block_actions"} 1"#,
    ] {
        assert!(text.contains(expected), "missing {expected}:\n{text}");
    }
    assert!(text.contains(
        r#"accessbot_slack_api_duration_seconds_count{method="chat.postMessage",status="ok"}"#
    ));
}
