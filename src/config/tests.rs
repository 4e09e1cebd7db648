use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;
use crate::domain::{ApproverRef, AttributeValue, DevicePolicy};

const EXAMPLE: &str = include_str!("../../config/accessbot.example.toml");
const NO_ENV: [(&str, &str); 0] = [];

fn minimal(profile_extra: &str) -> String {
    format!("[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"8h\"\n{profile_extra}\n")
}

fn problems(toml: &str) -> Vec<String> {
    match Config::from_toml(toml, &NO_ENV) {
        Ok(_) => vec![],
        Err(e) => e.problems(),
    }
}

fn assert_one_problem(toml: &str, expected: &str) {
    let p = problems(toml);
    assert_eq!(p.len(), 1, "expected one problem, got {p:#?}");
    assert!(
        p[0].contains(expected),
        "{:?} does not contain {expected:?}",
        p[0]
    );
}

#[test]
fn example_config_loads() {
    let c = Config::from_toml(EXAMPLE, &NO_ENV).expect("example config is valid");
    assert_eq!(c.profiles.len(), 2);
    let prod = &c.profiles[0];
    assert_eq!(prod.attribute.as_str(), "custom:prodAccess");
    assert_eq!(prod.max_duration, Duration::from_secs(8 * 3600));
    assert_eq!(
        prod.approvers,
        vec![
            ApproverRef::Email("alice@example.com".into()),
            ApproverRef::User("U024BE7LH".parse().unwrap()),
            ApproverRef::Group("sre-oncall".into()),
        ]
    );
    assert_eq!(
        prod.notify_channel.as_ref().unwrap().as_str(),
        "C06TH49GKHC"
    );
    assert_eq!(prod.value, AttributeValue::Bool(true));
    assert_eq!(c.profiles[1].devices, DevicePolicy::OwnAndTagged);
    assert_eq!(c.requests.pending_timeout, Duration::from_secs(24 * 3600));
    assert_eq!(c.requests.remind_after, Some(Duration::from_secs(3600)));
    assert_eq!(c.tailscale.tailnet, "-");
    assert_eq!(c.slack.api_url.as_str(), "https://slack.com/api");
    assert_eq!(c.server.listen.port(), 8080);
}

#[test]
fn defaults_apply_to_a_minimal_config() {
    let c = Config::from_toml(&minimal(""), &NO_ENV).unwrap();
    assert_eq!(c.database.url.expose_secret(), "sqlite://accessbot.db");
    assert_eq!(c.server.listen.to_string(), "0.0.0.0:8080");
    assert_eq!(c.tailscale.api_url.as_str(), "https://api.tailscale.com/");
    assert_eq!(c.tailscale.device_cache_ttl, Duration::from_secs(60));
    assert!(c.worker.enabled);
    let p = &c.profiles[0];
    assert_eq!(p.devices, DevicePolicy::Own);
    assert!(!p.can_self_approve);
    assert_eq!(p.value, AttributeValue::Bool(true));
}

#[test]
fn env_overrides_file_values_and_secrets() {
    let toml = format!(
        "[server]\nlisten = \"127.0.0.1:1\"\n[slack]\nbot_token = \"file-token\"\n[tailscale]\napi_key = \"file-key\"\n{}",
        minimal("")
    );
    let env = [
        ("ACCESSBOT_LISTEN", "127.0.0.1:9999"),
        ("ACCESSBOT_PUBLIC_URL", "https://bot.example.net/"),
        ("DATABASE_URL", "postgres://u:p@db/accessbot"),
        ("ACCESSBOT_SLACK_API_URL", "http://127.0.0.1:5000/api/"),
        ("ACCESSBOT_TAILSCALE_API_URL", "http://127.0.0.1:5001"),
        ("TAILSCALE_TAILNET", "example.com"),
        ("SLACK_BOT_TOKEN", "xoxb-env"),
        ("SLACK_SIGNING_SECRET", "sign"),
        ("TAILSCALE_OAUTH_CLIENT_ID", "cid"),
        ("TAILSCALE_OAUTH_CLIENT_SECRET", "csecret"),
    ];
    let c = Config::from_toml(&toml, &env).unwrap();
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:9999");
    assert_eq!(
        c.server.public_url.unwrap().as_str(),
        "https://bot.example.net/"
    );
    assert_eq!(
        c.database.url.expose_secret(),
        "postgres://u:p@db/accessbot"
    );
    assert_eq!(c.slack.api_url.as_str(), "http://127.0.0.1:5000/api");
    assert_eq!(c.tailscale.tailnet, "example.com");
    assert_eq!(c.slack.bot_token.unwrap().expose_secret(), "xoxb-env");
    assert!(matches!(
        c.tailscale.auth,
        Some(TailscaleAuth::OAuth { ref client_id, .. }) if client_id == "cid"
    ));
    assert!(c.slack.app_token.is_none());
}

