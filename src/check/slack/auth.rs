//! `auth.test`: the bot token works, and has every scope the code uses.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::{Check, Failure, TOKEN_FIX};
use crate::config::SlackConfig;
use crate::manifest::BOT_SCOPES;

const SCOPES: &str = "Slack bot scopes";

/// What `auth.test` told about the token.
#[derive(Debug, Clone)]
pub(super) struct Identity {
    /// The bot user's name, for `/invite @name`.
    pub user: String,
}

#[derive(Deserialize)]
struct AuthTestBody {
    ok: bool,
    error: Option<String>,
    user: Option<String>,
    user_id: Option<String>,
    team: Option<String>,
    team_id: Option<String>,
    bot_id: Option<String>,
}

/// `auth.test` by hand: slack-morphism's typed call hides the response
/// headers, and the granted scopes are only in `x-oauth-scopes`.
pub(super) async fn auth_test(
    config: &SlackConfig,
    token: &SecretString,
) -> Result<(Identity, String, Check), Failure> {
    let url = format!(
        "{}/auth.test",
        config.api_url.as_str().trim_end_matches('/')
    );
    let unreachable = |e: reqwest::Error| {
        Failure {
        problem: if e.is_timeout() {
            format!(
                "Slack did not answer within {}",
                humantime::format_duration(config.request_timeout)
            )
        } else {
            format!("cannot reach Slack at {url}: {}", error_chain(&e.without_url()))
        },
        fix: "check that this host can reach Slack over HTTPS (proxy, firewall, DNS) and that slack.api_url (env ACCESSBOT_SLACK_API_URL) is right; raise slack.request_timeout if Slack is only slow".into(),
    }
    };
    let http = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("accessbot/", env!("CARGO_PKG_VERSION")))
        .timeout(config.request_timeout)
        .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
        // Never send the token on to wherever a redirect points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(unreachable)?;
    let response = http
        .post(&url)
        .bearer_auth(token.expose_secret())
        .send()
        .await
        .map_err(unreachable)?;
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(Failure {
            problem: "Slack is rate limiting this token (HTTP 429)".into(),
            fix: "run the check again in a minute".into(),
        });
    }
    if !status.is_success() {
        return Err(Failure {
            problem: format!("Slack answered auth.test with HTTP {status}"),
            fix: "check slack.api_url (env ACCESSBOT_SLACK_API_URL; normally https://slack.com/api) and https://slack-status.com".into(),
        });
    }
    let granted = response
        .headers()
        .get("x-oauth-scopes")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body: AuthTestBody = response.json().await.map_err(|e| Failure {
        problem: format!("Slack's auth.test answer is not what Slack sends: {e}"),
        fix: "check slack.api_url (env ACCESSBOT_SLACK_API_URL; normally https://slack.com/api)"
            .into(),
    })?;
    if !body.ok {
        let code = body.error.unwrap_or_else(|| "unknown_error".into());
        return Err(Failure {
            problem: format!("Slack refused the bot token ({code})"),
            fix: TOKEN_FIX.into(),
        });
    }
    if body.bot_id.is_none() {
        return Err(Failure {
            problem: "the token works but is not a bot token (auth.test shows no bot)".into(),
            fix: TOKEN_FIX.into(),
        });
    }
    let user = body
        .user
        .unwrap_or_else(|| crate::manifest::APP_NAME.into());
    let detail = format!(
        "bot @{user} ({}) in {} ({})",
        body.user_id.unwrap_or_default(),
        body.team.unwrap_or_default(),
        body.team_id.unwrap_or_default()
    );
    Ok((Identity { user }, detail, scope_check(granted.as_deref())))
}

fn scope_check(granted: Option<&str>) -> Check {
    let Some(granted) = granted else {
        return Check::fail(
            SCOPES,
            "Slack did not say which scopes the token has (no x-oauth-scopes header)",
            "check slack.api_url (env ACCESSBOT_SLACK_API_URL): it must reach Slack's Web API directly, not through a proxy that drops headers",
        );
    };
    let missing = missing_scopes(granted);
    if missing.is_empty() {
        return Check::pass(SCOPES, BOT_SCOPES.join(", "));
    }
    let list = missing.join(", ");
    Check::fail(
        SCOPES,
        format!("the bot token lacks {list}"),
        format!(
            "add {list} under OAuth & Permissions → Bot Token Scopes (api.slack.com/apps → your app), then reinstall the app to the workspace (or re-create the app from `accessbot manifest`)"
        ),
    )
}

/// The scopes of [`BOT_SCOPES`] that are not in Slack's comma-separated list.
fn missing_scopes(granted: &str) -> Vec<&'static str> {
    let granted: Vec<&str> = granted.split(',').map(str::trim).collect();
    BOT_SCOPES
        .iter()
        .copied()
        .filter(|s| !granted.contains(s))
        .collect()
}

/// An error with its causes, which reqwest keeps out of `Display`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_needed_scope_granted_is_nothing_missing() {
        assert!(missing_scopes(&BOT_SCOPES.join(",")).is_empty());
        assert!(missing_scopes(&format!("{}, incoming-webhook", BOT_SCOPES.join(", "))).is_empty());
    }

    #[test]
    fn missing_scopes_are_named_in_manifest_order() {
        assert_eq!(
            missing_scopes("commands,chat:write,users:read"),
            vec!["users:read.email", "usergroups:read"]
        );
        assert_eq!(missing_scopes(""), BOT_SCOPES.to_vec());
        // `users:read.email` does not imply `users:read`, nor a prefix a scope.
        assert_eq!(
            missing_scopes("commands,chat:write:bot,users:read.email,usergroups:read"),
            vec!["chat:write", "users:read"]
        );
    }

    #[test]
    fn the_scope_check_names_what_to_add_and_where() {
        let check = scope_check(Some("commands,chat:write,users:read,users:read.email"));
        let Err(f) = check.result else {
            panic!("should fail")
        };
        assert!(f.problem.contains("usergroups:read"), "{}", f.problem);
        assert!(f.fix.contains("Bot Token Scopes"), "{}", f.fix);
        assert!(f.fix.contains("reinstall"), "{}", f.fix);
        assert!(!scope_check(None).passed());
    }
}
