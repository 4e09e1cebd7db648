//! `spawn_app()`: a running accessbot per test — the real router, worker
//! and store on a fresh database — wired to a fake Slack and a fake
//! tailnet through the config's `api_url` keys, with a clock the test
//! moves. Requests are signed like Slack signs them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use accessbot::clock::Clock;
use accessbot::clock::ManualClock;
use accessbot::config::{Config, Env};
use accessbot::domain::{AccessRequest, RequestId, SlackUserId};
use accessbot::edge::signature;
use accessbot::startup::Application;
use accessbot::state::AppState;
use accessbot::store::RequestFilter;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::db::{Backend, TestDb};
use super::fake_slack::{self, FakeSlack, FakeUser, Message, OpenView};
use super::fake_socket::FakeSocketMode;
use super::fake_tailscale::{FakeDevice, FakeTailnet};
use super::payloads::{self, FormInput};

pub const SIGNING_SECRET: &str = "test-signing-secret-0123456789abcdef";

pub const ALICE: &str = "U0ALICE01";
pub const BOB: &str = "U0BOB0001";
pub const CAROL: &str = "U0CAROL01";
pub const DAVE: &str = "U0DAVE001";
pub const MALLORY: &str = "U0MALLORY";

pub const ALICE_LAPTOP: &str = "nAliceLaptop1";
pub const ALICE_PHONE: &str = "nAlicePhone1";
pub const BOB_LAPTOP: &str = "nBobLaptop1";
pub const PROD_DB: &str = "nProdDb1";

pub const PROD: &str = "custom:prodAccess";
pub const STAGING: &str = "custom:stagingAccess";
pub const DB: &str = "custom:dbAccess";
pub const PROD_CHANNEL: &str = "C0PRODNOTE";
pub const SRE_GROUP: &str = "S0SRE0001";

/// The profiles most tests run with:
/// - prod: approved by bob (by e-mail) or the `@sre` group, own devices,
///   announced in a channel;
/// - staging: anyone approves, self-approval without confirmation, own and
///   tagged devices;
/// - db: `@sre` approves, self-approval with confirmation, any device, a
///   string value.
pub const PROFILES: &str = r#"
[[profiles]]
attribute = "custom:prodAccess"
description = "Production"
max_duration = "8h"
approvers = ["bob@example.com", "@sre"]
notify_channel = "C0PRODNOTE"

[[profiles]]
attribute = "custom:stagingAccess"
description = "Staging"
max_duration = "7d"
approvers = []
can_self_approve = true
devices = "own_and_tagged"

[[profiles]]
attribute = "custom:dbAccess"
description = "Database"
max_duration = "4h"
approvers = ["@sre"]
can_self_approve = true
confirm_self_approval = true
devices = "any"
value = "readonly"
"#;

struct MapEnv(Vec<(String, String)>);

impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

/// How to build a test app.
#[derive(Clone)]
pub struct AppOptions {
    pub backend: Backend,
    pub profiles: String,
    /// Extra TOML for `[requests]` / `[worker]`.
    pub requests: String,
    /// Extra TOML for `[worker]`.
    pub worker_toml: String,
    pub worker: bool,
    /// Receive Slack's payloads over (fake) Socket Mode instead of HTTP.
    pub socket_mode: bool,
    /// How far in the past the app's clock starts (default: now). Moving a
    /// running app's clock backwards races the worker's sweeps, which may
    /// have read the time just before; start in the past instead.
    pub clock_behind: chrono::Duration,
    /// Changes to the fake workspace before the app starts (and warms its
    /// people directory from it).
    pub slack_setup: Option<fn(&FakeSlack)>,
    /// Wait for the people directory's first round before the test goes on
    /// (default), so forms open with every approver's name.
    pub wait_for_people: bool,
    /// Extra TOML for `[server]` (limits, `metrics_listen`).
    pub server: String,
    /// Socket Mode's ping interval and silence timeout (Slack's 30 s and
    /// 60 s by default; not in the config file).
    pub socket_timing: Option<(Duration, Duration)>,
}

