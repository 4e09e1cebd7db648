//! The request modal: what, which device, how long, who approves, why.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use slack_morphism::prelude::*;

use super::approval_note::{in_place_of_approver, policy_note};
use crate::domain::policy::{ApprovalPlan, EligibleApprovers};
use crate::domain::profile::format_duration;
use crate::domain::reason::MAX_REASON_LEN;
use crate::domain::{Field, Profile, SlackUserId};
use crate::slack::blocks::{context, fit, limits, option, plain, radio_option};

pub const CALLBACK_ID: &str = "accessbot_request";

/// Block IDs of the modal; each input's action ID is the same string.
pub mod ids {
    use crate::domain::Field;

    pub const PROFILE: &str = "profile";
    pub const DEVICE: &str = "device";
    pub const DURATION: &str = "duration";
    pub const APPROVER: &str = "approver";
    pub const REASON: &str = "reason";

    /// The block (and action) ID that asks `field`.
    pub fn of(field: Field) -> &'static str {
        match field {
            Field::Profile => PROFILE,
            Field::Device => DEVICE,
            Field::Duration => DURATION,
            Field::Approver => APPROVER,
            Field::Reason => REASON,
        }
    }

    /// How the form asks for `field` (its input's label).
    pub fn question(field: Field) -> &'static str {
        match field {
            Field::Profile => "What do you need?",
            Field::Device => "Which device?",
            Field::Duration => "For how long?",
            Field::Approver => "Who should approve?",
            Field::Reason => "Why?",
        }
    }
}

/// What the modal carries in `private_metadata`. Untrusted on the way back:
/// everything in it is re-checked against config and stored state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FormMeta {
    /// The profile the form was built for.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl FormMeta {
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("serialisable")
    }

    /// Lenient: anything malformed or oversized decodes as empty.
    pub fn decode(raw: Option<&str>) -> Self {
        raw.filter(|r| r.len() <= limits::PRIVATE_METADATA)
            .and_then(|r| serde_json::from_str(r).ok())
            .unwrap_or_default()
    }
}

/// How the approver question is asked.
#[derive(Debug, Clone, PartialEq)]
pub enum ApproverField {
    /// Approvers are being looked up; the form is updated when they are known.
    Loading,
    /// The profile lists nobody: anyone in the workspace, picked with a users select.
    Anyone { self_ok: bool },
    /// The listed approvers (without the requester) and, when allowed, a
    /// self-approval choice whose value is the requester's ID.
    Choices {
        people: Vec<(SlackUserId, String)>,
        self_choice: Option<(SlackUserId, String)>,
    },
    /// Nobody can approve: said plainly instead of an empty list.
    NoOne,
    /// The profile does not ask (every approver is asked, or break glass):
    /// its policy is said instead.
    NotAsked,
    /// The requester is approved without a click (`auto_approve`).
    Automatic,
}

impl ApproverField {
    pub fn for_requester(
        profile: &Profile,
        requester: &SlackUserId,
        resolved: Option<&(EligibleApprovers, Vec<(SlackUserId, String)>)>,
    ) -> Self {
        let Some((eligible, named)) = resolved else {
            return Self::Loading;
        };
        let self_ok = profile.can_self_approve && eligible.includes(requester);
        match eligible {
            EligibleApprovers::Anyone => Self::Anyone { self_ok },
            EligibleApprovers::Listed(_) => {
                let people: Vec<_> = named
                    .iter()
                    .filter(|(u, _)| u != requester)
                    .cloned()
                    .collect();
                let self_choice = self_ok.then(|| {
                    let label = if profile.confirm_self_approval {
                        "Me (I'll confirm in a DM)"
                    } else {
                        "Me (no approval needed)"
                    };
                    (requester.clone(), label.to_owned())
                });
                if people.is_empty() && self_choice.is_none() {
                    Self::NoOne
                } else {
                    Self::Choices {
                        people,
                        self_choice,
                    }
                }
            }
        }
    }
}

/// Values to start the form with (from "Request again").
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Prefill {
    /// (node ID, label) of the device.
    pub device: Option<(String, String)>,
    pub duration: Option<Duration>,
    pub approver: Option<SlackUserId>,
    pub reason: Option<String>,
}

