//! The Slack checks: the bot token works and has every scope the code
//! uses, every configured approver resolves to a person, and the bot can
//! post in every notify channel (tested with a scheduled message that is
//! deleted at once, so nobody sees anything).

use std::time::Duration;

use futures::StreamExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::OnceCell;

use super::{Check, Failure};
use crate::config::{Config, SlackConfig};
use crate::domain::ApproverRef;
use crate::manifest::BOT_SCOPES;
use crate::metrics::Metrics;
use crate::slack::api::{SlackApi, SlackApiError, SlackResult};

const AUTH: &str = "Slack auth.test";
const SCOPES: &str = "Slack bot scopes";
/// How far ahead the channel test message is scheduled (Slack allows 120 days).
const TEST_POST_AHEAD: chrono::Duration = chrono::Duration::days(100);
const TEST_TEXT: &str =
    "accessbot check: can the bot post here? (This scheduled message is deleted at once.)";
/// Approver lookups in flight at once: quick, yet far below Slack's rate limits.
const LOOKUPS_IN_FLIGHT: usize = 4;

const TOKEN_FIX: &str = "set SLACK_BOT_TOKEN (or slack.bot_token) to the app's Bot User OAuth Token, xoxb-… (api.slack.com/apps → your app → OAuth & Permissions); if it was revoked, reinstall the app to the workspace and use the new token";

/// What `auth.test` told about the token.
#[derive(Debug, Clone)]
struct Identity {
    /// The bot user's name, for `/invite @name`.
    user: String,
}

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let Some(token) = &config.slack.bot_token else {
        return vec![Check::fail(
            AUTH,
            "not checked: there is no bot token",
            TOKEN_FIX,
        )];
    };
    let mut out = Vec::new();
    let identity = match auth_test(&config.slack, token).await {
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
    let (approvers, channels) =
        tokio::join!(approvers(&api, config), channels(&api, config, &identity));
    out.extend(approvers);
    out.extend(channels);
    out
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
async fn auth_test(
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
pub(super) fn missing_scopes(granted: &str) -> Vec<&'static str> {
    let granted: Vec<&str> = granted.split(',').map(str::trim).collect();
    BOT_SCOPES
        .iter()
        .copied()
        .filter(|s| !granted.contains(s))
        .collect()
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

// ---------------------------------------------------------------- approvers

async fn approvers(api: &SlackApi, config: &Config) -> Vec<Check> {
    let groups = OnceCell::new();
    let entries: Vec<(String, &ApproverRef)> = config
        .profiles
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            p.approvers
                .iter()
                .enumerate()
                .map(move |(j, a)| (format!("profiles[{i}].approvers[{j}]"), a))
        })
        .collect();
    futures::stream::iter(entries)
        .map(|(key, approver)| {
            let groups = &groups;
            async move {
                let name = format!("{key} {approver}");
                match approver_result(api, groups, &key, approver).await {
                    Ok(detail) => Check::pass(name, detail),
                    Err(f) => Check::failed(name, f),
                }
            }
        })
        .buffered(LOOKUPS_IN_FLIGHT)
        .collect()
        .await
}

/// Why a Slack user cannot approve, if they cannot.
fn unusable(user: &crate::slack::api::SlackUserInfo, key: &str) -> Result<String, Failure> {
    let who = format!("{} ({})", user.name, user.id);
    if user.deleted {
        Err(Failure {
            problem: format!("{who} is deactivated in Slack"),
            fix: format!("replace {key} with someone who can approve"),
        })
    } else if user.is_bot {
        Err(Failure {
            problem: format!("{who} is a bot, which cannot approve"),
            fix: format!("replace {key} with a person"),
        })
    } else {
        Ok(who)
    }
}

