//! A fake Tailscale API for integration tests: an axum server on
//! `127.0.0.1:0` that behaves like the real one where accessbot can tell.
//!
//! # What it implements
//! - `POST /api/v2/oauth/token` (form `client_id`, `client_secret`,
//!   `grant_type=client_credentials`) → `{"access_token", "token_type":
//!   "Bearer", "expires_in", "scope"}`; tokens expire by the fake's clock.
//! - `GET /api/v2/tailnet/{tailnet}/devices` (`-` or [`FakeTailnet::TAILNET`]).
//! - `GET /api/v2/device/{id}` (node ID, or the legacy numeric `id`).
//! - `GET /api/v2/device/{id}/attributes` → `{"attributes": {…}, "expiries": {…}}`
//!   (`custom:*` plus a `node:os`; `expiries` left out when none expire).
//! - `POST /api/v2/device/{id}/attributes/{key}` `{"value", "expiry", "comment"}`
//!   and `DELETE` of the same path (deleting an absent key is a 200).
//!
//! # Rules it enforces (Tailscale's documented ones)
//! - Auth on every endpoint but the token one: the API key as HTTP Basic
//!   user with an empty password or as a Bearer token, or an unexpired OAuth
//!   token. Otherwise 401. OAuth tokens carry the client's scopes
//!   ([`FakeTailnet::set_oauth_scopes`]); reading devices needs
//!   `devices:core:read` (or `devices:core`), attributes need
//!   `devices:posture_attributes` (`…:read` suffices for GET); otherwise 403.
//! - Keys: `custom:` prefix, ≤ 50 chars, `[A-Za-z0-9_:]`, unique
//!   case-insensitively across the tailnet.
//! - Values: boolean; integer within ±(2^53 − 1); string ≤ 50 chars of
//!   `[A-Za-z0-9_.]`. One value type per key while any device holds the key.
//! - `expiry`: RFC 3339 and in the future (by the fake's clock); `comment`
//!   ≤ 200 bytes.
//! - Devices shared in from another tailnet (`isExternal: true`) are
//!   listed, but setting their attributes is a 403.
//! - Broken input → 400 `{"message": …}`; unknown device → 404.
//! - Attributes past their expiry are gone the moment the clock passes it
//!   (real Tailscale takes "a few minutes").
//!
//! # Test controls
//! Every request is recorded ([`FakeTailnet::requests`], [`FakeTailnet::count`]);
//! faults can be injected ([`FakeTailnet::fail_next`], [`FakeTailnet::set_latency`]);
//! matching requests can be held until released ([`FakeTailnet::hold`]) to make
//! concurrency deterministic; and [`FakeTailnet::wait_until`] waits for a condition.
//!
//! ```ignore
//! let fake = FakeTailnet::start().await;
//! fake.add_device(FakeDevice::owned("nAlice1", "alice-laptop", "alice@example.com"));
//! let config = fake.api_key_config();          // or oauth_config()
//! // … or for the app: ACCESSBOT_TAILSCALE_API_URL = fake.url(), TAILSCALE_API_KEY = fake.api_key()
//! fake.fail_next("POST", "/attributes/", 2, 503, None);
//! // … run the code under test …
//! assert_eq!(fake.attribute("nAlice1", "custom:prodAccess").unwrap().value, json!(true));
//! ```
//!
//! # Layout
//! One file per concern, each with its state, its test controls (an
//! `impl FakeTailnet` block) and the endpoints it answers:
//! - `server`: the router and the gate every request passes (record,
//!   intercept, authenticate);
//! - `auth`: API key, OAuth client, tokens and their scopes;
//! - `devices`: [`FakeDevice`] and the device endpoints;
//! - `attributes`: the attribute endpoints; `attribute_rules`: what they
//!   accept;
//! - `faults`: holds, latency and injected failures;
//! - `recording`: the log of requests tests assert on.

mod attribute_rules;
mod attributes;
mod auth;
mod devices;
mod faults;
mod recording;
mod server;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use accessbot::clock::{Clock, SystemClock};

// The public API; each test binary uses only some of it.
#[allow(unused_imports)]
pub use self::{
    attributes::{FakeAttribute, WriteReply},
    devices::FakeDevice,
    faults::Hold,
    recording::RecordedRequest,
};

/// Everything the fake tailnet holds, one part per concern.
#[derive(Default)]
struct TailnetState {
    devices: devices::Devices,
    attributes: attributes::Attributes,
    auth: auth::AuthState,
    faults: faults::FaultState,
    recording: recording::Recording,
}

/// What the server's handlers share with the test's [`FakeTailnet`].
struct Shared {
    state: Mutex<TailnetState>,
    /// Decides token and attribute expiry.
    clock: Arc<dyn Clock>,
    credentials: auth::Credentials,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, TailnetState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct ServerTask(tokio::task::JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The fake Tailscale API. Cheap to clone; the server stops when the last
/// clone is dropped.
#[derive(Clone)]
pub struct FakeTailnet {
    shared: Arc<Shared>,
    addr: SocketAddr,
    _server: Arc<ServerTask>,
}

impl FakeTailnet {
    /// The tailnet's name (besides `-`, which always works).
    pub const TAILNET: &'static str = "example.com";

    /// Start with the system clock.
    pub async fn start() -> Self {
        Self::start_with_clock(Arc::new(SystemClock)).await
    }

    /// Start with `clock` deciding token and attribute expiry (share a
    /// `ManualClock` with the app to move time for both).
    pub async fn start_with_clock(clock: Arc<dyn Clock>) -> Self {
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            clock,
            credentials: auth::Credentials::default(),
        });
        let router = server::router(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake Tailscale API");
        let addr = listener.local_addr().expect("local address");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            shared,
            addr,
            _server: Arc::new(ServerTask(task)),
        }
    }

    /// The base URL, for `tailscale.api_url` / `ACCESSBOT_TAILSCALE_API_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}
