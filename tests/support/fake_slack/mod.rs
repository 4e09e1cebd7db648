//! A fake Slack Web API: an axum server on a random port that answers the
//! methods accessbot calls with the shapes Slack (and slack-morphism)
//! use, enforces Slack's documented limits on views and messages, records
//! every call, and can be told to fail (429 with Retry-After, an error
//! code, an HTTP status) or to be slow.
//!
//! Point the app at it with `slack.api_url = fake.url()`.
//!
//! Methods that need a scope answer `missing_scope` (with `needed` and
//! `provided`, as Slack does) when [`FakeSlack::set_scopes`] left it out;
//! by default every scope accessbot asks for is granted.
//!
//! One file per concern, each with its state, its test controls (an
//! `impl FakeSlack` block) and the methods it answers:
//! - `server`: the router, request parsing and the method table;
//! - `auth`: tokens, scopes, `auth.test`, `apps.connections.open`;
//! - `block_kit`: Slack's limits on messages, views and blocks;
//! - `views`: trigger IDs and `views.open` / `update` / `publish`;
//! - `chat`: channels, DMs and the `chat.*` methods;
//! - `directory`: users and user groups;
//! - `faults`: injected failures, latency, held calls and rate tiers;
//! - `recording`: the log of calls tests assert on;
//! - `responses`: what Slack accepts as the answer to a submission.

mod auth;
mod block_kit;
mod chat;
mod directory;
mod faults;
mod recording;
mod responses;
mod server;
mod views;

use std::sync::{Arc, Mutex, MutexGuard};

// The public API; each test binary uses only some of it.
#[allow(unused_imports)]
pub use self::{
    auth::{APP_TOKEN, BOT_TOKEN, DEFAULT_SCOPES},
    block_kit::{check_blocks, check_view},
    chat::{Message, ScheduledMessage, MAX_SCHEDULE_AHEAD},
    directory::FakeUser,
    faults::Fault,
    recording::Call,
    responses::check_submission_answer,
    views::{OpenView, TRIGGER_TTL},
};

pub const TEAM_ID: &str = "T0FAKE001";
pub const BOT_USER_ID: &str = "UBOTFAKE1";
/// The bot's `bot_id`, as messages and views carry it.
const BOT_ID: &str = "BFAKE0001";

/// Everything the fake workspace holds, one part per concern.
#[derive(Default)]
struct Inner {
    auth: auth::AuthState,
    directory: directory::Directory,
    views: views::ViewState,
    chat: chat::ChatState,
    faults: faults::FaultState,
    calls: Vec<Call>,
    /// Source of unique IDs and timestamps.
    seq: u64,
}

impl Inner {
    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

type SharedInner = Arc<Mutex<Inner>>;

#[derive(Clone)]
pub struct FakeSlack {
    inner: SharedInner,
    url: String,
}

impl FakeSlack {
    pub async fn start() -> Self {
        let inner = SharedInner::default();
        let app = server::router(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            inner,
            url: format!("http://{addr}/api"),
        }
    }

    /// The Web API base URL (`slack.api_url`).
    pub fn url(&self) -> String {
        self.url.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap()
    }
}
