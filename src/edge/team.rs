//! The workspace the bot belongs to (`auth.test`'s `team_id`), asked once
//! and kept: a signed payload from another workspace (an app installed in
//! several, a Slack Connect channel) is refused before any handler runs.

use tokio::sync::OnceCell;

use super::ack::Ack;
use crate::slack::api::SlackApi;

#[derive(Default)]
pub struct HomeTeam(OnceCell<String>);

impl HomeTeam {
    /// The bot's team ID; asks `auth.test` until it has answered once.
    pub async fn id(&self, slack: &SlackApi) -> Option<&str> {
        let asked = self
            .0
            .get_or_try_init(|| async { slack.auth_test().await.map(|r| r.team_id.0) })
            .await;
        match asked {
            Ok(id) => Some(id.as_str()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot learn the bot's workspace from auth.test");
                None
            }
        }
    }

    /// `None` when `team` (the payload's team ID) is the bot's own (or the
    /// payload names none: every payload Slack signs does, and one that
    /// does not cannot be from another workspace), else the answer that
    /// refuses it; unavailable while the bot's team cannot be learned.
    pub async fn refuse(&self, slack: &SlackApi, team: Option<&str>) -> Option<Ack> {
        let team = team?;
        let Some(home) = self.id(slack).await else {
            return Some(Ack::Unavailable);
        };
        if team == home {
            return None;
        }
        tracing::warn!(team, home, "refused a payload from another workspace");
        Some(Ack::BadRequest("this app belongs to another workspace"))
    }
}
