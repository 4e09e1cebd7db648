//! The Tailscale client and device directory against the fake tailnet.

mod support;

use std::sync::Arc;
use std::time::Duration;

use accessbot::clock::{Clock, DynClock, ManualClock};
use accessbot::config::TailscaleAuth;
use accessbot::domain::{AttributeKey, AttributeValue, NodeId};
use accessbot::metrics::Metrics;
use accessbot::tailscale::{DeviceDirectory, RetryPolicy, TailscaleClient, TailscaleError};
use base64::Engine;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::{json, Value};
use support::fake_tailscale::{FakeDevice, FakeTailnet, WriteReply};

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(10),
        total_budget: Duration::from_secs(5),
    }
}

fn api_key_client(fake: &FakeTailnet) -> TailscaleClient {
    TailscaleClient::new(&fake.api_key_config(), Metrics::new())
        .unwrap()
        .with_retry_policy(fast_retries())
}

fn oauth_client(fake: &FakeTailnet, clock: DynClock) -> TailscaleClient {
    TailscaleClient::new(&fake.oauth_config(), Metrics::new())
        .unwrap()
        .with_clock(clock)
        .with_retry_policy(fast_retries())
}

fn node(id: &str) -> NodeId {
    NodeId::parse(id).unwrap()
}

fn key(k: &str) -> AttributeKey {
    AttributeKey::parse(k).unwrap()
}

/// A whole-second time, so it survives RFC 3339 with second precision.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    Utc.timestamp_opt(t.timestamp(), 0).unwrap()
}

/// Set `custom:prod = true` on device `id`, without expiry.
async fn set_prod(client: &TailscaleClient, id: &str) -> Result<(), TailscaleError> {
    client
        .set_attribute(
            &node(id),
            &key("custom:prod"),
            &AttributeValue::Bool(true),
            None,
            "x",
        )
        .await
}

async fn fake_with_alice() -> FakeTailnet {
    let fake = FakeTailnet::start().await;
    fake.add_device(FakeDevice::owned(
        "nAlice1",
        "alice-laptop",
        "alice@example.com",
    ));
    fake
}

fn manual_clock() -> (ManualClock, DynClock) {
    let clock = ManualClock::new(whole_seconds(Utc::now()));
    let dyn_clock: DynClock = Arc::new(clock.clone());
    (clock, dyn_clock)
}

// ---- auth --------------------------------------------------------------

#[tokio::test]
async fn api_key_is_sent_as_basic_with_an_empty_password_and_names_accessbot() {
    let fake = fake_with_alice().await;
    let devices = api_key_client(&fake).list_devices().await.unwrap();
    assert_eq!(devices.len(), 1);
    let req = &fake.requests()[0];
    assert_eq!(req.path, "/api/v2/tailnet/-/devices");
    let auth = req.authorization.as_deref().unwrap();
    let encoded = auth.strip_prefix("Basic ").expect("Basic auth");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        format!("{}:", fake.api_key())
    );
    assert_eq!(
        req.user_agent.as_deref(),
        Some(concat!("accessbot/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn oauth_token_is_fetched_once_and_reused() {
    let fake = fake_with_alice().await;
    let (_, clock) = manual_clock();
    let client = oauth_client(&fake, clock);
    for _ in 0..3 {
        client.get_attributes(&node("nAlice1")).await.unwrap();
    }
    assert_eq!(fake.tokens_issued(), 1);
    let token_req = &fake.requests()[0];
    assert_eq!(token_req.path, "/api/v2/oauth/token");
    assert!(
        token_req.body.contains("grant_type=client_credentials"),
        "{}",
        token_req.body
    );
    assert!(token_req
        .body
        .contains(&format!("client_id={}", fake.oauth_client().0)));
    let api_calls: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/attributes"))
        .collect();
    assert_eq!(api_calls.len(), 3);
    assert!(api_calls
        .iter()
        .all(|r| r.auth_scheme() == Some("Bearer") && r.status == Some(200)));
}

#[tokio::test]
async fn oauth_token_is_refreshed_before_it_expires() {
    let (clock, dyn_clock) = manual_clock();
    let fake = FakeTailnet::start_with_clock(dyn_clock.clone()).await;
    fake.add_device(FakeDevice::owned(
        "nAlice1",
        "alice-laptop",
        "alice@example.com",
    ));
    let client = oauth_client(&fake, dyn_clock);
    client.get_device(&node("nAlice1")).await.unwrap();
    // 4 minutes before the hour is inside the 5-minute margin.
    clock.advance(Duration::from_secs(56 * 60));
    client.get_device(&node("nAlice1")).await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    assert!(fake.requests().iter().all(|r| r.status != Some(401)));
}

#[tokio::test]
async fn an_expired_token_is_replaced_once_for_twenty_concurrent_calls() {
    let (clock, dyn_clock) = manual_clock();
    let fake = FakeTailnet::start_with_clock(dyn_clock.clone()).await;
    fake.add_device(FakeDevice::owned(
        "nAlice1",
        "alice-laptop",
        "alice@example.com",
    ));
    let client = oauth_client(&fake, dyn_clock);
    client.get_attributes(&node("nAlice1")).await.unwrap();
    assert_eq!(fake.tokens_issued(), 1);
    clock.advance(Duration::from_secs(2 * 3600));

    let calls = (0..20).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.get_attributes(&node("nAlice1")).await })
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap().unwrap();
    }
    assert_eq!(fake.tokens_issued(), 2);
    assert_eq!(fake.count("POST", "/oauth/token"), 2);
}

