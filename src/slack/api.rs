//! The Slack Web API calls accessbot makes, on slack-morphism, each with a
//! timeout (slack-morphism has none) and errors sorted into transient and
//! permanent so callers know whether to retry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use secrecy::ExposeSecret;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

use crate::config::SlackConfig;
use crate::metrics::Metrics;

type Connector = SlackClientHyperConnector<HttpsConnector<HttpConnector>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SlackApiError {
    #[error("Slack rate limit (retry after {0:?})")]
    RateLimited(Option<Duration>),
    #[error("Slack API error: {0}")]
    Api(String),
    #[error("Slack did not answer within {0:?}")]
    Timeout(Duration),
    #[error("cannot reach Slack: {0}")]
    Transport(String),
}

impl SlackApiError {
    /// Worth retrying later: rate limits, timeouts, network and server trouble.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RateLimited(_) | Self::Timeout(_) | Self::Transport(_) => true,
            Self::Api(code) => matches!(
                code.as_str(),
                "internal_error"
                    | "fatal_error"
                    | "service_unavailable"
                    | "request_timeout"
                    | "ratelimited"
            ),
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(d) => *d,
            _ => None,
        }
    }

    /// Slack's error code (`hash_conflict`, `channel_not_found`, …).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api(code) => Some(code),
            _ => None,
        }
    }

    fn status_label(&self) -> String {
        match self {
            Self::RateLimited(_) => "ratelimited".into(),
            Self::Api(code) => code.clone(),
            Self::Timeout(_) => "timeout".into(),
            Self::Transport(_) => "transport".into(),
        }
    }
}

impl From<SlackClientError> for SlackApiError {
    fn from(e: SlackClientError) -> Self {
        match e {
            SlackClientError::ApiError(api) => Self::Api(api.code),
            SlackClientError::RateLimitError(rl) => Self::RateLimited(rl.retry_after),
            SlackClientError::HttpError(h) => Self::Transport(format!("HTTP {}", h.status_code)),
            other => Self::Transport(other.to_string()),
        }
    }
}

pub type SlackResult<T> = Result<T, SlackApiError>;

/// A Slack user as accessbot needs them.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackUserInfo {
    pub id: crate::domain::SlackUserId,
    pub email: Option<String>,
    /// The name to show: real name, display name or handle.
    pub name: String,
    pub is_bot: bool,
    pub deleted: bool,
    /// A guest: a restricted (multi-channel) or ultra-restricted
    /// (single-channel) account.
    pub is_guest: bool,
}

/// Where a posted message ended up (`channel` is the `D…` ID for a DM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    pub channel: String,
    pub ts: String,
}

/// A message waiting to be posted (`channel` is the `D…` ID for a DM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheduled {
    pub channel: String,
    /// `scheduled_message_id`, what deleting it takes.
    pub id: String,
}

#[derive(Clone)]
pub struct SlackApi {
    client: Arc<SlackClient<Connector>>,
    token: Arc<SlackApiToken>,
    timeout: Duration,
    metrics: Metrics,
}

