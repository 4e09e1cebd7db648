//! The bot can post in every notify and approval channel: tested with a
//! message scheduled far ahead and deleted at once, so nobody sees anything.

use super::auth::Identity;
use super::{call_failure, Check, Failure};
use crate::config::Config;
use crate::slack::api::SlackApi;

/// How far ahead the channel test message is scheduled (Slack allows 120 days).
const TEST_POST_AHEAD: chrono::Duration = chrono::Duration::days(100);
const TEST_TEXT: &str =
    "accessbot check: can the bot post here? (This scheduled message is deleted at once.)";

pub(super) async fn checks(api: &SlackApi, config: &Config, identity: &Identity) -> Vec<Check> {
    // One test per channel, naming every profile that posts there.
    let mut channels: Vec<(String, Vec<String>)> = Vec::new();
    let posting = config.profiles.iter().enumerate().flat_map(|(i, p)| {
        let notify = p.notify_channel.as_ref().map(|c| (c, "notify_channel"));
        let approval = p.approval.channel.as_ref().map(|c| (c, "approval_channel"));
        [notify, approval]
            .into_iter()
            .flatten()
            .map(move |(c, field)| (c, format!("profiles[{i}].{field}")))
    });
    for (channel, key) in posting {
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
