//! The service under test: the built binary started against the fakes,
//! and the Slack traffic a person would cause, signed like Slack signs it.

use std::process::Stdio;
use std::time::{Duration, Instant};

use accessbot::domain::{RequestId, RequestStatus, SlackUserId};
use accessbot::edge::signature;
use accessbot::store::{DynStore, RequestFilter};
use serde_json::Value;

use crate::app::{prod_request, ALICE, ALICE_LAPTOP, BOB, SIGNING_SECRET};
use crate::fake_slack::{FakeSlack, FakeUser, OpenView, BOT_TOKEN};
use crate::fake_tailscale::{FakeDevice, FakeTailnet};
use crate::payloads::{self, FormInput};

const PROFILES: &str = r#"
[[profiles]]
attribute = "custom:prodAccess"
description = "Production"
max_duration = "8h"
approvers = ["bob@example.com"]
"#;

/// The service under test, its fakes and a way to sign what Slack would send.
pub struct Target {
    pub base: String,
    pid: u32,
    http: reqwest::Client,
    pub slack: FakeSlack,
    pub tailnet: FakeTailnet,
    store: DynStore,
}

impl Target {
    pub async fn post(&self, body: String) -> (u16, Value) {
        let (ts, sig) = sign(&body);
        let resp = self
            .http
            .post(format!("{}/slack/interactions", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .expect("the service answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub fn rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let kib: f64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS");
        kib / 1024.0
    }

    async fn open_form(&self) -> OpenView {
        let trigger = self.slack.trigger_for(ALICE);
        let (status, _) = self
            .post(form(&payloads::shortcut(ALICE, "request_access", &trigger)))
            .await;
        assert_eq!(status, 200);
        let id = wait("the form opens", || {
            let opened = self.slack.calls_to("views.open");
            opened
                .iter()
                .any(|c| c["trigger_id"] == trigger.as_str())
                .then(|| self.slack.last_view_of(ALICE).map(|v| v.id))
                .flatten()
        })
        .await;
        wait("the approvers are shown", || {
            self.slack
                .view(&id)
                .filter(|v| v.view.to_string().contains("\"approver\""))
        })
        .await
    }

    /// Shortcut, device options, submit, approve; the request's ID.
    pub async fn full_request(&self, approve: bool) -> RequestId {
        let view = self.open_form().await;
        let state = payloads::form_state(
            &view.view,
            &FormInput {
                profile: Some("custom:prodAccess".into()),
                ..Default::default()
            },
        );
        let options = payloads::block_suggestion(
            ALICE,
            payloads::view_payload(&view, state),
            "device",
            "alice",
        );
        let (_, listed) = self.post(form(&options)).await;
        assert!(
            listed.to_string().contains(ALICE_LAPTOP),
            "options: {listed}"
        );
        let state = payloads::form_state(&view.view, &prod_request());
        let submission = payloads::view_submission(ALICE, payloads::view_payload(&view, state));
        let (_, answer) = self.post(form(&submission)).await;
        assert_eq!(answer["response_action"], "update", "{answer}");
        let id = self.latest_request().await;
        if approve {
            self.approve(id).await;
        }
        id
    }

    async fn latest_request(&self) -> RequestId {
        let filter = RequestFilter {
            requester: Some(SlackUserId::parse(ALICE).unwrap()),
            limit: Some(1),
            ..Default::default()
        };
        self.store.list_requests(&filter).await.unwrap()[0].id
    }

    /// The signed body of Bob's Approve click on request `id`.
    pub async fn approve_click(&self, id: RequestId) -> String {
        let key = id.to_string();
        let dm = wait("the approver's message", || {
            self.slack
                .messages_in(BOB)
                .into_iter()
                .find(|m| m.blocks.to_string().contains(&key))
        })
        .await;
        form(&payloads::message_button(
            BOB,
            &dm.channel,
            &dm.ts,
            "approve",
            &key,
            "t.1",
        ))
    }

    async fn approve(&self, id: RequestId) {
        let click = self.approve_click(id).await;
        assert_eq!(self.post(click).await.0, 200);
    }

    pub async fn wait_until_settled(&self, ids: &[RequestId]) {
        for id in ids {
            loop {
                let r = self.store.get_request(*id).await.unwrap().unwrap();
                if r.status == RequestStatus::Active {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn form(payload: &Value) -> String {
    serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap()
}

pub fn sign(body: &str) -> (String, String) {
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = signature::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes());
    (ts, sig)
}

async fn wait<T>(what: &str, mut found: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = found() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

pub async fn start(
    binary: &str,
    devices: usize,
    dir: &std::path::Path,
) -> (Target, std::process::Child) {
    let slack = FakeSlack::start().await;
    let tailnet = FakeTailnet::start().await;
    slack.add_user(FakeUser::new(ALICE, "alice@example.com", "Alice Archer"));
    slack.add_user(FakeUser::new(BOB, "bob@example.com", "Bob Baker"));
    tailnet.add_device(FakeDevice::owned(
        ALICE_LAPTOP,
        "alice-laptop",
        "alice@example.com",
    ));
    tailnet.add_devices((1..devices).map(|i| {
        FakeDevice::owned(
            &format!("nDev{i:06}"),
            &format!("host-{i:06}"),
            &format!("user{}@example.com", i % 2000),
        )
    }));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.join("accessbot.toml");
    let db = format!("sqlite://{}", dir.join("accessbot.db").display());
    // A short device cache TTL: the 30 requests see several background
    // refreshes of the device list, as hours of real use would.
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[tailscale]\ndevice_cache_ttl = \"2s\"\n{PROFILES}"
    );
    std::fs::write(&config, toml).unwrap();
    let child = std::process::Command::new(binary)
        .arg("serve")
        .env("ACCESSBOT_CONFIG", &config)
        .env("DATABASE_URL", &db)
        .env("ACCESSBOT_SLACK_API_URL", slack.url())
        .env("ACCESSBOT_TAILSCALE_API_URL", tailnet.url())
        .env("SLACK_SIGNING_SECRET", SIGNING_SECRET)
        .env("SLACK_BOT_TOKEN", BOT_TOKEN)
        .env("TAILSCALE_API_KEY", tailnet.api_key())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_ready(&http, &base).await;
    let store = accessbot::store::connect(&db, 2).await.unwrap();
    let pid = child.id();
    (
        Target {
            base,
            pid,
            http,
            slack,
            tailnet,
            store,
        },
        child,
    )
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "the service never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
