//! Conversations and the `chat.*` methods: posting (to channels the bot is
//! in, or to a user's DM), updating, ephemeral messages, and scheduled
//! messages, each within Slack's message limits.

use std::time::Duration;

use serde_json::{json, Value};

use super::block_kit::check_message;
use super::server::{ok, str_param, Reply};
use super::{FakeSlack, Inner, BOT_ID, BOT_USER_ID};

/// The furthest ahead `chat.scheduleMessage` accepts (Slack: 120 days).
pub const MAX_SCHEDULE_AHEAD: Duration = Duration::from_secs(120 * 24 * 3600);

/// A message as it stands now (after any `chat.update`).
#[derive(Debug, Clone)]
pub struct Message {
    pub channel: String,
    pub ts: String,
    pub text: String,
    pub blocks: Value,
    /// Every version, oldest first (the first is the post).
    pub versions: Vec<Value>,
}

impl Message {
    /// The whole message (text and blocks) as one string, for searching.
    pub fn render(&self) -> String {
        format!("{}\n{}", self.text, self.blocks)
    }

    /// The `action_id`s of the buttons it shows now.
    pub fn buttons(&self) -> Vec<String> {
        let mut out = Vec::new();
        collect_buttons(&self.blocks, &mut out);
        out
    }
}

fn collect_buttons(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if m.get("type").and_then(Value::as_str) == Some("button") {
                if let Some(id) = m.get("action_id").and_then(Value::as_str) {
                    out.push(id.to_owned());
                }
            }
            m.values().for_each(|v| collect_buttons(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| collect_buttons(v, out)),
        _ => {}
    }
}

/// A message scheduled with `chat.scheduleMessage` and not deleted (yet).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledMessage {
    /// `Q…`, what `chat.deleteScheduledMessage` takes.
    pub id: String,
    /// The conversation ID (`D…` for a DM).
    pub channel: String,
    /// Unix seconds.
    pub post_at: i64,
    pub text: String,
}

#[derive(Default)]
pub(super) struct ChatState {
    /// Channels the bot may post in.
    channels: Vec<String>,
    messages: Vec<Message>,
    /// (channel, user, text).
    ephemeral: Vec<(String, String, String)>,
    scheduled: Vec<ScheduledMessage>,
}

impl FakeSlack {
    /// A channel the bot is a member of.
    pub fn add_channel(&self, id: &str) {
        self.lock().chat.channels.push(id.into());
    }

    /// The DM channel ID Slack answers with for a user's DM with the bot.
    pub fn dm_channel(user: &str) -> String {
        format!("D{}", &user[1..])
    }

    pub fn messages(&self) -> Vec<Message> {
        self.lock().chat.messages.clone()
    }

    /// Messages in a conversation (a user ID means that user's DM), oldest first.
    pub fn messages_in(&self, channel: &str) -> Vec<Message> {
        let channel = if is_user_id(channel) {
            Self::dm_channel(channel)
        } else {
            channel.to_owned()
        };
        self.messages()
            .into_iter()
            .filter(|m| m.channel == channel)
            .collect()
    }

    /// (channel, user, text) of every ephemeral message.
    pub fn ephemeral(&self) -> Vec<(String, String, String)> {
        self.lock().chat.ephemeral.clone()
    }

    /// Messages scheduled and not deleted, in the order they were scheduled.
    pub fn scheduled(&self) -> Vec<ScheduledMessage> {
        self.lock().chat.scheduled.clone()
    }
}

fn is_user_id(id: &str) -> bool {
    id.starts_with('U') || id.starts_with('W')
}

/// The conversation a post to `target` lands in: a user ID means their DM
/// (unless the user is unknown or deactivated); a channel must have the bot.
fn conversation(inner: &Inner, target: &str) -> Result<String, String> {
    if is_user_id(target) {
        match inner.directory.users.get(target) {
            Some(u) if !u.deleted => Ok(FakeSlack::dm_channel(target)),
            Some(_) => Err("user_disabled".into()),
            None => Err("channel_not_found".into()),
        }
    } else if inner.chat.channels.iter().any(|c| c == target) || target.starts_with('D') {
        Ok(target.to_owned())
    } else {
        Err("not_in_channel".into())
    }
}

