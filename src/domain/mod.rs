//! The domain: pure types and rules, no I/O.

/// For a string newtype whose `parse` enforces its rules: `Display` shows
/// the string, and deserializing goes through `parse`, so no input can
/// build a value that breaks them.
macro_rules! string_newtype_impls {
    ($name:ident) => {
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = <String as serde::Deserialize>::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

pub mod access;
pub mod approval;
pub mod attribute;
pub mod extension;
pub mod ids;
pub mod policy;
pub mod profile;
pub mod reason;
pub mod submission;

pub use attribute::{AttributeKey, AttributeValue, AttributeValueType};
pub use ids::{NodeId, RequestId, SlackChannelId, SlackUserId};
pub use profile::{ApprovalMode, ApprovalPolicy, ApproverRef, DevicePolicy, Profile};
pub use reason::Reason;
pub use submission::{Field, FieldErrors, Submission};
pub mod request;

pub use request::{AccessRequest, DeviceSnapshot, InvalidTransition, RequestStatus};