async fn approver_result(
    api: &SlackApi,
    groups: &OnceCell<SlackResult<Vec<(String, String)>>>,
    key: &str,
    approver: &ApproverRef,
) -> Result<String, Failure> {
    match approver {
        ApproverRef::Email(email) => match api.lookup_by_email(email).await {
            Ok(Some(user)) => unusable(&user, key),
            Ok(None) => Err(Failure {
                problem: "no Slack user has this e-mail".into(),
                fix: format!(
                    "correct {key}: it must be the e-mail of the person's Slack account (their profile shows it), or use their Slack member ID (profile → ⋮ → Copy member ID)"
                ),
            }),
            Err(e) => Err(call_failure(&e, "users.lookupByEmail", "users:read.email")),
        },
        ApproverRef::User(id) => match api.user_info(id.as_str()).await {
            Ok(user) => unusable(&user, key),
            Err(e) if e.code() == Some("user_not_found") => Err(Failure {
                problem: "no Slack user has this ID".into(),
                fix: format!(
                    "correct {key} (Slack: the person's profile → ⋮ → Copy member ID), or use their e-mail"
                ),
            }),
            Err(e) => Err(call_failure(&e, "users.info", "users:read")),
        },
        ApproverRef::Group(handle) => {
            let all = groups.get_or_init(|| api.usergroups()).await;
            let all = all
                .as_ref()
                .map_err(|e| call_failure(e, "usergroups.list", "usergroups:read"))?;
            let Some((id, _)) = all.iter().find(|(_, h)| h.eq_ignore_ascii_case(handle)) else {
                return Err(Failure {
                    problem: format!("no Slack user group has the handle @{handle}"),
                    fix: format!(
                        "correct {key} to an existing group's handle (Slack: People → User groups), or create the group"
                    ),
                });
            };
            match api.usergroup_members(id).await {
                Ok(members) if members.is_empty() => Err(Failure {
                    problem: format!("the group @{handle} has no members, so nobody can approve through it"),
                    fix: format!("add the approvers to @{handle} in Slack (People → User groups)"),
                }),
                Ok(members) => Ok(format!("user group {id} with {} member(s)", members.len())),
                Err(e) => Err(call_failure(&e, "usergroups.users.list", "usergroups:read")),
            }
        }
    }
}

// ---------------------------------------------------------- notify channels

async fn channels(api: &SlackApi, config: &Config, identity: &Identity) -> Vec<Check> {
    // One test per channel, naming every profile that posts there.
    let mut channels: Vec<(String, Vec<String>)> = Vec::new();
    for (i, p) in config.profiles.iter().enumerate() {
        let Some(channel) = &p.notify_channel else {
            continue;
        };
        let key = format!("profiles[{i}].notify_channel");
        match channels.iter_mut().find(|(c, _)| c == channel.as_str()) {
            Some((_, keys)) => keys.push(key),
            None => channels.push((channel.as_str().to_owned(), vec![key])),
        }
    }
    let api_url = config.slack.api_url.as_str().trim_end_matches('/');
    let mut out = Vec::with_capacity(channels.len());
    for (channel, keys) in channels {
        let keys = keys.join(", ");
        let name = format!("{keys} {channel}");
        out.push(
            match channel_result(api, &channel, &keys, identity, api_url).await {
                Ok(detail) => Check::pass(name, detail),
                Err(f) => Check::failed(name, f),
            },
        );
    }
    out
}

async fn channel_result(
    api: &SlackApi,
    channel: &str,
    keys: &str,
    identity: &Identity,
    api_url: &str,
) -> Result<String, Failure> {
    let post_at = chrono::Utc::now() + TEST_POST_AHEAD;
    let invite = format!(
        "invite the bot: /invite @{} in that channel (a private channel too); if the ID is wrong, correct {keys} (channel details → About → Channel ID)",
        identity.user
    );
    let scheduled = match api.schedule_message(channel, TEST_TEXT, post_at).await {
        Ok(scheduled) => scheduled,
        Err(e) => {
            return Err(match e.code() {
                Some("not_in_channel") => Failure {
                    problem: "the bot is not a member of this channel".into(),
                    fix: invite,
                },
                Some("channel_not_found") => Failure {
                    problem: "the bot cannot see this channel (a private channel it is not in, or a wrong ID)".into(),
                    fix: invite,
                },
                Some("is_archived") => Failure {
                    problem: "the channel is archived".into(),
                    fix: format!("unarchive it, or set {keys} to another channel"),
                },
                Some("restricted_action" | "restricted_action_read_only_channel") => Failure {
                    problem: "the channel's or workspace's settings do not let the bot post here".into(),
                    fix: format!(
                        "let apps post in the channel (channel settings → Posting permissions), or set {keys} to another channel"
                    ),
                },
                _ => call_failure(&e, "chat.scheduleMessage", "chat:write"),
            });
        }
    };
    match api.delete_scheduled_message(&scheduled.channel, &scheduled.id).await {
        Ok(()) => Ok("the bot can post here (a test message was scheduled and deleted; nothing was posted)".into()),
        Err(e) => Err(Failure {
            problem: format!(
                "the bot can post here, but deleting the test message failed ({e}): it will appear on {} unless deleted",
                post_at.format("%Y-%m-%d")
            ),
            fix: format!(
                "delete it before then: curl -H \"Authorization: Bearer $SLACK_BOT_TOKEN\" -d channel={} -d scheduled_message_id={} {api_url}/chat.deleteScheduledMessage",
                scheduled.channel, scheduled.id
            ),
        }),
    }
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
