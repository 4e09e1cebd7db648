//! The Extend form: the click that opens it and its submission, turned
//! into use-case input and answered within Slack's 3 seconds.

use std::time::Duration;

use serde_json::json;
use tracing::Instrument;

use super::ack::Ack;
use super::forms::{errors_in, Questions};
use super::payload::ViewPayload;
use crate::domain::policy::ApprovalPlan;
use crate::domain::{RequestId, SlackUserId};
use crate::flow::extend::{self, Outcome};
use crate::slack::blocks::slack_date;
use crate::slack::views::extend::{done_view, ids};
use crate::state::AppState;

const EXTEND_FORM: Questions<crate::domain::extension::ExtendField> = Questions {
    block: ids::of,
    label: ids::question,
};

/// A click on Extend for grant `id`: the form opens with the click's
/// trigger, or the clicker is told why not (`Err`, to say ephemerally).
pub async fn click(
    state: &AppState,
    user: &SlackUserId,
    id: RequestId,
    trigger: Option<String>,
) -> Result<Result<(), String>, Ack> {
    let Some(trigger) = trigger else {
        return Err(Ack::BadRequest("missing trigger_id"));
    };
    match extend::form::form(state, id, user).await {
        Ok(Ok(view)) => {
            let open = extend::form::open(state.clone(), trigger, view);
            tokio::spawn(open.in_current_span());
            Ok(Ok(()))
        }
        Ok(Err(why)) => Ok(Err(why)),
        Err(e) => {
            tracing::error!(error = %e, "could not read the grant to extend");
            Err(Ack::Unavailable)
        }
    }
}

/// `view_submission` of the Extend form: errors next to its questions, or
/// the modal says what happened.
pub async fn submit(state: &AppState, user: &SlackUserId, view: &ViewPayload) -> Ack {
    let grant = view
        .private_metadata
        .as_deref()
        .and_then(|m| RequestId::parse(m.trim()).ok());
    // A value that is not a number of seconds is no offered duration.
    let extra = view
        .input(ids::EXTRA, ids::EXTRA)
        .map(|raw| Duration::from_secs(raw.trim().parse().unwrap_or(0)));
    let reason = view.input(ids::REASON, ids::REASON).unwrap_or_default();
    let outcome = extend::submit(state, user, grant, extra, &reason, &view.id).await;
    let (title, text) = match outcome {
        Err(problems) => return errors_in(view, &problems, &EXTEND_FORM),
        Ok(Outcome::Extended { until }) => (
            "Access extended",
            format!("Your access now lasts until {}.", slack_date(until)),
        ),
        Ok(Outcome::Asked { plan, until }) => ("Extension requested", asked(&plan, until)),
    };
    Ack::Json(json!({ "response_action": "update", "view": done_view(title, &text) }))
}

fn asked(plan: &ApprovalPlan, until: chrono::DateTime<chrono::Utc>) -> String {
    let until = slack_date(until);
    match plan {
        ApprovalPlan::Ask(a) => format!(
            "Sent to <@{a}> for approval. Approved, your access lasts until {until}; you'll get a DM."
        ),
        ApprovalPlan::AskApprovers => format!(
            "Sent to the approvers. Approved, your access lasts until {until}; you'll get a DM."
        ),
        ApprovalPlan::SelfApproved | ApprovalPlan::AutoApproved | ApprovalPlan::BreakGlass => {
            format!("Approved: your access is being extended until {until}.")
        }
    }
}