/// The input block that asks for `field`.
fn input(field: Field, element: impl Into<SlackInputBlockElement>) -> SlackInputBlock {
    SlackInputBlock::new(plain(ids::question(field)), element.into())
        .with_block_id(SlackBlockId(ids::of(field).to_owned()))
}

fn action(id: &str) -> SlackActionId {
    SlackActionId(id.to_owned())
}

/// The request modal for `selected`.
pub fn request_form(
    profiles: &[Profile],
    selected: &Profile,
    approvers: &ApproverField,
    prefill: &Prefill,
) -> SlackView {
    let mut blocks: Vec<SlackBlock> = Vec::new();

    let profile_options: Vec<_> = profiles
        .iter()
        .take(limits::OPTIONS)
        .map(|p| option(p.display_name(), p.attribute.as_str()))
        .collect();
    let initial_profile = profile_options
        .iter()
        .find(|o| o.value == selected.attribute.as_str())
        .cloned();
    let mut profile_select = SlackBlockStaticSelectElement::new()
        .with_action_id(action(ids::PROFILE))
        .with_placeholder(plain("Choose what you need"))
        .with_options(profile_options);
    if let Some(initial) = initial_profile {
        profile_select = profile_select.with_initial_option(initial);
    }
    blocks.push(
        input(Field::Profile, profile_select)
            .with_dispatch_action(true)
            .into(),
    );
    blocks.push(context(format!(
        "Sets `{}` on the device for up to {}.",
        selected.attribute,
        format_duration(selected.max_duration)
    )));

    let mut device = SlackBlockExternalSelectElement::new()
        .with_action_id(action(ids::DEVICE))
        .with_placeholder(plain("Search by name, IP or node ID"))
        .with_min_query_length(0);
    if let Some((value, label)) = &prefill.device {
        device = device.with_initial_option(option(label, value.clone()));
    }
    let device_hint = match selected.devices {
        crate::domain::DevicePolicy::Own => "Your own devices.",
        crate::domain::DevicePolicy::OwnAndTagged => "Your own devices and tagged servers.",
        crate::domain::DevicePolicy::Any => {
            "Your devices are listed first; any device may be chosen."
        }
    };
    blocks.push(
        input(Field::Device, device)
            .with_hint(plain(device_hint))
            .into(),
    );

    let durations: Vec<_> = selected
        .allowed_durations()
        .into_iter()
        .map(|d| option(&format_duration(d), d.as_secs().to_string()))
        .collect();
    let mut duration = SlackBlockStaticSelectElement::new()
        .with_action_id(action(ids::DURATION))
        .with_placeholder(plain("Choose a duration"));
    if let Some(initial) = prefill.duration.and_then(|d| {
        durations
            .iter()
            .find(|o| o.value == d.as_secs().to_string())
            .cloned()
    }) {
        duration = duration.with_initial_option(initial);
    }
    blocks.push(input(Field::Duration, duration.with_options(durations)).into());

    blocks.push(approver_block(
        selected,
        approvers,
        prefill.approver.as_ref(),
    ));

    let mut reason = SlackBlockPlainTextInputElement::new()
        .with_action_id(action(ids::REASON))
        .with_multiline(true)
        .with_max_length(MAX_REASON_LEN as u64)
        .with_placeholder(plain("e.g. deploy hotfix for INC-42"));
    if let Some(r) = &prefill.reason {
        reason = reason.with_initial_value(fit(r, MAX_REASON_LEN));
    }
    blocks.push(input(Field::Reason, reason).into());

    SlackView::Modal(
        SlackModalView::new(plain("Request access"), blocks)
            .with_submit(plain("Request"))
            .with_close(plain("Cancel"))
            .with_callback_id(SlackCallbackId(CALLBACK_ID.to_owned()))
            .with_private_metadata(
                FormMeta {
                    profile: Some(selected.attribute.as_str().to_owned()),
                }
                .encode(),
            ),
    )
}

