//! The requester's DM: posted when the request is made, a new one (a
//! ping) on each outcome, and the previous one edited so no stale button
//! stays clickable.

use super::facts::EXTENDED;
use super::{already_notified, post_and_remember, record_notified, update, Failures, NotifyJob};
use crate::domain::RequestStatus;
use crate::slack::messages::{requester_message, MessageContext};
use crate::slack::notices;
use crate::state::AppState;
use crate::store::{MessageKind, MessageRef, NotifyEvent, StoreError};

/// Events after which the requester gets a new DM (a ping), not just an
/// edit, with the status the request has right after them. A ping whose
/// request has moved on since (a grant that expired before a Slack outage
/// ended) is skipped: the later event pings with the truth.
const REQUESTER_PINGS: &[(NotifyEvent, RequestStatus)] = &[
    (NotifyEvent::Granted, RequestStatus::Active),
    (NotifyEvent::Failed, RequestStatus::Failed),
    (NotifyEvent::Denied, RequestStatus::Denied),
    (NotifyEvent::TimedOut, RequestStatus::TimedOut),
    (NotifyEvent::Expired, RequestStatus::Expired),
    (NotifyEvent::Revoked, RequestStatus::Revoked),
];

pub(super) async fn sync(
    state: &AppState,
    job: &NotifyJob<'_>,
    ctx: &MessageContext<'_>,
    previous: Option<MessageRef>,
    failures: &mut Failures,
) -> Result<(), StoreError> {
    let (req, event) = (job.req, job.event);
    let self_confirm = req.approver.as_ref() == Some(&req.requester);
    let ping = REQUESTER_PINGS.contains(&(event, req.status))
        && !already_notified(job.trail, event, "requester");
    let to = req.requester.as_str();
    let dm = MessageKind::RequesterDm;
    if ping {
        match post_and_remember(state, req, dm, None, to, requester_message(ctx)).await? {
            Ok(()) => {
                record_notified(state, req, event, "requester").await?;
                if let Some(m) = &previous {
                    let what = "requester message update";
                    update(state, req, what, m, notices::superseded(), failures).await;
                }
            }
            Err(e) => failures.note("requester DM", req, e),
        }
    } else if let Some(m) = &previous {
        let what = "requester message update";
        update(state, req, what, m, requester_message(ctx), failures).await;
    } else if event == NotifyEvent::Requested && !self_confirm {
        let posted = post_and_remember(state, req, dm, None, to, requester_message(ctx)).await?;
        failures.check("requester DM", req, posted);
    }
    if extension_untold(job) {
        match state.slack.post_message(to, notices::extended(ctx)).await {
            Ok(_) => record_notified(state, req, event, "requester").await?,
            Err(e) => failures.note("extension notice", req, e),
        }
    }
    Ok(())
}

/// After time was added to a grant that is still active: is there an
/// extension its requester was not told about yet? One notice per
/// extension, however often the job runs.
fn extension_untold(job: &NotifyJob<'_>) -> bool {
    let (req, trail) = (job.req, job.trail);
    if job.event != NotifyEvent::Extended
        || req.is_extension()
        || req.status != RequestStatus::Active
    {
        return false;
    }
    let count =
        |hit: &dyn Fn(&crate::store::AuditEvent) -> bool| trail.iter().filter(|e| hit(e)).count();
    let extended = count(&|e| e.action == EXTENDED);
    let told = count(&|e| {
        e.action == "notified"
            && e.detail.get("event").and_then(|v| v.as_str())
                == Some(NotifyEvent::Extended.as_str())
            && e.detail.get("to").and_then(|v| v.as_str()) == Some("requester")
    });
    told < extended
}
