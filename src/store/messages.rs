//! The `message_refs` table: where each of a request's Slack messages
//! lives, one per kind and recipient (every approver's DM has its own).

use serde::{Deserialize, Serialize};
use sqlx::{ColumnIndex, Executor, Row as _};

use super::codec::clean;
use super::dialect::{Dialect, Row, Value};
use super::requests::missing_request;
use super::sql::SqlStore;
use super::StoreError;
use crate::domain::{RequestId, SlackUserId};

/// Which Slack message of a request a reference points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// A DM asking an approver to decide (one per approver asked).
    ApproverDm,
    RequesterDm,
    /// The post in the profile's `notify_channel`.
    ChannelPost,
    /// The request in the profile's `approval_channel`, with Approve / Deny.
    ApprovalPost,
}

impl MessageKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ApproverDm => "approver_dm",
            Self::RequesterDm => "requester_dm",
            Self::ChannelPost => "channel_post",
            Self::ApprovalPost => "approval_post",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::ApproverDm,
            Self::RequesterDm,
            Self::ChannelPost,
            Self::ApprovalPost,
        ]
        .into_iter()
        .find(|k| k.as_str() == raw)
    }
}

/// Where a posted message lives, so it can be edited with `chat.update`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRef {
    pub kind: MessageKind,
    /// Whose DM it is, when a request has one of its kind per person
    /// (approvers); `None` for the one message of its kind.
    pub recipient: Option<SlackUserId>,
    /// The conversation ID Slack answered with (`D…` for a DM).
    pub channel: String,
    pub ts: String,
}

impl<D: Dialect> SqlStore<D>
where
    for<'n> &'n str: ColumnIndex<Row<D>>,
    String: Value<D::DB>,
    i64: Value<D::DB>,
{
    fn read_message_ref(row: &Row<D>) -> Result<MessageRef, StoreError> {
        let kind: String = row.try_get("kind")?;
        let recipient: String = row.try_get("recipient")?;
        Ok(MessageRef {
            kind: MessageKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown message kind {kind:?}")))?,
            // '' is the one message of its kind (and every ref stored
            // before recipients were).
            recipient: match recipient.as_str() {
                "" => None,
                raw => Some(
                    SlackUserId::parse(raw)
                        .map_err(|e| StoreError::Corrupt(format!("message recipient: {e}")))?,
                ),
            },
            channel: row.try_get("channel")?,
            ts: row.try_get("ts")?,
        })
    }

    pub(super) async fn upsert_message_ref<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        id: RequestId,
        msg: &MessageRef,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO message_refs (request_id, kind, recipient, channel, ts) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (request_id, kind, recipient) \
             DO UPDATE SET channel = excluded.channel, ts = excluded.ts",
        )
        .bind(D::id(id))
        .bind(msg.kind.as_str().to_owned())
        .bind(
            msg.recipient
                .as_ref()
                .map(|u| u.as_str().to_owned())
                .unwrap_or_default(),
        )
        .bind(clean(&msg.channel).into_owned())
        .bind(clean(&msg.ts).into_owned())
        .execute(conn)
        .await
        .map_err(missing_request(id))?;
        Ok(())
    }

    pub(super) async fn read_message_refs<'c>(
        conn: impl Executor<'c, Database = D::DB>,
        id: RequestId,
    ) -> Result<Vec<MessageRef>, StoreError> {
        let rows = sqlx::query(
            "SELECT kind, recipient, channel, ts FROM message_refs WHERE request_id = $1 \
             ORDER BY kind, recipient",
        )
        .bind(D::id(id))
        .fetch_all(conn)
        .await?;
        rows.iter().map(Self::read_message_ref).collect()
    }
}