#[test]
fn secrets_from_the_file_are_used_when_env_is_unset() {
    let toml = format!(
        "[slack]\nbot_token = \"xoxb-file\"\n[tailscale]\napi_key = \"tskey-file\"\n{}",
        minimal("")
    );
    let c = Config::from_toml(&toml, &NO_ENV).unwrap();
    assert_eq!(
        c.slack.bot_token.as_ref().unwrap().expose_secret(),
        "xoxb-file"
    );
    assert!(matches!(c.tailscale.auth, Some(TailscaleAuth::ApiKey(_))));
}

#[test]
fn secrets_never_show_in_debug_output() {
    let env = [
        ("SLACK_BOT_TOKEN", "xoxb-very-secret"),
        ("SLACK_SIGNING_SECRET", "signing-very-secret"),
        ("TAILSCALE_API_KEY", "tskey-very-secret"),
        ("DATABASE_URL", "postgres://u:dbpass-very-secret@db/x"),
    ];
    let c = Config::from_toml(&minimal(""), &env).unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("very-secret"), "{dbg}");
}

#[test]
fn missing_secrets_are_named() {
    let c = Config::from_toml(&minimal(""), &NO_ENV).unwrap();
    let missing = c.missing_secrets().join("\n");
    for var in [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "TAILSCALE_API_KEY",
    ] {
        assert!(missing.contains(var), "{missing}");
    }
    let env = [
        ("SLACK_BOT_TOKEN", "x"),
        ("SLACK_SIGNING_SECRET", "x"),
        ("TAILSCALE_API_KEY", "x"),
    ];
    let c = Config::from_toml(&minimal(""), &env).unwrap();
    assert!(c.missing_secrets().is_empty());
    let c = Config::from_toml(
        &format!("[slack]\nsocket_mode = true\n{}", minimal("")),
        &env,
    )
    .unwrap();
    assert_eq!(c.missing_secrets().len(), 1);
    assert!(c.missing_secrets()[0].contains("SLACK_APP_TOKEN"));
}

#[test]
fn unknown_keys_are_errors_everywhere() {
    let p = problems(&format!(
        "[server]\nlisten_addr = \"x\"\n[requests]\npending_timout = \"1h\"\n{}",
        minimal("aprovers = [\"alice@example.com\"]")
    ));
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(p.iter().any(|l| l.starts_with("server.listen_addr")));
    assert!(p.iter().any(|l| l.starts_with("requests.pending_timout")));
    assert!(p
        .iter()
        .any(|l| l.starts_with("profiles.0.aprovers") || l.contains("aprovers")));
}

#[test]
fn three_mistakes_give_three_messages_naming_their_keys() {
    let p = problems(
        "[[profiles]]\nattribute = \"prodAccess\"\nmax_duration = \"90d\"\ndevices = \"all\"\n",
    );
    assert_eq!(p.len(), 3, "{p:#?}");
    assert_eq!(
        p[0],
        "profiles[0].attribute \"prodAccess\": must start with \"custom:\""
    );
    assert!(
        p[1].starts_with("profiles[0].max_duration \"90d\": must be between"),
        "{}",
        p[1]
    );
    assert!(p[2].starts_with("profiles[0].devices \"all\""), "{}", p[2]);
}

#[test]
fn at_least_one_profile() {
    assert_one_problem("", "profiles: at least one [[profiles]] entry is required");
}

#[test]
fn attribute_rules() {
    assert_one_problem(
        &minimal("").replace("custom:prod", &format!("custom:{}", "a".repeat(44))),
        "must be at most 50 characters",
    );
    assert_one_problem(
        &minimal("").replace("custom:prod", "custom:prod-access"),
        "may only contain",
    );
    assert_one_problem(
        "[[profiles]]\nmax_duration = \"1h\"\n",
        "profiles[0].attribute: is required",
    );
    let dup = format!(
        "{}{}",
        minimal(""),
        minimal("").replace("custom:prod", "custom:PROD")
    );
    assert_one_problem(
        &dup,
        "profiles[1].attribute \"custom:PROD\": is already used by profiles[0]",
    );
}

#[test]
fn value_rules() {
    assert!(problems(&minimal("value = 9007199254740991")).is_empty());
    assert!(problems(&minimal("value = \"tier_1.a\"")).is_empty());
    assert_one_problem(&minimal("value = 9007199254740992"), "profiles[0].value");
    assert_one_problem(&minimal("value = \"has space\""), "may only contain");
    assert_one_problem(
        &minimal(&format!("value = \"{}\"", "a".repeat(51))),
        "at most 50",
    );
    assert_one_problem(
        &minimal("value = 1.5"),
        "must be a boolean, an integer or a string",
    );
    assert_one_problem(&minimal("value = \"\""), "must not be empty");
}

