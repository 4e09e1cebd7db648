//! The server's limits under load and attack: half-open connections are
//! closed after the header timeout, slow bodies after the body deadline,
//! connections and requests past their caps get 503 (never `/healthz`),
//! shutdown ends within its deadline, and `/metrics` can move to a
//! listener of its own.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::app::*;
use crate::support::db::Backend;
use crate::support::payloads;

async fn app_with(server: &str) -> TestApp {
    AppOptions::new(Backend::Sqlite)
        .server(server)
        .spawn()
        .await
        .expect("SQLite is always there")
}

/// Sends `request` on a new connection and reads the answer until the
/// server closes it (or 10 s pass).
async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    read_to_close(&mut conn).await
}

async fn read_to_close(conn: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept the connection open");
    String::from_utf8_lossy(&answer).into_owned()
}

const HEALTH: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A signed POST to `/slack/interactions`, as raw HTTP.
fn signed_post(app: &TestApp, body: &str) -> String {
    let ts = app.clock.now().timestamp().to_string();
    let sig = accessbot::edge::signature::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes());
    format!(
        "POST /slack/interactions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/x-www-form-urlencoded\r\n\
         X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: {sig}\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn shortcut_body(trigger: &str) -> String {
    let payload = payloads::shortcut(ALICE, "request_access", trigger);
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_are_closed_while_a_shortcut_opens_its_modal() {
    let app = app_with("header_timeout = \"1s\"\nmax_connections = 4096").await;
    // 2,000 clients that send half a request header and stop.
    let mut half_open = Vec::new();
    for _ in 0..2000 {
        let mut conn = TcpStream::connect(app.addr).await.unwrap();
        conn.write_all(b"POST /slack/interactions HTTP/1.1\r\nHost: x\r\nContent-Le")
            .await
            .unwrap();
        half_open.push(conn);
    }
    // Meanwhile a signed shortcut opens its modal.
    app.open_form(ALICE).await;
    // Every half-open connection is closed by the server (not answered).
    let closed = futures::future::join_all(half_open.iter_mut().map(read_to_close)).await;
    assert_eq!(closed.len(), 2000);
    for answer in closed {
        assert!(!answer.starts_with("HTTP/1.1 2"), "{answer}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_get_503_and_healthz_still_answers() {
    let app = app_with("max_connections = 2\nheader_timeout = \"30s\"").await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        idle.push(TcpStream::connect(app.addr).await.unwrap());
    }
    // The two held connections count only once accepted: wait for that.
    let metrics = app.state.metrics.clone();
    wait_until("both connections are open", || {
        metrics.http_connections.get() == 2
    })
    .await;
    let trigger = app.slack.trigger_for(ALICE);
    let answer = raw(app.addr, &signed_post(&app, &shortcut_body(&trigger))).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    let health = raw(app.addr, HEALTH).await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert_eq!(
        app.slack.count("views.open"),
        0,
        "the refused shortcut did nothing"
    );
    // Room again once a connection closes.
    drop(idle.pop());
    wait_until("a connection closed", || {
        metrics.http_connections.get() == 1
    })
    .await;
    let trigger = app.slack.trigger_for(ALICE);
    let answer = raw(app.addr, &signed_post(&app, &shortcut_body(&trigger))).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(app
        .metrics()
        .await
        .contains("accessbot_http_refused_total{reason=\"connections\"}"));
}

/// A signed shortcut whose body is only half sent: it holds a request
/// slot (and its connection) until the rest follows.
async fn half_sent(app: &TestApp) -> (TcpStream, String) {
    let trigger = app.slack.trigger_for(ALICE);
    let request = signed_post(app, &shortcut_body(&trigger));
    let (first, rest) = request.split_at(request.len() - 10);
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    conn.write_all(first.as_bytes()).await.unwrap();
    let slots = app.state.in_flight.clone();
    let max = app.state.config.server.limits.max_in_flight;
    wait_until("the request holds a slot", || slots.available() == max - 1).await;
    (conn, rest.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_max_in_flight_get_503_and_healthz_still_answers() {
    let app = app_with("max_in_flight = 1\nbody_timeout = \"30s\"").await;
    let (mut slow, rest) = half_sent(&app).await;
    let trigger = app.slack.trigger_for(ALICE);
    let answer = raw(app.addr, &signed_post(&app, &shortcut_body(&trigger))).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );
    assert!(raw(app.addr, HEALTH).await.starts_with("HTTP/1.1 200"));
    assert_eq!(app.slack.count("views.open"), 0);
    // The slow one, once complete, is served.
    slow.write_all(rest.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut slow).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    wait_until("its modal opens", || app.slack.count("views.open") == 1).await;
    assert!(app
        .metrics()
        .await
        .contains("accessbot_http_refused_total{reason=\"in_flight\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_gets_408() {
    let app = app_with("body_timeout = \"500ms\"").await;
    let ts = app.clock.now().timestamp();
    let mut conn = TcpStream::connect(app.addr).await.unwrap();
    let head = format!(
        "POST /slack/interactions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         X-Slack-Request-Timestamp: {ts}\r\nX-Slack-Signature: v0=00\r\n\
         Content-Length: 100\r\n\r\npayload=%7B"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut conn).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_within_its_deadline_with_a_request_stuck() {
    let app = app_with("shutdown_timeout = \"1s\"\nbody_timeout = \"60s\"").await;
    let (mut slow, _never_sent) = half_sent(&app).await;
    // The request cannot finish; stop returns anyway (the test would hang
    // otherwise), and the stuck connection is closed.
    app.stop().await;
    let answer = read_to_close(&mut slow).await;
    assert!(!answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_have_a_listener_of_their_own() {
    let app = app_with("metrics_listen = \"127.0.0.1:0\"").await;
    let public = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "not on the public port");
    let own = app.metrics_addr.expect("a metrics listener");
    let text = app
        .http
        .get(format!("http://{own}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("accessbot_http_connections"), "{text}");
    let other = app
        .http
        .get(format!("http://{own}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404, "only /metrics there");
}
