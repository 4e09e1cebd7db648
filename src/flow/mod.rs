//! The request flow as operations on durable state: submit, decide,
//! cancel, revoke, and the jobs that grant and notify. Slack handlers and
//! the worker call these; the rules themselves live in `domain`.

pub mod decide;
pub mod devices;
pub mod grant;
pub mod notify;
pub mod submit;

use crate::domain::{AccessRequest, Profile};
use crate::state::AppState;

/// The profile a stored request was made under, if it is still configured.
pub fn profile_of<'a>(state: &'a AppState, req: &AccessRequest) -> Option<&'a Profile> {
    state.config.profile(req.attribute.as_str())
}

/// The name to show for a request's profile, even if it was removed since.
pub fn profile_name(state: &AppState, req: &AccessRequest) -> String {
    profile_of(state, req)
        .map(|p| p.display_name().to_owned())
        .unwrap_or_else(|| req.attribute.name().to_owned())
}