impl AppOptions {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            profiles: PROFILES.into(),
            requests: "pending_timeout = \"24h\"\nremind_after = \"1h\"".into(),
            worker_toml: String::new(),
            worker: true,
            socket_mode: false,
            clock_behind: chrono::Duration::zero(),
            slack_setup: None,
            wait_for_people: true,
            server: String::new(),
            socket_timing: None,
        }
    }

    /// Change the fake workspace before the app starts.
    pub fn slack_setup(mut self, setup: fn(&FakeSlack)) -> Self {
        self.slack_setup = Some(setup);
        self
    }

    /// Do not wait for the people directory to warm up.
    pub fn cold_people(mut self) -> Self {
        self.wait_for_people = false;
        self
    }

    /// Extra `[server]` keys.
    pub fn server(mut self, toml: &str) -> Self {
        self.server = toml.into();
        self
    }

    /// Socket Mode pings every `ping` and gives up after `silence`.
    pub fn socket_timing(mut self, ping: Duration, silence: Duration) -> Self {
        self.socket_timing = Some((ping, silence));
        self
    }

    /// Start the clock `by` before the real time.
    pub fn clock_behind(mut self, by: chrono::Duration) -> Self {
        self.clock_behind = by;
        self
    }

    pub fn socket_mode(mut self, on: bool) -> Self {
        self.socket_mode = on;
        self
    }

    pub fn profiles(mut self, toml: &str) -> Self {
        self.profiles = toml.into();
        self
    }

    pub fn requests(mut self, toml: &str) -> Self {
        self.requests = toml.into();
        self
    }

    /// Extra `[worker]` settings, e.g. `missing_attribute = "reapply"`.
    pub fn worker_settings(mut self, toml: &str) -> Self {
        self.worker_toml = toml.into();
        self
    }

    pub fn worker(mut self, on: bool) -> Self {
        self.worker = on;
        self
    }

    /// A new app with fresh fakes and a fresh database; `None` when the
    /// backend is Postgres and none is available (and not required).
    /// Tests use [`spawn_app!`], which skips the test then.
    pub async fn spawn(self) -> Option<TestApp> {
        let db = Arc::new(TestDb::new(self.backend).await?);
        let clock = ManualClock::new((Utc::now() - self.clock_behind).trunc_subsecs(3));
        let slack = FakeSlack::start().await;
        let socket = match self.socket_mode {
            true => Some(FakeSocketMode::start(&slack).await),
            false => None,
        };
        let tailnet = FakeTailnet::start_with_clock(Arc::new(clock.clone())).await;
        populate(&slack, &tailnet, clock.now());
        if let Some(setup) = self.slack_setup {
            setup(&slack);
        }
        let mut app = TestApp::start(self, db, slack, tailnet, clock).await;
        app.socket = socket;
        Some(app)
    }
}

/// `spawn_app!(options)`: the [`TestApp`] these [`AppOptions`] spawn, or
/// an early return from the calling test when its backend is PostgreSQL
/// and none is available (nor required by `REQUIRE_POSTGRES=1`); the test
/// then passes as skipped, and `TestDb` has already said why.
#[allow(unused_macros)] // not every test binary spawns apps
macro_rules! spawn_app {
    ($options:expr) => {
        match $options.spawn().await {
            Some(app) => app,
            None => return,
        }
    };
}
// Lets tests import it by path: `use crate::support::app::spawn_app;`.
#[allow(unused_imports)]
pub(crate) use spawn_app;