fn approver_block(
    profile: &Profile,
    field: &ApproverField,
    prefill: Option<&SlackUserId>,
) -> SlackBlock {
    match field {
        ApproverField::NotAsked => in_place_of_approver(policy_note(profile)),
        ApproverField::Automatic => in_place_of_approver(
            ":white_check_mark: You are approved automatically for this access: no approver is needed.".into(),
        ),
        ApproverField::Loading => context("_Looking up who can approve…_"),
        ApproverField::NoOne => context(
            ":warning: Nobody who can approve this access was found in Slack. Ask the accessbot admins to check the profile's approvers.",
        ),
        ApproverField::Anyone { self_ok } => {
            let mut select = SlackBlockUsersSelectElement::new()
                .with_action_id(action(ids::APPROVER))
                .with_placeholder(plain("Choose a person"));
            if let Some(u) = prefill {
                select = select.with_initial_user(u.to_string());
            }
            let mut block = input(Field::Approver, select);
            if *self_ok {
                block = block
                    .with_optional(true)
                    .with_hint(plain("Leave empty if no approval is needed: you may grant this to yourself."));
            }
            block.into()
        }
        ApproverField::Choices { people, self_choice } => {
            let all: Vec<(&SlackUserId, &str)> = self_choice
                .iter()
                .chain(people.iter())
                .map(|(u, n)| (u, n.as_str()))
                .collect();
            let initial = prefill.and_then(|p| all.iter().find(|(u, _)| *u == p));
            if all.len() <= limits::RADIO_OPTIONS {
                let options: Vec<_> = all.iter().map(|(u, n)| radio_option(n, u.to_string())).collect();
                let mut radio = SlackBlockRadioButtonsElement::new(options).with_action_id(action(ids::APPROVER));
                if let Some((u, n)) = initial {
                    radio = radio.with_initial_option(radio_option(n, u.to_string()));
                }
                input(Field::Approver, radio).into()
            } else {
                if all.len() > limits::OPTIONS {
                    tracing::warn!(approvers = all.len(), "more approvers than a select can show; listing the first 100");
                }
                let options: Vec<_> = all
                    .iter()
                    .take(limits::OPTIONS)
                    .map(|(u, n)| option(n, u.to_string()))
                    .collect();
                let mut select = SlackBlockStaticSelectElement::new()
                    .with_action_id(action(ids::APPROVER))
                    .with_placeholder(plain("Choose an approver"))
                    .with_options(options);
                if let Some((u, n)) = initial {
                    select = select.with_initial_option(option(n, u.to_string()));
                }
                input(Field::Approver, select).into()
            }
        }
    }
}

/// What the person is told once their request is stored.
pub fn submitted_text(plan: &ApprovalPlan, requester: &SlackUserId) -> String {
    match plan {
        ApprovalPlan::Ask(a) if a == requester => {
            "Request sent. Confirm it in your DM from accessbot.".to_owned()
        }
        ApprovalPlan::Ask(a) => {
            format!("Request sent to <@{a}>. You'll get a DM when they decide.")
        }
        ApprovalPlan::AskApprovers => {
            "Request sent to the approvers. You'll get a DM when it is decided.".to_owned()
        }
        ApprovalPlan::SelfApproved => {
            "No approval needed: access is being granted. You'll get a DM when it's active."
                .to_owned()
        }
        ApprovalPlan::AutoApproved => {
            "You are approved automatically: access is being granted. You'll get a DM when it's active."
                .to_owned()
        }
        ApprovalPlan::BreakGlass => {
            "Break glass: access is being granted now, announced and reviewed afterwards. You'll get a DM when it's active."
                .to_owned()
        }
    }
}

/// A modal that only says `text`, titled `title`, closed with `close`.
fn message_view(title: &str, text: &str, close: &str) -> SlackView {
    let blocks = vec![crate::slack::blocks::section(text)];
    SlackView::Modal(SlackModalView::new(plain(title), blocks).with_close(plain(close)))
}

/// What the modal turns into when a submission has problems but the form
/// asks no question to show them next to.
pub fn problem_view(text: &str) -> SlackView {
    message_view("Request not sent", text, "Close")
}

/// What the modal turns into after a valid submission.
pub fn submitted_view(text: &str) -> SlackView {
    message_view("Request sent", text, "Done")
}