#[tokio::test]
async fn a_401_gets_one_fresh_token_and_the_call_succeeds() {
    let fake = fake_with_alice().await;
    let (_, clock) = manual_clock();
    let client = oauth_client(&fake, clock);
    client.get_attributes(&node("nAlice1")).await.unwrap();
    fake.revoke_tokens();
    client.get_attributes(&node("nAlice1")).await.unwrap();
    assert_eq!(fake.tokens_issued(), 2);
    let statuses: Vec<_> = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/attributes"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(200), Some(401), Some(200)]);
}

#[tokio::test]
async fn a_persistent_401_is_permanent_after_one_refresh() {
    let fake = fake_with_alice().await;
    let (_, clock) = manual_clock();
    let client = oauth_client(&fake, clock);
    fake.fail_next("GET", "/attributes", 5, 401, None);
    let err = client.get_attributes(&node("nAlice1")).await.unwrap_err();
    assert!(
        matches!(err, TailscaleError::Unauthorized { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    assert_eq!(fake.count("GET", "/attributes"), 2);
    assert_eq!(fake.tokens_issued(), 2);
}

#[tokio::test]
async fn wrong_credentials_are_unauthorized_and_not_retried() {
    let fake = fake_with_alice().await;
    let mut config = fake.api_key_config();
    config.auth = Some(TailscaleAuth::ApiKey("tskey-api-wrong".to_owned().into()));
    let client = TailscaleClient::new(&config, Metrics::new())
        .unwrap()
        .with_retry_policy(fast_retries());
    let err = client.list_devices().await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.to_string().contains("TAILSCALE_API_KEY"), "{err}");
    assert_eq!(fake.count("GET", "/devices"), 1);

    let mut config = fake.oauth_config();
    config.auth = Some(TailscaleAuth::OAuth {
        client_id: fake.oauth_client().0,
        client_secret: "wrong".to_owned().into(),
    });
    let client = TailscaleClient::new(&config, Metrics::new())
        .unwrap()
        .with_retry_policy(fast_retries());
    let err = client.list_devices().await.unwrap_err();
    assert!(
        matches!(err, TailscaleError::Unauthorized { .. }),
        "{err:?}"
    );
    assert_eq!(fake.count("POST", "/oauth/token"), 1);
    assert_eq!(fake.tokens_issued(), 0);
}

// ---- errors and retries ------------------------------------------------

#[tokio::test]
async fn retries_a_503_then_succeeds() {
    let fake = fake_with_alice().await;
    fake.fail_next("GET", "/attributes", 2, 503, None);
    let client = api_key_client(&fake);
    client.get_attributes(&node("nAlice1")).await.unwrap();
    assert_eq!(fake.count("GET", "/attributes"), 3);
}

#[tokio::test]
async fn retries_a_429_after_its_retry_after_then_succeeds() {
    let fake = fake_with_alice().await;
    fake.fail_next("POST", "/attributes/", 1, 429, Some(Duration::from_secs(1)));
    let client = api_key_client(&fake);
    client
        .set_attribute(
            &node("nAlice1"),
            &key("custom:prod"),
            &AttributeValue::Bool(true),
            None,
            "hi",
        )
        .await
        .unwrap();
    let statuses: Vec<_> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [Some(429), Some(200)]);
    assert!(fake.attribute("nAlice1", "custom:prod").is_some());
}

#[tokio::test]
async fn gives_up_after_the_attempt_bound_with_a_transient_error() {
    let fake = fake_with_alice().await;
    fake.fail_next("GET", "/devices", 100, 503, None);
    let err = api_key_client(&fake).list_devices().await.unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.status(), Some(503));
    assert_eq!(fake.count("GET", "/devices"), 4);
}

