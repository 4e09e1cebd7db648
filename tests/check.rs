//! `accessbot check --online`, run as the real binary against the fake
//! Slack, the fake tailnet and a real SQLite database. The fakes run in
//! this test's runtime while the binary runs (it is awaited with
//! `tokio::process`, so they keep answering).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use accessbot::slack::api::{Scheduled, SlackApiError};
use support::db::TestDb;
use support::fake_slack::{FakeSlack, FakeUser, Fault, BOT_TOKEN, DEFAULT_SCOPES};
use support::fake_tailscale::{FakeDevice, FakeTailnet};

const ALICE: &str = "U0ALICE01";
const BOB: &str = "U0BOB0001";
const CAROL: &str = "U0CAROL01";
const DAVE: &str = "U0DAVE001";
const PROD_CHANNEL: &str = "C0PRODNOTE";
const OPS_CHANNEL: &str = "C0OPSNOTE1";

/// Every kind of approver reference and two notify channels, one shared.
const PROFILES: &str = r#"
[[profiles]]
attribute = "custom:prodAccess"
description = "Production"
max_duration = "8h"
approvers = ["bob@example.com", "U0CAROL01", "@sre"]
notify_channel = "C0PRODNOTE"

[[profiles]]
attribute = "custom:stagingAccess"
max_duration = "1h"
approvers = ["Dave@Example.com"]
notify_channel = "C0OPSNOTE1"

[[profiles]]
attribute = "custom:dbAccess"
max_duration = "1h"
approvers = []
notify_channel = "C0PRODNOTE"
"#;

/// A workspace, a tailnet and a migrated database where everything is right.
struct World {
    slack: FakeSlack,
    tailnet: FakeTailnet,
    _db: TestDb,
    dir: tempfile::TempDir,
    profiles: String,
    env: BTreeMap<String, String>,
}

