//! The App Home tab, published for one person.

use crate::domain::SlackUserId;
use crate::slack::views::home::home_view;
use crate::state::AppState;
use crate::store::RequestFilter;

/// Publish `user`'s home tab with their last 10 requests.
pub async fn publish(state: AppState, user: SlackUserId) {
    let recent = state
        .store
        .list_requests(&RequestFilter {
            requester: Some(user.clone()),
            limit: Some(10),
            ..Default::default()
        })
        .await
        .unwrap_or_default();
    let named: Vec<_> = recent
        .into_iter()
        .map(|r| {
            let name = super::profile_name(&state, &r);
            (r, name)
        })
        .collect();
    if let Err(e) = state
        .slack
        .publish_home(user.as_str(), home_view(&named))
        .await
    {
        tracing::warn!(error = %e, "could not publish App Home");
    }
}