#[tokio::test]
async fn a_retry_after_beyond_the_budget_is_left_to_the_job_queue() {
    let fake = fake_with_alice().await;
    fake.fail_next(
        "DELETE",
        "/attributes/",
        1,
        429,
        Some(Duration::from_secs(60)),
    );
    let err = api_key_client(&fake)
        .delete_attribute(&node("nAlice1"), &key("custom:prod"))
        .await
        .unwrap_err();
    assert!(err.is_transient());
    assert_eq!(err.retry_after(), Some(Duration::from_secs(60)));
    assert_eq!(fake.count("DELETE", "/attributes/"), 1);
}

#[tokio::test]
async fn a_400_carries_tailscales_message_and_is_not_retried() {
    let fake = fake_with_alice().await;
    let past = Utc::now() - chrono::Duration::hours(1);
    let err = api_key_client(&fake)
        .set_attribute(
            &node("nAlice1"),
            &key("custom:prod"),
            &AttributeValue::Bool(true),
            Some(past),
            "x",
        )
        .await
        .unwrap_err();
    assert!(matches!(err, TailscaleError::BadRequest { .. }), "{err:?}");
    assert!(err.to_string().contains("must be in the future"), "{err}");
    assert!(!err.is_transient());
    assert_eq!(fake.count("POST", "/attributes/"), 1);
}

#[tokio::test]
async fn a_403_names_the_scopes_needed() {
    let fake = fake_with_alice().await;
    fake.set_oauth_scopes(&["devices:core:read"]);
    let (_, clock) = manual_clock();
    let client = oauth_client(&fake, clock);
    assert!(client.get_device(&node("nAlice1")).await.unwrap().is_some());
    let err = client
        .set_attribute(
            &node("nAlice1"),
            &key("custom:prod"),
            &AttributeValue::Bool(true),
            None,
            "x",
        )
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(
        text.contains("devices:core:read") && text.contains("devices:posture_attributes"),
        "{text}"
    );
    assert_eq!(fake.count("POST", "/attributes/"), 1);
}

#[tokio::test]
async fn an_unknown_device_is_none_or_not_found() {
    let fake = fake_with_alice().await;
    let client = api_key_client(&fake);
    assert_eq!(client.get_device(&node("nGone1")).await.unwrap(), None);
    let err = set_prod(&client, "nGone1").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    assert!(!err.is_transient());
    assert_eq!(fake.count("POST", "/attributes/"), 1);
}

#[tokio::test]
async fn a_slow_answer_is_a_transient_timeout() {
    let fake = fake_with_alice().await;
    fake.set_latency(Duration::from_secs(2));
    let mut config = fake.api_key_config();
    config.request_timeout = Duration::from_millis(100);
    let client = TailscaleClient::new(&config, Metrics::new())
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_attempts: 2,
            ..fast_retries()
        });
    let err = client.get_device(&node("nAlice1")).await.unwrap_err();
    assert!(matches!(err, TailscaleError::Timeout(_)), "{err:?}");
    assert!(err.is_transient());
    assert_eq!(fake.count("GET", "/device/"), 2);
}

