//! Tolerant parsing of what Slack sends. One model covers every
//! interaction type and keeps what slack-morphism's typed events drop (a
//! modal's state and hash in `block_actions`/`block_suggestion`); an
//! unknown type parses too and is answered cleanly.

use std::collections::HashMap;

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
pub struct Interaction {
    #[serde(rename = "type")]
    pub kind: String,
    pub user: Option<UserRef>,
    /// The workspace it came from (`team.id`; some payloads say `team_id`).
    pub team: Option<IdRef>,
    pub team_id: Option<String>,
    pub trigger_id: Option<String>,
    /// Shortcuts: which shortcut.
    pub callback_id: Option<String>,
    pub view: Option<ViewPayload>,
    #[serde(default)]
    pub actions: Vec<Action>,
    pub container: Option<Container>,
    pub channel: Option<IdRef>,
    pub message: Option<MessagePayload>,
    /// block_suggestion: the element asking and the typed text.
    pub action_id: Option<String>,
    pub block_id: Option<String>,
    pub value: Option<String>,
    /// block_actions on a message: the values of its inputs and selects.
    pub state: Option<ViewState>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct UserRef {
    pub id: String,
    pub team_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdRef {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MessagePayload {
    pub ts: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Container {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub channel_id: Option<String>,
    pub message_ts: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ViewPayload {
    /// `modal`, or `home` for a click in the App Home.
    #[serde(rename = "type", default)]
    pub kind: String,
    pub id: String,
    pub hash: Option<String>,
    pub callback_id: Option<String>,
    pub private_metadata: Option<String>,
    pub state: Option<ViewState>,
    /// The view's blocks as shown: which questions it asked.
    #[serde(default)]
    pub blocks: Vec<BlockRef>,
}

/// A block of a view: only what says which blocks are questions.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct BlockRef {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub block_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ViewState {
    #[serde(default)]
    pub values: HashMap<String, HashMap<String, StateValue>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StateValue {
    pub value: Option<String>,
    pub selected_option: Option<SelectedOption>,
    pub selected_user: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SelectedOption {
    pub value: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Action {
    pub action_id: String,
    pub block_id: Option<String>,
    pub value: Option<String>,
    pub selected_option: Option<SelectedOption>,
}

impl Interaction {
    pub fn user_id(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.id.as_str())
    }

    /// The workspace the payload came from: `team.id`, else `team_id`,
    /// else the user's team.
    pub fn team_id(&self) -> Option<&str> {
        self.team
            .as_ref()
            .map(|t| t.id.as_str())
            .or(self.team_id.as_deref())
            .or(self.user.as_ref().and_then(|u| u.team_id.as_deref()))
    }

    /// The value of input `block_id`/`action_id` when a button was
    /// clicked: from the message's state, or the view's (App Home).
    pub fn input(&self, block_id: &str, action_id: &str) -> Option<String> {
        let from_message = self
            .state
            .as_ref()
            .and_then(|s| s.values.get(block_id)?.get(action_id))
            .and_then(StateValue::answer);
        from_message.or_else(|| self.view.as_ref()?.input(block_id, action_id))
    }

    /// The channel a message action happened in.
    pub fn channel_id(&self) -> Option<&str> {
        self.container
            .as_ref()
            .and_then(|c| c.channel_id.as_deref())
            .or(self.channel.as_ref().map(|c| c.id.as_str()))
    }
}

impl ViewPayload {
    /// The block IDs of the view's input blocks: the only keys Slack
    /// accepts for `response_action: errors`.
    pub fn input_blocks(&self) -> impl Iterator<Item = &str> {
        self.blocks
            .iter()
            .filter(|b| b.kind == "input")
            .filter_map(|b| b.block_id.as_deref())
    }

    /// The value of input `block_id`/`action_id`, whatever element holds it:
    /// a selected option's value, a selected user, or typed text.
    pub fn input(&self, block_id: &str, action_id: &str) -> Option<String> {
        self.state
            .as_ref()?
            .values
            .get(block_id)?
            .get(action_id)?
            .answer()
    }
}

impl StateValue {
    /// What it holds, whatever the element: a selected option's value, a
    /// selected user, or typed text.
    fn answer(&self) -> Option<String> {
        self.selected_option
            .as_ref()
            .map(|o| o.value.clone())
            .or_else(|| self.selected_user.clone())
            .or_else(|| self.value.clone())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not a form with a `payload` field")]
    NoPayload,
    #[error("payload is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// Parse an interactivity body: `payload=<JSON>`, form-encoded (only that
/// field is decoded: every click goes through here).
pub fn parse_interaction(body: &[u8]) -> Result<Interaction, PayloadError> {
    let raw = url::form_urlencoded::parse(body)
        .find(|(key, _)| key == "payload")
        .map(|(_, value)| value)
        .ok_or(PayloadError::NoPayload)?;
    Ok(serde_json::from_str(&raw)?)
}

/// A slash command invocation (form-encoded).
#[derive(Debug, Clone, Deserialize)]
pub struct SlashCommand {
    pub user_id: String,
    pub trigger_id: String,
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub channel_id: Option<String>,
    pub team_id: Option<String>,
}

pub fn parse_command(body: &[u8]) -> Result<SlashCommand, PayloadError> {
    serde_urlencoded::from_bytes(body).map_err(|_| PayloadError::NoPayload)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(json: &str) -> Vec<u8> {
        serde_urlencoded::to_string([("payload", json)])
            .unwrap()
            .into_bytes()
    }

    #[test]
    fn parses_a_view_submission_with_every_kind_of_input() {
        let json = r#"{"type":"view_submission","user":{"id":"U1"},"view":{"id":"V1","hash":"h","private_metadata":"{\"p\":\"custom:prod\"}",
          "state":{"values":{"profile":{"profile":{"type":"static_select","selected_option":{"text":{"type":"plain_text","text":"Prod"},"value":"custom:prod"}}},
          "approver":{"approver":{"type":"users_select","selected_user":"U2"}},
          "reason":{"reason":{"type":"plain_text_input","value":"because"}}}},
          "blocks":[{"type":"input","block_id":"profile"},{"type":"context","elements":[]},{"type":"input","block_id":"reason"},{"type":"divider"}]}}"#;
        let i = parse_interaction(&encode(json)).unwrap();
        let view = i.view.unwrap();
        assert_eq!(
            view.input_blocks().collect::<Vec<_>>(),
            vec!["profile", "reason"]
        );
        assert_eq!(
            view.input("profile", "profile").as_deref(),
            Some("custom:prod")
        );
        assert_eq!(view.input("approver", "approver").as_deref(), Some("U2"));
        assert_eq!(view.input("reason", "reason").as_deref(), Some("because"));
        assert_eq!(view.input("device", "device"), None);
    }

    #[test]
    fn a_message_click_carries_its_inputs() {
        let json = r#"{"type":"block_actions","user":{"id":"U1"},
          "container":{"type":"message","channel_id":"D1","message_ts":"1.2"},
          "state":{"values":{"decision":{"approve_duration":{"type":"static_select","selected_option":{"text":{"type":"plain_text","text":"for 1h"},"value":"3600"}}},
          "deny_reason":{"deny_reason":{"type":"plain_text_input","value":"use staging"}}}},
          "actions":[{"action_id":"approve","block_id":"decision","value":"r","type":"button"}]}"#;
        let i = parse_interaction(&encode(json)).unwrap();
        assert_eq!(
            i.input("decision", "approve_duration").as_deref(),
            Some("3600")
        );
        assert_eq!(
            i.input("deny_reason", "deny_reason").as_deref(),
            Some("use staging")
        );
        assert_eq!(i.input("decision", "other"), None);
        assert_eq!(i.channel_id(), Some("D1"));
    }

    #[test]
    fn unknown_types_parse_and_garbage_is_an_error() {
        let i = parse_interaction(&encode(r#"{"type":"something_new"}"#)).unwrap();
        assert_eq!(i.kind, "something_new");
        assert!(parse_interaction(b"payload=%7Bnot-json").is_err());
        assert!(parse_interaction(b"nothing=here").is_err());
        assert!(parse_interaction(&encode(r#"{"no_type":1}"#)).is_err());
    }

    #[test]
    fn parses_a_slash_command() {
        let c = parse_command(b"user_id=U1&trigger_id=T.1&command=%2Faccess&text=&channel_id=C1")
            .unwrap();
        assert_eq!(
            (
                c.user_id.as_str(),
                c.trigger_id.as_str(),
                c.command.as_str()
            ),
            ("U1", "T.1", "/access")
        );
        assert!(parse_command(b"text=hi").is_err());
    }
}
