//! The domain: pure types and rules, no I/O.

pub mod attribute;
pub mod ids;
pub mod policy;
pub mod profile;
pub mod reason;
pub mod submission;

pub use attribute::{AttributeKey, AttributeValue, AttributeValueType};
pub use ids::{NodeId, RequestId, SlackChannelId, SlackUserId};
pub use profile::{ApproverRef, DevicePolicy, Profile};
pub use reason::Reason;
pub use submission::{Field, FieldErrors, Submission};
pub mod request;

pub use request::{AccessRequest, DeviceSnapshot, InvalidTransition, RequestStatus};