#[tokio::test]
async fn an_unreachable_api_is_a_transient_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let fake = FakeTailnet::start().await;
    let mut config = fake.api_key_config();
    config.api_url = format!("http://{addr}").parse().unwrap();
    let client = TailscaleClient::new(&config, Metrics::new())
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_attempts: 2,
            ..fast_retries()
        });
    let err = client.list_devices().await.unwrap_err();
    assert!(matches!(err, TailscaleError::Transport(_)), "{err:?}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn every_call_is_measured() {
    let fake = fake_with_alice().await;
    fake.fail_next("GET", "/attributes", 1, 503, None);
    let metrics = Metrics::new();
    let client = TailscaleClient::new(&fake.api_key_config(), metrics.clone())
        .unwrap()
        .with_retry_policy(fast_retries());
    client.get_attributes(&node("nAlice1")).await.unwrap();
    let text = metrics.render();
    for series in [
        r#"accessbot_tailscale_api_duration_seconds_count{operation="get_attributes",status="503"} 1"#,
        r#"accessbot_tailscale_api_duration_seconds_count{operation="get_attributes",status="ok"} 1"#,
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
}

// ---- attributes --------------------------------------------------------

#[tokio::test]
async fn set_then_get_shows_value_and_expiry_and_delete_removes_it() {
    let (clock, dyn_clock) = manual_clock();
    let fake = FakeTailnet::start_with_clock(dyn_clock).await;
    fake.add_device(FakeDevice::owned(
        "nAlice1",
        "alice-laptop",
        "alice@example.com",
    ));
    let client = api_key_client(&fake);
    let (n, k) = (node("nAlice1"), key("custom:prodAccess"));
    let until = whole_seconds(clock.now()) + chrono::Duration::hours(2);

    client
        .set_attribute(
            &n,
            &k,
            &AttributeValue::Bool(true),
            Some(until),
            "alice approved by bob: deploy",
        )
        .await
        .unwrap();
    let post = fake.requests().pop().unwrap();
    assert_eq!(
        post.path,
        "/api/v2/device/nAlice1/attributes/custom:prodAccess"
    );
    assert_eq!(
        post.json,
        Some(json!({
            "value": true,
            "expiry": until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "comment": "alice approved by bob: deploy",
        }))
    );
    assert_eq!(post.content_type.as_deref(), Some("application/json"));

    let attrs = client.get_attributes(&n).await.unwrap();
    assert_eq!(attrs.value(&k), Some(AttributeValue::Bool(true)));
    assert_eq!(attrs.expiry(&k), Some(until));
    assert_eq!(attrs.attributes.get("node:os"), Some(&json!("linux")));
    assert_eq!(
        fake.attribute("nAlice1", "custom:prodAccess")
            .unwrap()
            .comment,
        "alice approved by bob: deploy"
    );

    client.delete_attribute(&n, &k).await.unwrap();
    let attrs = client.get_attributes(&n).await.unwrap();
    assert_eq!(attrs.get(&k), None);
    assert_eq!(attrs.expiry(&k), None);
    assert!(fake.attributes("nAlice1").is_empty());
}

#[tokio::test]
async fn integer_and_string_values_and_no_expiry_round_trip() {
    let fake = fake_with_alice().await;
    let client = api_key_client(&fake);
    let n = node("nAlice1");
    let int = AttributeValue::int(9_007_199_254_740_991).unwrap();
    let string = AttributeValue::string("tier_1.b").unwrap();
    client
        .set_attribute(&n, &key("custom:level"), &int, None, "")
        .await
        .unwrap();
    client
        .set_attribute(&n, &key("custom:tier"), &string, None, "")
        .await
        .unwrap();
    assert_eq!(
        fake.requests()[0].json.as_ref().unwrap().get("expiry"),
        None
    );
    let attrs = client.get_attributes(&n).await.unwrap();
    assert_eq!(attrs.value(&key("custom:level")), Some(int));
    assert_eq!(attrs.value(&key("custom:tier")), Some(string));
    // No attribute expires: Tailscale may leave `expiries` out.
    assert!(attrs.expiries.is_empty());
}

#[tokio::test]
async fn any_2xx_from_a_write_is_success_whatever_the_body() {
    let fake = fake_with_alice().await;
    let client = api_key_client(&fake);
    for reply in [
        WriteReply::EmptyObject,
        WriteReply::Null,
        WriteReply::Empty,
        WriteReply::Attributes,
    ] {
        fake.set_write_reply(reply);
        client
            .set_attribute(
                &node("nAlice1"),
                &key("custom:prod"),
                &AttributeValue::Bool(true),
                None,
                "x",
            )
            .await
            .unwrap_or_else(|e| panic!("{reply:?}: {e}"));
        client
            .delete_attribute(&node("nAlice1"), &key("custom:prod"))
            .await
            .unwrap_or_else(|e| panic!("{reply:?}: {e}"));
    }
    assert_eq!(fake.count("POST", "/attributes/"), 4);
}

#[tokio::test]
async fn long_comments_are_cut_to_200_bytes() {
    let fake = fake_with_alice().await;
    // "ü" is two bytes: 100 of them fill the 200.
    let comment = "ü".repeat(150) + &"x".repeat(150);
    api_key_client(&fake)
        .set_attribute(
            &node("nAlice1"),
            &key("custom:prod"),
            &AttributeValue::Bool(true),
            None,
            &comment,
        )
        .await
        .unwrap();
    let stored = fake.attribute("nAlice1", "custom:prod").unwrap().comment;
    assert_eq!((stored.len(), stored.chars().count()), (200, 100));
    assert!(comment.starts_with(&stored));
}

#[tokio::test]
async fn attributes_expire_by_the_fakes_clock() {
    let (clock, dyn_clock) = manual_clock();
    let fake = FakeTailnet::start_with_clock(dyn_clock).await;
    fake.add_device(FakeDevice::owned(
        "nAlice1",
        "alice-laptop",
        "alice@example.com",
    ));
    let client = api_key_client(&fake);
    let until = clock.now() + chrono::Duration::minutes(10);
    client
        .set_attribute(
            &node("nAlice1"),
            &key("custom:prod"),
            &AttributeValue::Bool(true),
            Some(until),
            "x",
        )
        .await
        .unwrap();
    assert!(fake.attribute("nAlice1", "custom:prod").is_some());
    clock.advance(Duration::from_secs(11 * 60));
    let attrs = client.get_attributes(&node("nAlice1")).await.unwrap();
    assert_eq!(attrs.get(&key("custom:prod")), None);
    assert!(fake.attributes("nAlice1").is_empty());
}

// ---- the fake's own rules (raw HTTP, bypassing the client's types) -----

async fn raw_post(fake: &FakeTailnet, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", fake.url()))
        .basic_auth(fake.api_key(), Some(""))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_fake_enforces_key_value_expiry_and_comment_rules() {
    let fake = fake_with_alice().await;
    let future = (Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let at = |k: &str| format!("/api/v2/device/nAlice1/attributes/{k}");
    let long_key = format!("custom:{}", "a".repeat(44));
    let cases: Vec<(String, Value)> = vec![
        (at("prod"), json!({ "value": true })),
        (at("custom:"), json!({ "value": true })),
        (at("node:os"), json!({ "value": true })),
        (at(&long_key), json!({ "value": true })),
        (at("custom:prod-access"), json!({ "value": true })),
        (at("custom:prod"), json!({})),
        (at("custom:prod"), json!({ "value": 1.5 })),
        (
            at("custom:prod"),
            json!({ "value": 9_007_199_254_740_992_i64 }),
        ),
        (at("custom:prod"), json!({ "value": "a".repeat(51) })),
        (at("custom:prod"), json!({ "value": "a b" })),
        (at("custom:prod"), json!({ "value": null })),
        (at("custom:prod"), json!({ "value": [true] })),
        (
            at("custom:prod"),
            json!({ "value": true, "expiry": "tomorrow" }),
        ),
        (
            at("custom:prod"),
            json!({ "value": true, "expiry": "2001-01-01T00:00:00Z" }),
        ),
        (
            at("custom:prod"),
            json!({ "value": true, "expiry": future, "comment": "c".repeat(201) }),
        ),
        // 101 characters, 202 bytes: the limit counts bytes.
        (
            at("custom:prod"),
            json!({ "value": true, "expiry": future, "comment": "é".repeat(101) }),
        ),
    ];
    for (path, body) in cases {
        let (status, answer) = raw_post(&fake, &path, body.clone()).await;
        assert_eq!(status, 400, "{path} {body} → {answer}");
        assert!(
            answer["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{answer}"
        );
    }
    assert!(fake.attributes("nAlice1").is_empty());

    let ok_key = format!("custom:{}", "a".repeat(43));
    for (path, body) in [
        (at(&ok_key), json!({ "value": true })),
        (
            at("custom:n"),
            json!({ "value": -9_007_199_254_740_991_i64 }),
        ),
        (
            at("custom:s"),
            json!({ "value": "a".repeat(50), "expiry": future, "comment": "c".repeat(200) }),
        ),
    ] {
        let (status, answer) = raw_post(&fake, &path, body.clone()).await;
        assert_eq!(status, 200, "{path} {body} → {answer}");
    }
    assert_eq!(fake.attributes("nAlice1").len(), 3);

    let (status, answer) = raw_post(
        &fake,
        "/api/v2/device/nNobody/attributes/custom:prod",
        json!({"value": true}),
    )
    .await;
    assert_eq!((status, answer["message"].is_string()), (404, true));
}

#[tokio::test]
async fn the_fake_keeps_one_value_type_and_one_spelling_per_key() {
    let fake = fake_with_alice().await;
    fake.add_device(FakeDevice::owned("nBob1", "bob-laptop", "bob@example.com"));
    let (status, _) = raw_post(
        &fake,
        "/api/v2/device/nAlice1/attributes/custom:level",
        json!({"value": 3}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, answer) = raw_post(
        &fake,
        "/api/v2/device/nBob1/attributes/custom:level",
        json!({"value": "3"}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = raw_post(
        &fake,
        "/api/v2/device/nBob1/attributes/custom:LEVEL",
        json!({"value": 4}),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = raw_post(
        &fake,
        "/api/v2/device/nBob1/attributes/custom:level",
        json!({"value": 4}),
    )
    .await;
    assert_eq!(status, 200);

    // Through the client the type conflict is a permanent 400 with the fake's message.
    let err = api_key_client(&fake)
        .set_attribute(
            &node("nBob1"),
            &key("custom:level"),
            &AttributeValue::Bool(true),
            None,
            "x",
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, TailscaleError::BadRequest { ref message } if message.contains("number")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_fake_requires_auth() {
    let (clock, dyn_clock) = manual_clock();
    let fake = FakeTailnet::start_with_clock(dyn_clock).await;
    let http = reqwest::Client::new();
    let url = format!("{}/api/v2/tailnet/-/devices", fake.url());
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(status(http.get(&url).send().await.unwrap()), 401);
    assert_eq!(
        status(
            http.get(&url)
                .basic_auth("tskey-api-nope", Some(""))
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            http.get(&url)
                .basic_auth(fake.api_key(), Some("pw"))
                .send()
                .await
                .unwrap()
        ),
        401
    );
    assert_eq!(
        status(
            http.get(&url)
                .basic_auth(fake.api_key(), Some(""))
                .send()
                .await
                .unwrap()
        ),
        200
    );
    assert_eq!(
        status(
            http.get(&url)
                .bearer_auth(fake.api_key())
                .send()
                .await
                .unwrap()
        ),
        200
    );

    let (id, secret) = fake.oauth_client();
    let token: Value = http
        .post(format!("{}/api/v2/oauth/token", fake.url()))
        .form(&[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("grant_type", "client_credentials"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["expires_in"], 3600);
    let access = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        status(http.get(&url).bearer_auth(&access).send().await.unwrap()),
        200
    );
    clock.advance(Duration::from_secs(3601));
    assert_eq!(
        status(http.get(&url).bearer_auth(&access).send().await.unwrap()),
        401
    );
}

// ---- devices -----------------------------------------------------------

#[tokio::test]
async fn devices_shared_in_from_other_tailnets_are_left_out() {
    let fake = fake_with_alice().await;
    fake.add_device(FakeDevice::owned("nShared1", "guest-box", "alice@example.com").shared_in());
    let client = api_key_client(&fake);
    let listed: Vec<String> = client
        .list_devices()
        .await
        .unwrap()
        .iter()
        .map(|d| d.node_id.to_string())
        .collect();
    assert_eq!(listed, ["nAlice1"]);
    assert_eq!(client.get_device(&node("nShared1")).await.unwrap(), None);
    // The fake refuses what Tailscale refuses: this tailnet cannot set them.
    let refused = set_prod(&client, "nShared1").await.unwrap_err();
    assert!(refused.to_string().contains("403"), "{refused}");
}

#[tokio::test]
async fn odd_device_objects_are_read_tolerantly() {
    let fake = FakeTailnet::start().await;
    fake.add_devices([
        FakeDevice::owned("nExt1", "shared-in", "carol@other.example")
            .created_empty()
            .never_seen()
            .with_field("someFutureField", json!({"nested": [1, 2]})),
        FakeDevice::tagged_server("nSrv1", "db-1", &["tag:prod", "tag:db"])
            .without_field("addresses"),
        FakeDevice::owned("nBroken", "broken", "x@example.com")
            .without_field("nodeId")
            .legacy_id(""),
    ]);
    let client = api_key_client(&fake);
    let devices = client.list_devices().await.unwrap();
    assert_eq!(devices.len(), 2, "{devices:?}");
    let ext = devices
        .iter()
        .find(|d| d.node_id.as_str() == "nExt1")
        .unwrap();
    assert_eq!((ext.created, ext.last_seen), (None, None));
    assert!(ext.tags.is_empty());
    let srv = devices
        .iter()
        .find(|d| d.node_id.as_str() == "nSrv1")
        .unwrap();
    assert_eq!(srv.tags, ["tag:prod", "tag:db"]);
    assert!(srv.addresses.is_empty());

    // The legacy numeric ID also names a device.
    let legacy = fake
        .devices()
        .into_iter()
        .find(|d| d.node_id == "nExt1")
        .unwrap()
        .id;
    let d = client.get_device(&node(&legacy)).await.unwrap().unwrap();
    assert_eq!(d.node_id.as_str(), "nExt1");
}

const WORDS: [&str; 8] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
];

/// 10,000 devices: 500 owners, every 10th tagged, every 13th never seen.
fn generated_tailnet(n: usize, base: DateTime<Utc>) -> Vec<FakeDevice> {
    (0..n)
        .map(|i| {
            let host = format!("{}-{i:05}", WORDS[i % WORDS.len()]);
            let ip = format!("100.64.{}.{}", i / 256, i % 256);
            let mut d = FakeDevice::owned(
                &format!("n{i:05}CNTRL"),
                &host,
                &format!("user{}@example.com", i % 500),
            )
            .addresses(&[&ip])
            .last_seen(base - chrono::Duration::minutes(i as i64));
            if i % 10 == 3 {
                d = d.tagged(&["tag:server"]);
            }
            if i % 13 == 5 {
                d = d.never_seen();
            }
            d
        })
        .collect()
}

#[tokio::test]
async fn directory_ranks_and_queries_a_10000_device_tailnet() {
    let fake = FakeTailnet::start().await;
    let base = whole_seconds(Utc::now());
    let generated = generated_tailnet(10_000, base);
    fake.add_devices(generated.clone());
    let (_, clock) = manual_clock();
    let directory = DeviceDirectory::new(api_key_client(&fake), Duration::from_secs(60), clock);
    let index = directory.index().await.unwrap();
    assert_eq!(index.len(), 10_000);

    // Owner lookup: untagged, case-insensitive, recently seen first, never seen last.
    let mut expected: Vec<&FakeDevice> = generated
        .iter()
        .filter(|d| d.user == "user7@example.com" && d.tags.is_empty())
        .collect();
    expected.sort_by(|a, b| match (a.last_seen, b.last_seen) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.hostname.cmp(&b.hostname),
    });
    let got: Vec<&str> = index
        .owned_by("User7@EXAMPLE.com")
        .iter()
        .map(|d| d.node_id.as_str())
        .collect();
    let want: Vec<&str> = expected.iter().map(|d| d.node_id.as_str()).collect();
    assert_eq!(got, want);
    assert!(want.len() > 10 && expected.last().unwrap().last_seen.is_none());
    assert!(index.owned_by("nobody@example.com").is_empty());

    // A 3-letter query matches inside host names.
    let lph = index.search("LPH");
    assert_eq!(
        lph.len(),
        generated
            .iter()
            .filter(|d| d.hostname.contains("lph"))
            .count()
    );
    assert!(lph.iter().all(|d| d.hostname.starts_with("alpha-")));
    // Exact host name first.
    assert_eq!(
        index.search("echo-00004")[0].node_id.as_str(),
        "n00004CNTRL"
    );
    // IP prefix, node ID prefix.
    let subnet = index.search("100.64.1.");
    assert_eq!(subnet.len(), 256);
    assert!(subnet
        .iter()
        .all(|d| d.addresses[0].starts_with("100.64.1.")));
    let ids: Vec<&str> = index
        .search("n0012")
        .iter()
        .map(|d| d.node_id.as_str())
        .collect();
    assert_eq!(ids.len(), 10);
    assert!(ids.iter().all(|id| id.starts_with("n0012")));
    assert_eq!(index.search("").len(), 10_000);
    assert!(index.search("zulu").is_empty());
}

#[tokio::test]
async fn the_first_index_waits_for_one_fetch_however_many_ask() {
    let fake = fake_with_alice().await;
    let (_, clock) = manual_clock();
    let directory = DeviceDirectory::new(api_key_client(&fake), Duration::from_secs(60), clock);
    let hold = fake.hold("GET", "/devices");
    let lookups: Vec<_> = (0..5)
        .map(|_| {
            let directory = directory.clone();
            tokio::spawn(async move { directory.index().await.map(|i| i.len()) })
        })
        .collect();
    fake.wait_until("the device list is requested", |_| hold.waiting() == 1)
        .await;
    hold.release();
    for lookup in lookups {
        assert_eq!(lookup.await.unwrap().unwrap(), 1);
    }
    assert_eq!(fake.count("GET", "/devices"), 1);
}

#[tokio::test]
async fn a_caller_giving_up_does_not_abandon_the_first_fetch() {
    let fake = fake_with_alice().await;
    let (_, clock) = manual_clock();
    let directory = DeviceDirectory::new(api_key_client(&fake), Duration::from_secs(60), clock);
    let hold = fake.hold("GET", "/devices");
    // The list is held at the fake, so this caller's budget always runs out.
    let gave_up = tokio::time::timeout(Duration::from_millis(20), directory.index()).await;
    assert!(gave_up.is_err());
    hold.release();
    fake.wait_until("the device list was answered", |f| {
        f.requests()
            .iter()
            .any(|r| r.path.ends_with("/devices") && r.status == Some(200))
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        // Served from memory once the abandoned fetch has landed.
        let index = directory.index().await.unwrap();
        if index.len() == 1 && fake.count("GET", "/devices") == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the fetch was abandoned"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn a_stale_index_is_served_at_once_while_one_refresh_runs() {
    let fake = fake_with_alice().await;
    let (clock, dyn_clock) = manual_clock();
    let directory = DeviceDirectory::new(api_key_client(&fake), Duration::from_secs(60), dyn_clock);
    assert_eq!(directory.index().await.unwrap().len(), 1);
    fake.add_device(FakeDevice::owned("nBob1", "bob-laptop", "bob@example.com"));

    // Within the TTL: memory only.
    assert_eq!(directory.index().await.unwrap().len(), 1);
    assert_eq!(fake.count("GET", "/devices"), 1);

    clock.advance(Duration::from_secs(61));
    let hold = fake.hold("GET", "/devices");
    for _ in 0..10 {
        // Answered while the refresh is held at the fake: nobody waits for it.
        assert_eq!(directory.index().await.unwrap().len(), 1);
    }
    fake.wait_until("the refresh is requested", |_| hold.waiting() == 1)
        .await;
    assert_eq!(fake.count("GET", "/devices"), 2);
    hold.release();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while directory.index().await.unwrap().len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "refresh never landed"
        );
        tokio::task::yield_now().await;
    }
    assert_eq!(fake.count("GET", "/devices"), 2);
    assert!(
        directory
            .index()
            .await
            .unwrap()
            .owned_by("bob@example.com")
            .len()
            == 1
    );
}

#[tokio::test]
async fn a_failed_refresh_keeps_serving_the_previous_list() {
    let fake = fake_with_alice().await;
    let (clock, dyn_clock) = manual_clock();
    let client = api_key_client(&fake).with_retry_policy(RetryPolicy::none());
    let directory = DeviceDirectory::new(client, Duration::from_secs(60), dyn_clock);
    directory.index().await.unwrap();
    fake.fail_next("GET", "/devices", 1, 503, None);
    clock.advance(Duration::from_secs(61));
    assert_eq!(directory.index().await.unwrap().len(), 1);
    fake.wait_until("the refresh failed", |f| {
        f.requests().iter().any(|r| r.status == Some(503))
    })
    .await;
    assert_eq!(directory.index().await.unwrap().len(), 1);
}

#[tokio::test]
async fn find_trusts_a_fresh_index_and_asks_tailscale_otherwise() {
    let fake = fake_with_alice().await;
    let (clock, dyn_clock) = manual_clock();
    let directory = DeviceDirectory::new(api_key_client(&fake), Duration::from_secs(60), dyn_clock);
    directory.index().await.unwrap();

    // A fresh hit: no call.
    let alice = directory.find(&node("nAlice1")).await.unwrap().unwrap();
    assert_eq!(alice.user, "alice@example.com");
    assert_eq!(fake.count("GET", "/api/v2/device/"), 0);

    // A miss: asked for that device.
    fake.add_device(FakeDevice::owned(
        "nNew1",
        "new-laptop",
        "alice@example.com",
    ));
    assert!(directory.find(&node("nNew1")).await.unwrap().is_some());
    assert_eq!(fake.count("GET", "/api/v2/device/nNew1"), 1);
    assert_eq!(directory.find(&node("nNope1")).await.unwrap(), None);

    // A stale hit: asked again, and the answer wins.
    fake.update_device("nAlice1", |d| d.tags = vec!["tag:server".into()]);
    clock.advance(Duration::from_secs(61));
    let alice = directory.find(&node("nAlice1")).await.unwrap().unwrap();
    assert_eq!(alice.tags, ["tag:server"]);
    fake.remove_device("nAlice1");
    assert_eq!(directory.find(&node("nAlice1")).await.unwrap(), None);
}