impl World {
    async fn new() -> World {
        let slack = FakeSlack::start().await;
        slack.add_user(FakeUser::new(ALICE, "alice@example.com", "Alice Archer"));
        slack.add_user(FakeUser::new(BOB, "bob@example.com", "Bob Baker"));
        slack.add_user(FakeUser::new(CAROL, "carol@example.com", "Carol Cole"));
        slack.add_user(FakeUser::new(DAVE, "dave@example.com", "Dave Dunn"));
        slack.add_group("S0SRE0001", "sre", &[CAROL, DAVE]);
        slack.add_channel(PROD_CHANNEL);
        slack.add_channel(OPS_CHANNEL);
        let tailnet = FakeTailnet::start().await;
        tailnet.add_device(FakeDevice::owned(
            "nAliceLaptop1",
            "alice-laptop",
            "alice@example.com",
        ));
        let db = TestDb::sqlite().await;
        db.store(1).await;
        let env = [
            ("ACCESSBOT_SLACK_API_URL", slack.url()),
            ("ACCESSBOT_TAILSCALE_API_URL", tailnet.url()),
            ("SLACK_BOT_TOKEN", BOT_TOKEN.to_owned()),
            ("SLACK_SIGNING_SECRET", "test-signing-secret".to_owned()),
            ("TAILSCALE_API_KEY", tailnet.api_key()),
            ("DATABASE_URL", db.url.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        World {
            slack,
            tailnet,
            _db: db,
            dir: tempfile::tempdir().unwrap(),
            profiles: PROFILES.to_owned(),
            env,
        }
    }

    fn set_env(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_owned(), value.to_owned());
    }

    fn remove_env(&mut self, name: &str) {
        self.env.remove(name);
    }

    /// Authenticate to the tailnet with its OAuth client instead of the API key.
    fn use_oauth(&mut self) {
        let (id, secret) = self.tailnet.oauth_client();
        self.remove_env("TAILSCALE_API_KEY");
        self.set_env("TAILSCALE_OAUTH_CLIENT_ID", &id);
        self.set_env("TAILSCALE_OAUTH_CLIENT_SECRET", &secret);
    }

    async fn run(&self, args: &[&str]) -> Run {
        let config = self.dir.path().join("accessbot.toml");
        let toml = format!(
            "[slack]\nrequest_timeout = \"5s\"\n[tailscale]\nrequest_timeout = \"5s\"\n{}",
            self.profiles
        );
        std::fs::write(&config, toml).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_accessbot"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_clear()
            .envs(&self.env)
            .kill_on_drop(true)
            .output();
        // Every call the binary makes has a timeout; this only turns a hang
        // into a failure instead of a stuck test run.
        let out = tokio::time::timeout(Duration::from_secs(120), child)
            .await
            .expect("accessbot check did not finish")
            .unwrap();
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        // Shown with --nocapture, or above a failing assertion.
        eprintln!("{run}");
        run
    }

    async fn check_online(&self) -> Run {
        self.run(&["check", "--online"]).await
    }
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The check's line (`✓ name: …` or `✗ name: …`), and for a failure
    /// its `fix:` line too.
    fn check(&self, name: &str) -> String {
        let lines: Vec<&str> = self.stdout.lines().collect();
        let Some(i) = lines.iter().position(|l| {
            l.starts_with(&format!("✓ {name}")) || l.starts_with(&format!("✗ {name}"))
        }) else {
            panic!("no check {name:?} in:\n{self}");
        };
        let mut block = lines[i].to_owned();
        if let Some(fix) = lines
            .get(i + 1)
            .filter(|l| l.trim_start().starts_with("fix:"))
        {
            block.push('\n');
            block.push_str(fix);
        }
        block
    }

    fn assert_passed(&self, name: &str) {
        let block = self.check(name);
        assert!(block.starts_with('✓'), "{name} should pass:\n{self}");
    }

    /// The failed check's line and fix.
    fn failed(&self, name: &str) -> String {
        let block = self.check(name);
        assert!(block.starts_with('✗'), "{name} should fail:\n{self}");
        assert!(block.contains("\n    fix: "), "{name} has no fix:\n{self}");
        block
    }

    fn assert_exit(&self, code: i32) {
        assert_eq!(self.code, Some(code), "exit code:\n{self}");
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--- exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oauth_client_that_can_only_read_attributes_fails_the_write_check() {
    let mut world = World::new().await;
    world.use_oauth();
    world
        .tailnet
        .set_oauth_scopes(&["devices:core:read", "devices:posture_attributes:read"]);
    let run = world.check_online().await;
    run.assert_exit(1);
    run.assert_passed("Tailscale devices");
    run.assert_passed("Tailscale posture attributes");
    let writes = run.failed("Tailscale attribute writes");
    assert!(
        writes.contains("lacks the scope devices:posture_attributes"),
        "{run}"
    );
    assert!(writes.contains("devices:posture_attributes:read"), "{run}");
    assert!(writes.contains("TAILSCALE_OAUTH_CLIENT_ID"), "{run}");

    // With the write scope it passes, naming it.
    world
        .tailnet
        .set_oauth_scopes(&["devices:core:read", "devices:posture_attributes"]);
    let run = world.check_online().await;
    run.assert_exit(0);
    assert!(
        run.check("Tailscale attribute writes")
            .contains("has the scope devices:posture_attributes"),
        "{run}"
    );
}

/// Nothing was posted, and no test message was left scheduled.
fn assert_nothing_left_in_slack(slack: &FakeSlack) {
    assert!(
        slack.messages().is_empty(),
        "posted: {:?}",
        slack.messages()
    );
    assert!(
        slack.scheduled().is_empty(),
        "left scheduled: {:?}",
        slack.scheduled()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn everything_right_passes_every_check() {
    let world = World::new().await;
    let run = world.check_online().await;
    run.assert_exit(0);
    assert!(!run.stdout.contains('✗'), "{run}");
    for name in [
        "config",
        "secrets",
        "Slack auth.test",
        "Slack bot scopes",
        "profiles[0].approvers[0] bob@example.com",
        "profiles[0].approvers[1] U0CAROL01",
        "profiles[0].approvers[2] @sre",
        "profiles[1].approvers[0] dave@example.com",
        "profiles[0].notify_channel, profiles[2].notify_channel C0PRODNOTE",
        "profiles[1].notify_channel C0OPSNOTE1",
        "Tailscale devices",
        "Tailscale posture attributes",
        "Tailscale attribute writes",
        "database",
        "database migrations",
    ] {
        run.assert_passed(name);
    }
    assert!(
        run.check("Slack auth.test").contains(BOT_TOKEN_USER),
        "{run}"
    );
    assert!(run
        .check("profiles[0].approvers[0]")
        .contains("Bob Baker (U0BOB0001)"));
    assert!(run
        .check("profiles[0].approvers[2]")
        .contains("2 member(s)"));
    assert!(run.stdout.ends_with("all 15 checks passed\n"), "{run}");
    // An API key's rights are its owner's: the check says it cannot tell.
    assert!(
        run.check("Tailscale attribute writes")
            .contains("write access could not be verified"),
        "{run}"
    );

    // Each channel was tested once, by a message scheduled and deleted again.
    let scheduled = world.slack.calls_to("chat.scheduleMessage");
    let mut channels: Vec<&str> = scheduled
        .iter()
        .map(|p| p["channel"].as_str().unwrap())
        .collect();
    channels.sort();
    assert_eq!(channels, vec![OPS_CHANNEL, PROD_CHANNEL]);
    // Far enough ahead that nobody sees it even if deleting failed, within Slack's 120 days.
    let earliest = (chrono::Utc::now() + chrono::Duration::days(90)).timestamp();
    for p in &scheduled {
        assert!(p["post_at"].as_i64().unwrap() > earliest, "{p}");
    }
    assert_eq!(world.slack.count("chat.deleteScheduledMessage"), 2);
    assert_nothing_left_in_slack(&world.slack);
    // Reading attributes was tried on the one device, and nothing was written.
    assert_eq!(world.tailnet.count("GET", "/nAliceLaptop1/attributes"), 1);
    assert_eq!(world.tailnet.count("POST", "/"), 0);
    assert_eq!(world.tailnet.count("DELETE", "/"), 0);
}

/// The fake's `auth.test` names the bot `accessbot`.
const BOT_TOKEN_USER: &str = "bot @accessbot (UBOTFAKE1)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_slack_scope_is_named_with_where_to_add_it() {
    let world = World::new().await;
    let without: Vec<&str> = DEFAULT_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "usergroups:read")
        .collect();
    world.slack.set_scopes(&without);
    let run = world.check_online().await;
    run.assert_exit(1);
    let scopes = run.failed("Slack bot scopes");
    assert!(scopes.contains("lacks usergroups:read\n"), "{run}");
    assert!(
        scopes.contains("OAuth & Permissions → Bot Token Scopes") && scopes.contains("reinstall"),
        "{run}"
    );
    // The group approver cannot be resolved without it, and says why.
    assert!(
        run.failed("profiles[0].approvers[2] @sre")
            .contains("lacks the scope usergroups:read"),
        "{run}"
    );
    run.assert_passed("profiles[0].approvers[0] bob@example.com");
    run.assert_passed("Tailscale devices");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_approvers_are_named_with_their_keys() {
    let mut world = World::new().await;
    world.slack.add_group("S0EMPTY01", "empty", &[]);
    world.profiles = world.profiles.replace(
        r#"approvers = ["bob@example.com", "U0CAROL01", "@sre"]"#,
        r#"approvers = ["bob@example.com", "nobody@example.com", "U0NOBODY1", "@nosuchgroup", "@empty"]"#,
    );
    let run = world.check_online().await;
    run.assert_exit(1);
    let email = run.failed("profiles[0].approvers[1] nobody@example.com");
    assert!(
        email.starts_with(
            "✗ profiles[0].approvers[1] nobody@example.com: no Slack user has this e-mail"
        ),
        "{run}"
    );
    assert!(email.contains("correct profiles[0].approvers[1]"), "{run}");
    assert!(run
        .failed("profiles[0].approvers[2] U0NOBODY1")
        .contains("no Slack user has this ID"));
    assert!(run
        .failed("profiles[0].approvers[3] @nosuchgroup")
        .contains("no Slack user group has the handle @nosuchgroup"));
    assert!(run
        .failed("profiles[0].approvers[4] @empty")
        .contains("has no members"));
    run.assert_passed("profiles[0].approvers[0] bob@example.com");
    run.assert_passed("profiles[1].approvers[0] dave@example.com");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_without_the_bot_gets_the_invite_fix_and_nothing_is_posted() {
    let mut world = World::new().await;
    world.profiles = world.profiles.replace(
        r#"notify_channel = "C0OPSNOTE1""#,
        r#"notify_channel = "C0NOBOT01""#,
    );
    let run = world.check_online().await;
    run.assert_exit(1);
    let channel = run.failed("profiles[1].notify_channel C0NOBOT01");
    assert!(
        channel.contains("not a member") && channel.contains("/invite @accessbot"),
        "{run}"
    );
    run.assert_passed("profiles[0].notify_channel, profiles[2].notify_channel C0PRODNOTE");
    let refused: Vec<String> = world
        .slack
        .calls()
        .into_iter()
        .filter(|c| c.method == "chat.scheduleMessage" && c.params["channel"] == "C0NOBOT01")
        .map(|c| c.outcome)
        .collect();
    assert_eq!(refused, vec!["not_in_channel"]);
    assert_nothing_left_in_slack(&world.slack);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_message_that_cannot_be_deleted_is_reported_with_how_to_delete_it() {
    let world = World::new().await;
    world.slack.fail_next(
        "chat.deleteScheduledMessage",
        1,
        Fault::Error("internal_error".into()),
    );
    let run = world.check_online().await;
    run.assert_exit(1);
    // Channels are tested in config order: the first one's delete failed.
    let left = world.slack.scheduled();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].channel, PROD_CHANNEL);
    let block = run.failed("profiles[0].notify_channel, profiles[2].notify_channel C0PRODNOTE");
    assert!(block.contains("deleting the test message failed"), "{run}");
    assert!(block.contains("unless deleted"), "{run}");
    assert!(
        block.contains(&format!(
            "-d channel={PROD_CHANNEL} -d scheduled_message_id={}",
            left[0].id
        )),
        "{run}"
    );
    run.assert_passed("profiles[1].notify_channel C0OPSNOTE1");
    assert!(world.slack.messages().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tailscale_403s_name_the_scopes() {
    let mut world = World::new().await;
    world.use_oauth();

    // Devices readable, posture attributes not.
    world.tailnet.set_oauth_scopes(&["devices:core:read"]);
    let run = world.check_online().await;
    run.assert_exit(1);
    run.assert_passed("Tailscale devices");
    let attributes = run.failed("Tailscale posture attributes");
    assert!(attributes.contains("HTTP 403"), "{run}");
    assert!(
        attributes.contains("needs the scope devices:posture_attributes:"),
        "{run}"
    );
    assert!(attributes.contains("TAILSCALE_OAUTH_CLIENT_ID"), "{run}");

    // Nothing readable.
    world.tailnet.set_oauth_scopes(&[]);
    let run = world.check_online().await;
    run.assert_exit(1);
    let devices = run.failed("Tailscale devices");
    assert!(
        devices.contains("devices:core:read and devices:posture_attributes"),
        "{run}"
    );
    assert!(run
        .failed("Tailscale posture attributes")
        .contains("not checked"));
    // Slack and the database were checked all the same.
    run.assert_passed("Slack auth.test");
    run.assert_passed("database migrations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tailscale_401_names_the_credential_variables() {
    let mut world = World::new().await;
    world.set_env("TAILSCALE_API_KEY", "tskey-api-wrong");
    let run = world.check_online().await;
    run.assert_exit(1);
    let devices = run.failed("Tailscale devices");
    assert!(devices.contains("HTTP 401"), "{run}");
    assert!(devices.contains("fix: set TAILSCALE_API_KEY"), "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_tailnet_skips_the_attribute_check_and_says_so() {
    let world = World::new().await;
    assert!(world.tailnet.remove_device("nAliceLaptop1"));
    let run = world.check_online().await;
    run.assert_exit(0);
    assert!(run
        .check("Tailscale posture attributes")
        .starts_with("✓ Tailscale posture attributes: skipped"));
    assert_eq!(world.tailnet.count("GET", "/attributes"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_database_is_reported_and_left_unmigrated() {
    let mut world = World::new().await;
    let fresh = TestDb::sqlite().await;
    let store = fresh.unmigrated_store(1).await; // creates the empty file
    world.set_env("DATABASE_URL", &fresh.url);
    let run = world.check_online().await;
    run.assert_exit(1);
    run.assert_passed("database");
    let migrations = run.failed("database migrations");
    assert!(migrations.contains("not applied: 1/init"), "{run}");
    assert!(migrations.contains("check did not apply them"), "{run}");
    assert!(migrations.contains("fix: run `accessbot migrate`"), "{run}");
    // Every migration the binary has is still pending: check applied none.
    use accessbot::store::dialect::Dialect;
    let all: Vec<String> = accessbot::store::sqlite::SqliteDialect::migrator()
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| format!("{}/{}", m.version, m.description))
        .collect();
    assert_eq!(all[..2], ["1/init", "2/jobs by request"]);
    assert_eq!(
        store.pending_migrations().await.unwrap(),
        all,
        "check applied nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_sqlite_file_is_reported_not_created() {
    let mut world = World::new().await;
    let path = world.dir.path().join("absent.db");
    world.set_env("DATABASE_URL", &format!("sqlite://{}", path.display()));
    let run = world.check_online().await;
    run.assert_exit(1);
    let database = run.failed("database");
    assert!(database.contains("does not exist"), "{run}");
    assert!(database.contains("run `accessbot migrate`"), "{run}");
    assert!(!path.exists(), "check created {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_unreachable_still_checks_tailscale_and_the_database() {
    let mut world = World::new().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    world.set_env("ACCESSBOT_SLACK_API_URL", &format!("http://{closed}/api"));
    let run = world.check_online().await;
    run.assert_exit(1);
    let auth = run.failed("Slack auth.test");
    assert!(auth.contains("cannot reach Slack"), "{run}");
    assert!(auth.contains("ACCESSBOT_SLACK_API_URL"), "{run}");
    assert!(run
        .failed("Slack approvers and notify channels")
        .contains("not checked"));
    run.assert_passed("Tailscale devices");
    run.assert_passed("Tailscale posture attributes");
    run.assert_passed("database");
    run.assert_passed("database migrations");
    assert!(world.slack.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_bot_token_names_the_variable() {
    let mut world = World::new().await;
    world.set_env("SLACK_BOT_TOKEN", "xoxb-revoked");
    let run = world.check_online().await;
    run.assert_exit(1);
    let auth = run.failed("Slack auth.test");
    assert!(auth.contains("Slack refused the bot token"), "{run}");
    assert!(auth.contains("fix: set SLACK_BOT_TOKEN"), "{run}");
    assert!(
        !run.stdout.contains("xoxb-revoked"),
        "the token was printed:\n{run}"
    );
    run.assert_passed("Tailscale devices");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_secrets_fail_but_the_database_is_still_checked() {
    let mut world = World::new().await;
    world.remove_env("SLACK_BOT_TOKEN");
    world.remove_env("TAILSCALE_API_KEY");
    let run = world.check_online().await;
    run.assert_exit(1);
    assert!(
        run.stdout.contains("✗ secrets: SLACK_BOT_TOKEN is not set"),
        "{run}"
    );
    assert!(run.stdout.contains("✗ secrets: TAILSCALE_API_KEY"), "{run}");
    run.failed("Slack auth.test");
    run.failed("Tailscale devices");
    run.assert_passed("database migrations");
    assert!(world.slack.calls().is_empty());
    assert!(world.tailnet.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_config_stops_before_any_online_check() {
    let mut world = World::new().await;
    world.profiles = world
        .profiles
        .replace(r#"max_duration = "8h""#, r#"max_duration = "forever""#);
    let run = world.check_online().await;
    run.assert_exit(1);
    assert!(
        run.stdout
            .contains("✗ profiles[0].max_duration \"forever\""),
        "{run}"
    );
    assert!(run.stdout.contains("need a valid config"), "{run}");
    assert!(world.slack.calls().is_empty());
    assert!(world.tailnet.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_online_check_stays_offline() {
    let world = World::new().await;
    let run = world.run(&["check"]).await;
    run.assert_exit(0);
    assert_eq!(run.stdout.lines().count(), 1, "{run}");
    assert!(run.stdout.starts_with("✓ config "), "{run}");
    assert!(world.slack.calls().is_empty());
    assert!(world.tailnet.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inconsistent_approval_policies_are_refused_offline() {
    let mut world = World::new().await;
    world.profiles.push_str(
        r#"
[[profiles]]
attribute = "custom:glassAccess"
max_duration = "1h"
approvers = ["bob@example.com", "U0CAROL01"]
break_glass = true

[[profiles]]
attribute = "custom:threeAccess"
max_duration = "1h"
approvers = ["bob@example.com", "U0CAROL01"]
approvals_required = 3
"#,
    );
    let run = world.run(&["check"]).await;
    run.assert_exit(1);
    assert!(
        run.stdout
            .contains("profiles[3].break_glass \"true\": needs notify_channel"),
        "{run}"
    );
    assert!(
        run.stdout
            .contains("profiles[4].approvals_required \"3\": only 2 people are listed"),
        "{run}"
    );
    assert!(world.slack.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_policies_are_checked_online() {
    let mut world = World::new().await;
    world.slack.add_channel("C0APPROVE1");
    world.profiles.push_str(
        r#"
[[profiles]]
attribute = "custom:threeAccess"
max_duration = "1h"
approvers = ["@sre"]
approvals_required = 3
approval_channel = "C0APPROVE1"

[[profiles]]
attribute = "custom:twoAccess"
max_duration = "1h"
approvers = ["bob@example.com", "@sre"]
approvals_required = 2
approval_channel = "C0NOBOT02"
auto_approve = ["@nosuchgroup", "dave@example.com"]
"#,
    );
    let run = world.check_online().await;
    run.assert_exit(1);
    // @sre has two members: three approvals can never be given.
    let three = run.failed("profiles[3].approvals_required 3");
    assert!(three.contains("only 2 people can approve"), "{run}");
    assert!(
        three.contains("lower profiles[3].approvals_required to at most 2"),
        "{run}"
    );
    assert!(run
        .check("profiles[4].approvals_required 2")
        .contains("3 people can approve"));
    run.assert_passed("profiles[4].approvals_required 2");
    assert!(run
        .failed("profiles[4].auto_approve[0] @nosuchgroup")
        .contains("no Slack user group has the handle @nosuchgroup"));
    run.assert_passed("profiles[4].auto_approve[1] dave@example.com");
    // Approval channels are tested like notify channels.
    run.assert_passed("profiles[3].approval_channel C0APPROVE1");
    let nobot = run.failed("profiles[4].approval_channel C0NOBOT02");
    assert!(nobot.contains("/invite @accessbot"), "{run}");
    assert_nothing_left_in_slack(&world.slack);
}

/// The fake's scheduling rules, through the same client calls `check` makes.
#[tokio::test]
async fn the_fake_schedules_like_slack() {
    let world = World::new().await;
    let config = accessbot::config::SlackConfig {
        api_url: url::Url::parse(&world.slack.url()).unwrap(),
        socket_mode: false,
        command: "/access".into(),
        signing_secret: None,
        bot_token: Some(BOT_TOKEN.into()),
        app_token: None,
        request_timeout: Duration::from_secs(5),
    };
    let api =
        accessbot::slack::api::SlackApi::new(&config, accessbot::metrics::Metrics::new()).unwrap();
    let now = chrono::Utc::now();
    let code =
        |r: Result<Scheduled, SlackApiError>| r.err().and_then(|e| e.code().map(str::to_owned));

    let Scheduled { channel, id } = api
        .schedule_message(ALICE, "hi", now + chrono::Duration::days(1))
        .await
        .unwrap();
    assert_eq!(channel, FakeSlack::dm_channel(ALICE), "a user ID is a DM");
    assert_eq!(world.slack.scheduled().len(), 1);
    assert_eq!(world.slack.scheduled()[0].id, id);
    assert!(id.starts_with('Q'));

    for (when, expected) in [
        (now - chrono::Duration::minutes(1), "time_in_past"),
        (now + chrono::Duration::days(121), "time_too_far"),
    ] {
        let r = api.schedule_message(PROD_CHANNEL, "hi", when).await;
        assert_eq!(code(r).as_deref(), Some(expected));
    }
    let r = api
        .schedule_message("C0NOBOT01", "hi", now + chrono::Duration::days(1))
        .await;
    assert_eq!(code(r).as_deref(), Some("not_in_channel"));

    let unknown = api.delete_scheduled_message(&channel, "Q0NOSUCH").await;
    assert_eq!(
        unknown
            .err()
            .and_then(|e| e.code().map(str::to_owned))
            .as_deref(),
        Some("invalid_scheduled_message_id")
    );
    api.delete_scheduled_message(&channel, &id).await.unwrap();
    assert!(world.slack.scheduled().is_empty());
    let again = api.delete_scheduled_message(&channel, &id).await;
    assert!(again.is_err(), "a deleted message cannot be deleted twice");

    world.slack.set_scopes(&["commands"]);
    let r = api
        .schedule_message(PROD_CHANNEL, "hi", now + chrono::Duration::days(1))
        .await;
    assert_eq!(code(r).as_deref(), Some("missing_scope"));
    assert!(world.slack.messages().is_empty(), "scheduling never posts");
}