pub(super) fn post_message(inner: &mut Inner, p: &Value) -> Reply {
    let target = str_param(p, "channel").ok_or("channel_not_found")?;
    let channel = conversation(inner, target)?;
    check_message(p)?;
    let ts = format!("1700000000.{:06}", inner.next_seq());
    let text = str_param(p, "text").unwrap_or("").to_owned();
    let blocks = p.get("blocks").cloned().unwrap_or(json!([]));
    inner.chat.messages.push(Message {
        channel: channel.clone(),
        ts: ts.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        versions: vec![json!({ "text": text, "blocks": blocks })],
    });
    Ok(ok(json!({
        "channel": channel,
        "ts": ts,
        "message": {
            "type": "message",
            "text": text,
            "blocks": blocks,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
        }
    })))
}

/// Like `chat.postMessage` (same channel rules and message limits), but
/// kept aside until `post_at`, which must be in the future and at most
/// [`MAX_SCHEDULE_AHEAD`] away. The fake never posts it.
pub(super) fn schedule_message(inner: &mut Inner, p: &Value) -> Reply {
    let target = str_param(p, "channel").ok_or("channel_not_found")?;
    let channel = conversation(inner, target)?;
    // JSON bodies carry a number, form bodies a string.
    let post_at = match p.get("post_at") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
    .ok_or("invalid_time")?;
    let now = chrono::Utc::now().timestamp();
    if post_at <= now {
        return Err("time_in_past".into());
    }
    if post_at - now > MAX_SCHEDULE_AHEAD.as_secs() as i64 {
        return Err("time_too_far".into());
    }
    check_message(p)?;
    let id = format!("Q{:010}", inner.next_seq());
    let text = str_param(p, "text").unwrap_or("").to_owned();
    inner.chat.scheduled.push(ScheduledMessage {
        id: id.clone(),
        channel: channel.clone(),
        post_at,
        text: text.clone(),
    });
    Ok(ok(json!({
        "channel": channel,
        "scheduled_message_id": id,
        "post_at": post_at,
        "message": {
            "type": "delayed_message",
            "text": text,
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
        }
    })))
}

pub(super) fn delete_scheduled_message(inner: &mut Inner, p: &Value) -> Reply {
    let channel = str_param(p, "channel").unwrap_or("");
    let id = str_param(p, "scheduled_message_id").unwrap_or("");
    let scheduled = &mut inner.chat.scheduled;
    match scheduled
        .iter()
        .position(|m| m.id == id && m.channel == channel)
    {
        Some(i) => {
            scheduled.remove(i);
            Ok(ok(json!({})))
        }
        None => Err("invalid_scheduled_message_id".into()),
    }
}

pub(super) fn update_message(inner: &mut Inner, p: &Value) -> Reply {
    let channel = str_param(p, "channel")
        .ok_or("channel_not_found")?
        .to_owned();
    let ts = str_param(p, "ts").ok_or("message_not_found")?.to_owned();
    // chat.update needs the conversation ID, not a user ID.
    if is_user_id(&channel) {
        return Err("channel_not_found".into());
    }
    check_message(p)?;
    let text = str_param(p, "text").unwrap_or("").to_owned();
    let blocks = p.get("blocks").cloned().unwrap_or(json!([]));
    let msg = inner
        .chat
        .messages
        .iter_mut()
        .find(|m| m.channel == channel && m.ts == ts)
        .ok_or("message_not_found")?;
    msg.text = text.clone();
    msg.blocks = blocks.clone();
    msg.versions
        .push(json!({ "text": text.clone(), "blocks": blocks.clone() }));
    Ok(ok(json!({
        "channel": channel,
        "ts": ts,
        "text": text,
        "message": { "text": text, "blocks": blocks, "user": BOT_USER_ID, "bot_id": BOT_ID }
    })))
}

pub(super) fn post_ephemeral(inner: &mut Inner, p: &Value) -> Reply {
    let channel = str_param(p, "channel").unwrap_or("").to_owned();
    let user = str_param(p, "user").unwrap_or("").to_owned();
    let text = str_param(p, "text").unwrap_or("").to_owned();
    if !inner.directory.users.contains_key(&user) {
        return Err("user_not_found".into());
    }
    inner.chat.ephemeral.push((channel, user, text));
    let ts = format!("1700000000.{:06}", inner.next_seq());
    Ok(ok(json!({ "message_ts": ts })))
}
