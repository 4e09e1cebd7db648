//! Reviewing a break-glass grant: one of the profile's approvers (never
//! the requester), checked at click time, acknowledges it from the notify
//! channel's post. The first acknowledgement is recorded (and announced);
//! later ones are told who was first. The reminder when nobody
//! acknowledges in time is a notification job ([`super::notify`]);
//! revoking goes through [`super::decide::revoke`].

use serde_json::json;

use super::decide::{eligible, Outcome};
use super::notify::facts::{acknowledged_by, via, ACKNOWLEDGED};
use crate::domain::approval::may_review;
use crate::domain::{RequestId, SlackUserId};
use crate::slack::messages::Via;
use crate::state::AppState;
use crate::store::{Actor, NewJob, NotifyEvent, StoreError};

pub async fn acknowledge(
    state: &AppState,
    id: RequestId,
    clicker: &SlackUserId,
) -> Result<Outcome, StoreError> {
    let Some(req) = state.store.get_request(id).await? else {
        return Ok(Outcome::NotFound);
    };
    let trail = state.store.audit_events(id).await?;
    if via(&trail) != Via::BreakGlass {
        return Ok(Outcome::Refused(
            "This access was approved; there is nothing to review.".into(),
        ));
    }
    let eligible = match eligible(state, &req).await {
        Ok(e) => e,
        Err(why) => return Ok(Outcome::Refused(why)),
    };
    if !may_review(&eligible, &req.requester, clicker) {
        return Ok(Outcome::Refused(
            "Only the approvers of this access can review it (and never the person who broke the glass).".into(),
        ));
    }
    let now = state.now();
    let recorded = state
        .store
        .append_audit_once(
            id,
            now,
            &Actor::User(clicker.clone()),
            ACKNOWLEDGED,
            json!({ "break_glass": true, "status": req.status }),
            &[NewJob::notify(id, NotifyEvent::Acknowledged, now)],
        )
        .await?;
    if !recorded {
        let trail = state.store.audit_events(id).await?;
        let who = acknowledged_by(&trail)
            .map(|u| format!("<@{u}>"))
            .unwrap_or_else(|| "someone".into());
        return Ok(Outcome::Noted(format!(
            "{who} has already acknowledged it."
        )));
    }
    state.kick();
    tracing::info!(request = %id, acknowledged_by = %clicker, "break-glass grant acknowledged");
    Ok(Outcome::Done(req))
}