/// The workspace and tailnet most tests use.
fn populate(slack: &FakeSlack, tailnet: &FakeTailnet, now: DateTime<Utc>) {
    slack.add_user(FakeUser::new(ALICE, "alice@example.com", "Alice Archer"));
    slack.add_user(FakeUser::new(BOB, "bob@example.com", "Bob Baker"));
    slack.add_user(FakeUser::new(CAROL, "carol@example.com", "Carol Cole"));
    slack.add_user(FakeUser::new(DAVE, "dave@example.com", "Dave Dunn"));
    slack.add_user(FakeUser::new(
        MALLORY,
        "mallory@example.com",
        "Mallory Moss",
    ));
    slack.add_group(SRE_GROUP, "sre", &[CAROL, DAVE]);
    slack.add_channel(PROD_CHANNEL);
    tailnet.add_device(
        FakeDevice::owned(ALICE_LAPTOP, "alice-laptop", "Alice@Example.com")
            .os("macOS")
            .addresses(&["100.64.0.1", "fd7a:115c:a1e0::1"])
            .last_seen(now - chrono::Duration::hours(1)),
    );
    tailnet.add_device(
        FakeDevice::owned(ALICE_PHONE, "alice-phone", "alice@example.com")
            .os("iOS")
            .addresses(&["100.64.0.2"])
            .last_seen(now - chrono::Duration::days(2)),
    );
    tailnet.add_device(
        FakeDevice::owned(BOB_LAPTOP, "bob-laptop", "bob@example.com")
            .os("linux")
            .addresses(&["100.64.0.3"])
            .last_seen(now - chrono::Duration::minutes(5)),
    );
    tailnet.add_device(
        FakeDevice::tagged_server(PROD_DB, "prod-db", &["tag:prod"])
            .os("linux")
            .addresses(&["100.64.0.10"])
            .last_seen(now),
    );
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    pub slack: FakeSlack,
    pub tailnet: FakeTailnet,
    pub clock: ManualClock,
    pub state: AppState,
    pub db: Arc<TestDb>,
    pub options: AppOptions,
    /// The fake Socket Mode connection, when the app uses it.
    pub socket: Option<FakeSocketMode>,
    /// `/metrics`' own listener, with `server.metrics_listen`.
    pub metrics_addr: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    async fn start(
        options: AppOptions,
        db: Arc<TestDb>,
        slack: FakeSlack,
        tailnet: FakeTailnet,
        clock: ManualClock,
    ) -> TestApp {
        let toml = format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n{}\n\
             [database]\nmax_connections = 5\n\
             [slack]\nrequest_timeout = \"5s\"\nsocket_mode = {}\n\
             [tailscale]\nrequest_timeout = \"5s\"\n\
             [requests]\n{}\n\
             [worker]\nenabled = {}\npoll_interval = \"50ms\"\nreconcile_interval = \"1h\"\n{}\n\
             {}",
            options.server,
            options.socket_mode,
            options.requests,
            options.worker,
            options.worker_toml,
            options.profiles
        );
        let env = MapEnv(vec![
            ("DATABASE_URL".into(), db.url.clone()),
            ("ACCESSBOT_SLACK_API_URL".into(), slack.url()),
            ("ACCESSBOT_TAILSCALE_API_URL".into(), tailnet.url()),
            ("SLACK_SIGNING_SECRET".into(), SIGNING_SECRET.into()),
            ("SLACK_BOT_TOKEN".into(), fake_slack::BOT_TOKEN.into()),
            ("SLACK_APP_TOKEN".into(), fake_slack::APP_TOKEN.into()),
            ("TAILSCALE_API_KEY".into(), tailnet.api_key()),
        ]);
        let mut config = Config::from_toml(&toml, &env).expect("test config is valid");
        if let Some((ping, silence)) = options.socket_timing {
            config.socket_liveness.ping_every = ping;
            config.socket_liveness.silence = silence;
        }
        let app = Application::build(config, Arc::new(clock.clone()))
            .await
            .expect("app builds");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stopped.await;
        }));
        if options.wait_for_people {
            tokio::time::timeout(WAIT, state.people.wait_warm())
                .await
                .expect("the people directory warms up");
        }
        if options.worker {
            // The worker reconciles once at start-up; let that finish so it
            // cannot race what the test does to the tailnet.
            let metrics = state.metrics.clone();
            wait_until("the start-up reconciliation ran", || {
                metrics.reconciliations.get() >= 1
            })
            .await;
        }
        TestApp {
            addr,
            http: reqwest::Client::new(),
            slack,
            tailnet,
            clock,
            state,
            db,
            options,
            socket: None,
            metrics_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Another process on the same database, fakes and clock (a replica,
    /// or the app restarted after a crash).
    pub async fn replica(&self, options: AppOptions) -> TestApp {
        TestApp::start(
            options,
            self.db.clone(),
            self.slack.clone(),
            self.tailnet.clone(),
            self.clock.clone(),
        )
        .await
    }

    /// Graceful shutdown: in-flight requests and the job in progress finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("app ran cleanly");
        }
    }

    /// Kill the app mid-flight, as a crash would: the server, worker and
    /// any job in progress stop where they are.
    pub async fn crash(mut self) {
        // Keep the stop signal unsent: no graceful shutdown.
        let _never_sent = self.stop.take();
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POST a body signed with the signing secret at the app's current time.
    pub async fn post_signed(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> reqwest::Response {
        let ts = self.clock.now().timestamp().to_string();
        let sig = signature::sign(SIGNING_SECRET.as_bytes(), &ts, body.as_bytes());
        self.http
            .post(self.url(path))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .expect("request reaches the app")
    }

    /// An interactivity payload, form-encoded as Slack sends it.
    pub async fn interact(&self, payload: &Value) -> reqwest::Response {
        let body = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        self.post_signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            body,
        )
        .await
    }

    /// The JSON an interaction was answered with (`Null` for an empty 200).
    pub async fn interact_json(&self, payload: &Value) -> Value {
        let resp = self.interact(payload).await;
        assert_eq!(resp.status(), 200, "interaction answered {}", resp.status());
        let text = resp.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).expect("JSON answer")
        }
    }

    /// Run the shortcut as `user` and wait for the modal to open.
    pub async fn open_form(&self, user: &str) -> OpenView {
        let trigger = self.slack.trigger_for(user);
        let resp = self
            .interact(&payloads::shortcut(user, "request_access", &trigger))
            .await;
        assert_eq!(resp.status(), 200);
        self.wait_for_view(user, &trigger).await
    }

    /// Open the form and wait until its approver question is filled in
    /// (approvers are looked up after the modal opens).
    pub async fn open_form_ready(&self, user: &str) -> OpenView {
        let view = self.open_form(user).await;
        let id = view.id.clone();
        let has_approver_block = |v: &OpenView| {
            v.view["blocks"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b["block_id"] == "approver"))
        };
        wait_until("the approvers are shown", || {
            has_approver_block(&self.current_view(&id))
        })
        .await;
        self.current_view(&id)
    }

    /// Wait until the modal opened with `trigger` exists, and return it.
    pub async fn wait_for_view(&self, user: &str, trigger: &str) -> OpenView {
        let opened = || {
            self.slack
                .calls_to("views.open")
                .iter()
                .any(|c| c["trigger_id"] == trigger)
        };
        wait_until("the form opens", opened).await;
        self.slack.last_view_of(user).expect("a view for the user")
    }

    /// The modal as it stands now.
    pub fn current_view(&self, id: &str) -> OpenView {
        self.slack.view(id).expect("view exists")
    }

    /// The message as it stands now (after any `chat.update`).
    pub fn current_message(&self, message: &Message) -> Message {
        self.slack
            .messages_in(&message.channel)
            .into_iter()
            .find(|m| m.ts == message.ts)
            .expect("message exists")
    }

    /// Submit the modal with `input`; returns the JSON answer, which must
    /// be one Slack accepts (it refuses, say, errors for a block the view
    /// does not ask).
    pub async fn submit(&self, user: &str, view: &OpenView, input: &FormInput) -> Value {
        let state = payloads::form_state(&view.view, input);
        let payload = payloads::view_submission(user, payloads::view_payload(view, state));
        let answer = self.interact_json(&payload).await;
        if let Err(problems) = fake_slack::check_submission_answer(&view.view, &answer) {
            panic!(
                "Slack refuses this answer to the submission: {problems:#?}
{answer:#}"
            );
        }
        answer
    }

    /// Open the form, fill it and submit it; panics unless accepted.
    /// Returns the stored request.
    pub async fn request(&self, user: &str, input: FormInput) -> AccessRequest {
        let view = self.open_form_ready(user).await;
        let answer = self.submit(user, &view, &input).await;
        assert_eq!(
            answer["response_action"], "update",
            "submission refused: {answer:#}"
        );
        self.latest_request_of(user).await
    }

    pub async fn latest_request_of(&self, user: &str) -> AccessRequest {
        self.state
            .store
            .list_requests(&RequestFilter {
                requester: Some(SlackUserId::parse(user).unwrap()),
                limit: Some(1),
                ..Default::default()
            })
            .await
            .unwrap()
            .pop()
            .expect("a stored request")
    }

    pub async fn get(&self, id: RequestId) -> AccessRequest {
        self.state
            .store
            .get_request(id)
            .await
            .unwrap()
            .expect("request exists")
    }

    /// How many audit events named `action` request `id` has.
    pub async fn audit_count(&self, id: RequestId, action: &str) -> usize {
        self.state
            .store
            .audit_events(id)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == action)
            .count()
    }

    /// The text of `GET /metrics`.
    pub async fn metrics(&self) -> String {
        self.http
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Wait until the request reaches `status`.
    pub async fn wait_for_status(&self, id: RequestId, status: &str) -> AccessRequest {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let r = self.get(id).await;
            if r.status.as_str() == status {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "request {id} is {} (failure: {:?}), never became {status}",
                r.status,
                r.failure_reason
            );
            self.state.kick();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The message in `conversation` (a user ID means their DM) that has a
    /// button `action` for request `id`, waiting for it to appear.
    pub async fn message_with_button(
        &self,
        conversation: &str,
        action: &str,
        id: RequestId,
    ) -> Message {
        let id = id.to_string();
        let find = || {
            self.slack.messages_in(conversation).into_iter().find(|m| {
                m.buttons().iter().any(|b| b == action) && m.blocks.to_string().contains(&id)
            })
        };
        wait_until(
            &format!("a message in {conversation} with a {action} button"),
            || find().is_some(),
        )
        .await;
        find().unwrap()
    }

    /// Click `action` on `message` as `user`.
    pub async fn click_on(
        &self,
        user: &str,
        message: &Message,
        action: &str,
        id: RequestId,
    ) -> reqwest::Response {
        self.click_with_state(user, message, action, id, json!({}))
            .await
    }

    /// Click `action` on `message` as `user`, with the message's inputs
    /// holding `values` (see [`payloads::decision_state`]).
    pub async fn click_with_state(
        &self,
        user: &str,
        message: &Message,
        action: &str,
        id: RequestId,
        values: Value,
    ) -> reqwest::Response {
        let trigger = self.slack.trigger_for(user);
        let payload = payloads::message_button_with_state(
            user,
            &message.channel,
            &message.ts,
            action,
            &id.to_string(),
            &trigger,
            values,
        );
        self.interact(&payload).await
    }

    /// Click `action` for request `id` on the message in `owner`'s DM, as `user`.
    pub async fn click(
        &self,
        user: &str,
        owner: &str,
        action: &str,
        id: RequestId,
    ) -> reqwest::Response {
        let message = self.message_with_button(owner, action, id).await;
        let resp = self.click_on(user, &message, action, id).await;
        assert_eq!(resp.status(), 200);
        resp
    }

    /// Ephemeral messages sent to `user`.
    pub fn ephemeral_to(&self, user: &str) -> Vec<String> {
        self.slack
            .ephemeral()
            .into_iter()
            .filter(|(_, u, _)| u == user)
            .map(|(_, _, t)| t)
            .collect()
    }

    /// Wait until no job is due (everything enqueued so far has run).
    pub async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let stats = self.state.store.job_stats(self.clock.now()).await.unwrap();
            if stats.due == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "jobs never settled: {stats:?}"
            );
            self.state.kick();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Move the clock and let the worker act on it.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
        self.state.kick();
    }

    /// Attribute POSTs the tailnet received.
    pub fn attribute_posts(&self) -> Vec<Value> {
        self.tailnet
            .requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.contains("/attributes/"))
            .filter_map(|r| r.json)
            .collect()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub const WAIT: Duration = Duration::from_secs(15);

/// Poll `condition` until it holds (panics after [`WAIT`], naming `what`).
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The form input for a standard prod request by alice.
pub fn prod_request() -> FormInput {
    FormInput {
        profile: Some(PROD.into()),
        device: Some(ALICE_LAPTOP.into()),
        duration_secs: Some(3600),
        approver: Some(BOB.into()),
        reason: Some("deploy hotfix 42".into()),
    }
}

/// JSON of a Slack text object, for building expectations.
pub fn plain(text: &str) -> Value {
    json!({ "type": "plain_text", "text": text })
}