#[test]
fn max_duration_rules() {
    assert!(problems(&minimal("").replace("8h", "1m")).is_empty());
    assert!(problems(&minimal("").replace("8h", "30d")).is_empty());
    assert_one_problem(
        &minimal("").replace("8h", "59s"),
        "profiles[0].max_duration \"59s\": must be between",
    );
    assert_one_problem(&minimal("").replace("8h", "31d"), "must be between");
    assert_one_problem(&minimal("").replace("8h", "forever"), "not a duration");
    assert_one_problem(
        "[[profiles]]\nattribute = \"custom:a\"\n",
        "profiles[0].max_duration: is required",
    );
}

#[test]
fn approver_rules() {
    assert_one_problem(
        &minimal("approvers = [\"alice\"]"),
        "profiles[0].approvers[0] \"alice\": must be an e-mail",
    );
    assert_one_problem(
        &minimal("approvers = [\"@bad handle\"]"),
        "profiles[0].approvers[0]",
    );
    assert_one_problem(
        &minimal("approvers = [\"U1A\", \"U1A\"]"),
        "profiles[0].approvers[1] \"U1A\": is listed twice",
    );
    assert!(problems(&minimal(
        "approvers = [\"W012A3CDE\", \"bob@example.org\", \"@sre\"]"
    ))
    .is_empty());
}

#[test]
fn notify_channel_devices_and_self_approval_rules() {
    assert_one_problem(
        &minimal("notify_channel = \"#general\""),
        "profiles[0].notify_channel \"#general\": must be a channel ID",
    );
    assert_one_problem(
        &minimal("notify_channel = \"D024BE91L\""),
        "profiles[0].notify_channel",
    );
    assert_one_problem(
        &minimal("devices = \"everything\""),
        "must be one of \"own\", \"own_and_tagged\", \"any\"",
    );
    assert_one_problem(
        &minimal("confirm_self_approval = true"),
        "only applies when can_self_approve = true",
    );
    assert_one_problem(
        &minimal(&format!("description = \"{}\"", "d".repeat(76))),
        "profiles[0].description",
    );
}

#[test]
fn the_public_url_must_be_https_except_on_this_machine() {
    assert_one_problem(
        &format!(
            "[server]\npublic_url = \"http://accessbot.example.com\"\n{}",
            minimal("")
        ),
        "server.public_url \"http://accessbot.example.com\": must be https://: Slack refuses",
    );
    let env = [("ACCESSBOT_PUBLIC_URL", "http://bot.example.net")];
    let problems = Config::from_toml(&minimal(""), &env)
        .unwrap_err()
        .problems();
    assert!(problems[0].contains("must be https://"), "{problems:?}");
    for ok in [
        "http://localhost:8080",
        "http://127.0.0.1:3000/",
        "https://bot.example.net",
    ] {
        let env = [("ACCESSBOT_PUBLIC_URL", ok)];
        let config = Config::from_toml(&minimal(""), &env).unwrap();
        assert!(config.server.public_url.is_some(), "{ok}");
    }
}

#[test]
fn url_and_duration_rules_elsewhere() {
    for (section, expected) in [
        (
            "[slack]\napi_url = \"not a url\"",
            "slack.api_url \"not a url\"",
        ),
        ("[tailscale]\napi_url = \"ftp://x\"", "tailscale.api_url"),
        (
            "[server]\npublic_url = \"example.com\"",
            "server.public_url",
        ),
        ("[server]\nlisten = \"8080\"", "server.listen \"8080\""),
        (
            "[database]\nurl = \"mysql://u:pw@h/db\"",
            "database.url \"mysql://u:***@h/db\"",
        ),
        (
            "[requests]\npending_timeout = \"1h\"\nremind_after = \"2h\"",
            "requests.remind_after \"2h\": must be shorter",
        ),
    ] {
        assert_one_problem(&format!("{section}\n{}", minimal("")), expected);
    }
    let env = [("ACCESSBOT_LISTEN", "nope")];
    let p = Config::from_toml(&minimal(""), &env)
        .unwrap_err()
        .problems();
    assert_eq!(p, vec!["server.listen (env ACCESSBOT_LISTEN) \"nope\": must be an address and port, e.g. \"0.0.0.0:8080\"".to_string()]);
}

#[test]
fn half_an_oauth_client_is_an_error() {
    let env = [("TAILSCALE_OAUTH_CLIENT_ID", "cid")];
    let p = Config::from_toml(&minimal(""), &env)
        .unwrap_err()
        .problems();
    assert_eq!(p.len(), 1);
    assert!(p[0].contains("TAILSCALE_OAUTH_CLIENT_SECRET must be set"));
}

#[test]
fn bad_toml_is_a_parse_error_not_a_panic() {
    let e = Config::from_toml("[[profiles]\nattribute = ", &NO_ENV).unwrap_err();
    assert!(matches!(e, LoadError::Parse { .. }));
    let e = Config::from_toml("[server]\nlisten = 5\n", &NO_ENV).unwrap_err();
    assert!(e.to_string().contains("listen"), "{e}");
}

#[test]
fn redact_url_hides_passwords() {
    assert_eq!(
        redact_url("postgres://u:secret@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(redact_url("sqlite://accessbot.db"), "sqlite://accessbot.db");
}
