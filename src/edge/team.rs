//! A signed payload from another workspace (an app installed in several, a
//! Slack Connect channel) is refused before any handler runs.

use super::ack::Ack;
use crate::state::AppState;

/// `None` when `team` (the payload's team ID) is the bot's own (or the
/// payload names none: every payload Slack signs does, and one that does
/// not cannot be from another workspace), else the answer that refuses it;
/// unavailable while the bot's team cannot be learned.
pub async fn refuse(state: &AppState, team: Option<&str>) -> Option<Ack> {
    let team = team?;
    let Some(home) = state.home_team.id(&state.slack).await else {
        return Some(Ack::Unavailable);
    };
    if team == home {
        return None;
    }
    tracing::warn!(team, home, "refused a payload from another workspace");
    Some(Ack::BadRequest("this app belongs to another workspace"))
}
