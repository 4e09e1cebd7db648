//! The workspace the bot belongs to (`auth.test`'s `team_id`), asked once
//! and kept.

use tokio::sync::OnceCell;

use super::api::SlackApi;

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
}