impl SlackApi {
    pub fn new(config: &SlackConfig, metrics: Metrics) -> anyhow::Result<Self> {
        let token = config
            .bot_token
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("SLACK_BOT_TOKEN is not set"))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            // Plain http only matters for local fakes; production URLs are https.
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let connector = SlackClientHyperConnector::with_connector(https)
            .with_slack_api_url(config.api_url.as_str().trim_end_matches('/'));
        Ok(Self {
            client: Arc::new(SlackClient::new(connector)),
            token: Arc::new(SlackApiToken::new(SlackApiTokenValue::new(
                token.expose_secret().to_owned(),
            ))),
            timeout: config.request_timeout,
            metrics,
        })
    }

    async fn call<T, F>(&self, method: &'static str, fut: F) -> SlackResult<T>
    where
        F: std::future::Future<Output = ClientResult<T>>,
    {
        let started = Instant::now();
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(SlackApiError::from),
            Err(_) => Err(SlackApiError::Timeout(self.timeout)),
        };
        let status = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.status_label(),
        };
        self.metrics
            .observe_slack_call(method, &status, started.elapsed());
        if let Err(e) = &result {
            tracing::warn!(method, error = %e, "Slack API call failed");
        }
        result
    }

    pub async fn open_view(
        &self,
        trigger_id: &str,
        view: SlackView,
    ) -> SlackResult<SlackStatefulView> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsOpenRequest::new(SlackTriggerId(trigger_id.to_owned()), view);
        self.call("views.open", session.views_open(&req))
            .await
            .map(|r| r.view)
    }

    /// Replace a view; with `hash`, fails with `hash_conflict` if it changed meanwhile.
    pub async fn update_view(
        &self,
        view_id: &str,
        hash: Option<&str>,
        view: SlackView,
    ) -> SlackResult<SlackStatefulView> {
        let session = self.client.open_session(&self.token);
        let mut req =
            SlackApiViewsUpdateRequest::new(view).with_view_id(SlackViewId(view_id.to_owned()));
        if let Some(h) = hash {
            req = req.with_hash(h.to_owned());
        }
        self.call("views.update", session.views_update(&req))
            .await
            .map(|r| r.view)
    }

    pub async fn publish_home(&self, user: &str, view: SlackView) -> SlackResult<()> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiViewsPublishRequest::new(SlackUserId(user.to_owned()), view);
        self.call("views.publish", session.views_publish(&req))
            .await
            .map(|_| ())
    }

    /// Post to a channel, or to a user's DM with the bot when `channel` is a user ID.
    pub async fn post_message(
        &self,
        channel: &str,
        content: SlackMessageContent,
    ) -> SlackResult<Posted> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostMessageRequest::new(SlackChannelId(channel.to_owned()), content);
        self.call("chat.postMessage", session.chat_post_message(&req))
            .await
            .map(|r| Posted {
                channel: r.channel.0,
                ts: r.ts.0,
            })
    }

    /// Edit a message; `channel` must be the conversation ID (`D…`/`C…`), not a user ID.
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        content: SlackMessageContent,
    ) -> SlackResult<()> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId(channel.to_owned()),
            content,
            SlackTs(ts.to_owned()),
        );
        self.call("chat.update", session.chat_update(&req))
            .await
            .map(|_| ())
    }

    pub async fn post_ephemeral(&self, channel: &str, user: &str, text: &str) -> SlackResult<()> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackUserId(user.to_owned()),
            SlackMessageContent::new().with_text(text.to_owned()),
        );
        self.call("chat.postEphemeral", session.chat_post_ephemeral(&req))
            .await
            .map(|_| ())
    }

    pub async fn user_info(&self, user: &str) -> SlackResult<SlackUserInfo> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUsersInfoRequest::new(SlackUserId(user.to_owned()));
        let resp = self.call("users.info", session.users_info(&req)).await?;
        Ok(to_user_info(resp.user))
    }

    /// `None` when no user has this e-mail.
    pub async fn lookup_by_email(&self, email: &str) -> SlackResult<Option<SlackUserInfo>> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUsersLookupByEmailRequest::new(EmailAddress(email.to_owned()));
        match self
            .call("users.lookupByEmail", session.users_lookup_by_email(&req))
            .await
        {
            Ok(resp) => Ok(Some(to_user_info(resp.user))),
            Err(SlackApiError::Api(code)) if code == "users_not_found" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// (id, handle) of every user group.
    pub async fn usergroups(&self) -> SlackResult<Vec<(String, String)>> {
        let session = self.client.open_session(&self.token);
        // Slack sends `user_count` only when asked, and slack-morphism
        // cannot read a group without it.
        let req = SlackApiUserGroupsListRequest::new().with_include_count(true);
        let resp = self
            .call("usergroups.list", session.usergroups_list(&req))
            .await?;
        Ok(resp
            .usergroups
            .into_iter()
            .map(|g| (g.id.0, g.handle))
            .collect())
    }

    pub async fn usergroup_members(&self, group_id: &str) -> SlackResult<Vec<String>> {
        let session = self.client.open_session(&self.token);
        let req = SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId(group_id.to_owned()));
        let resp = self
            .call("usergroups.users.list", session.usergroups_users_list(&req))
            .await?;
        Ok(resp.users.into_iter().map(|u| u.0).collect())
    }

    /// One page (at most `limit`) of the workspace's members, deactivated
    /// ones and bots included, and the cursor of the next page if any.
    pub async fn users_page(
        &self,
        cursor: Option<&str>,
        limit: u16,
    ) -> SlackResult<(Vec<SlackUserInfo>, Option<String>)> {
        let session = self.client.open_session(&self.token);
        let mut req = SlackApiUsersListRequest::new().with_limit(limit);
        if let Some(c) = cursor {
            req = req.with_cursor(SlackCursorId(c.to_owned()));
        }
        let resp = self.call("users.list", session.users_list(&req)).await?;
        let next = resp
            .response_metadata
            .and_then(|m| m.next_cursor)
            .map(|c| c.0)
            .filter(|c| !c.is_empty());
        Ok((resp.members.into_iter().map(to_user_info).collect(), next))
    }

    /// Schedule `text` in `channel` for `post_at` (Slack allows up to 120
    /// days ahead); delete it again with [`Self::delete_scheduled_message`].
    pub async fn schedule_message(
        &self,
        channel: &str,
        text: &str,
        post_at: chrono::DateTime<chrono::Utc>,
    ) -> SlackResult<Scheduled> {
        let post_at = SlackUtcDateTime::from_second(post_at.timestamp())
            .map_err(|e| SlackApiError::Api(format!("invalid_time ({e})")))?;
        let session = self.client.open_session(&self.token);
        let req = SlackApiChatScheduleMessageRequest::new(
            SlackChannelId(channel.to_owned()),
            SlackMessageContent::new().with_text(text.to_owned()),
            SlackDateTime(post_at),
        );
        self.call("chat.scheduleMessage", session.chat_schedule_message(&req))
            .await
            .map(|r| Scheduled {
                channel: r.channel.0,
                id: r.scheduled_message_id.0,
            })
    }

    pub async fn delete_scheduled_message(&self, channel: &str, id: &str) -> SlackResult<()> {
        // slack-morphism 2.31's typed request sends the ID as
        // `scheduled_message`; Slack reads `scheduled_message_id`.
        #[derive(serde::Serialize)]
        struct Request<'a> {
            channel: &'a str,
            scheduled_message_id: &'a str,
        }
        let session = self.client.open_session(&self.token);
        let req = Request {
            channel,
            scheduled_message_id: id,
        };
        self.call(
            "chat.deleteScheduledMessage",
            session.http_session_api.http_post::<_, serde_json::Value>(
                "chat.deleteScheduledMessage",
                &req,
                None,
            ),
        )
        .await
        .map(|_| ())
    }

    pub async fn auth_test(&self) -> SlackResult<SlackApiAuthTestResponse> {
        let session = self.client.open_session(&self.token);
        self.call("auth.test", session.auth_test()).await
    }
}

fn to_user_info(u: SlackUser) -> SlackUserInfo {
    let profile = u.profile.as_ref();
    let name = [
        u.real_name.clone(),
        profile.and_then(|p| p.real_name.clone()),
        profile.and_then(|p| p.display_name.clone()),
        u.name.clone(),
    ]
    .into_iter()
    .flatten()
    .find(|n| !n.trim().is_empty())
    .unwrap_or_else(|| u.id.0.clone());
    SlackUserInfo {
        id: crate::domain::SlackUserId::parse(&u.id.0).unwrap_or_else(|_| {
            crate::domain::SlackUserId::parse("U000000000").expect("static ID")
        }),
        email: profile
            .and_then(|p| p.email.as_ref())
            .map(|e| e.0.to_ascii_lowercase()),
        name,
        is_bot: u.flags.is_bot.unwrap_or(false),
        deleted: u.deleted.unwrap_or(false),
        is_guest: u.flags.is_restricted.unwrap_or(false)
            || u.flags.is_ultra_restricted.unwrap_or(false),
    }
}
