//! The Slack checks: the bot token works and has every scope the code
//! uses, every configured approver resolves to a person, the approval
//! policies are possible (enough approvers, `auto_approve` entries exist),
//! and the bot can post in every notify and approval channel (tested with a
//! scheduled message that is deleted at once, so nobody sees anything).

mod approvers;
mod auth;
mod channels;
mod policies;

use super::{Check, Failure};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::slack::api::{SlackApi, SlackApiError};

const AUTH: &str = "Slack auth.test";

const TOKEN_FIX: &str = "set SLACK_BOT_TOKEN (or slack.bot_token) to the app's Bot User OAuth Token, xoxb-… (api.slack.com/apps → your app → OAuth & Permissions); if it was revoked, reinstall the app to the workspace and use the new token";

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let Some(token) = &config.slack.bot_token else {
        return vec![Check::fail(
            AUTH,
            "not checked: there is no bot token",
            TOKEN_FIX,
        )];
    };
    let mut out = Vec::new();
    let identity = match auth::auth_test(&config.slack, token).await {
        Ok((identity, detail, scopes)) => {
            out.push(Check::pass(AUTH, detail));
            out.push(scopes);
            identity
        }
        Err(failure) => {
            out.push(Check::failed(AUTH, failure));
            out.push(Check::fail(
                "Slack approvers and notify channels",
                "not checked: auth.test failed",
                "fix the Slack problem above, then run the check again",
            ));
            return out;
        }
    };
    let api = match SlackApi::new(&config.slack, Metrics::new()) {
        Ok(api) => api,
        Err(e) => {
            out.push(Check::fail(
                "Slack approvers and notify channels",
                format!("not checked: cannot build the Slack client: {e:#}"),
                "check slack.api_url (env ACCESSBOT_SLACK_API_URL)",
            ));
            return out;
        }
    };
    let (approvers, policies, channels) = tokio::join!(
        approvers::checks(&api, config),
        policies::checks(&api, config),
        channels::checks(&api, config, &identity)
    );
    out.extend(approvers);
    out.extend(policies);
    out.extend(channels);
    out
}

/// The fix for a Slack call that failed for a reason other than the one the
/// check is about: `method` needs `scope`.
fn call_failure(e: &SlackApiError, method: &str, scope: &str) -> Failure {
    match e.code() {
        Some("missing_scope") => Failure {
            problem: format!("{method}: the bot token lacks the scope {scope}"),
            fix: format!(
                "add {scope} under OAuth & Permissions → Bot Token Scopes (api.slack.com/apps → your app), then reinstall the app to the workspace"
            ),
        },
        Some("invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive") => {
            Failure {
                problem: format!("{method}: Slack refused the bot token ({e})"),
                fix: TOKEN_FIX.into(),
            }
        }
        _ if matches!(e, SlackApiError::RateLimited(_)) => Failure {
            problem: format!("{method}: {e}"),
            fix: "run the check again in a minute".into(),
        },
        _ if e.is_transient() => Failure {
            problem: format!("{method}: {e}"),
            fix: "check that this host can reach Slack (proxy, firewall) and run the check again; raise slack.request_timeout if Slack is only slow".into(),
        },
        _ => Failure {
            problem: format!("{method}: {e}"),
            fix: format!("see https://api.slack.com/methods/{method} (Errors) for what Slack means"),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn call_failures_point_at_the_right_fix() {
        let f = call_failure(
            &SlackApiError::Api("missing_scope".into()),
            "users.lookupByEmail",
            "users:read.email",
        );
        assert!(f.problem.contains("users:read.email"));
        let f = call_failure(
            &SlackApiError::Api("invalid_auth".into()),
            "users.info",
            "users:read",
        );
        assert!(f.fix.contains("SLACK_BOT_TOKEN"));
        let f = call_failure(
            &SlackApiError::Timeout(Duration::from_secs(10)),
            "users.info",
            "users:read",
        );
        assert!(f.fix.contains("slack.request_timeout"));
    }
}
