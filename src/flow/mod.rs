//! The use cases: submit, decide, cancel, revoke, the jobs that grant and
//! notify, the time-based sweeps and reconciliation, the request form and
//! App Home. They take domain input (never a Slack payload), keep the rules
//! in `domain`, and reach the world through the store and the clients.

pub mod approve;
pub mod clicks;
pub mod converge;
pub mod decide;
pub mod devices;
pub mod extend;
pub mod form;
pub mod grant;
pub mod home;
pub mod jobs;
pub mod notify;
pub mod reconcile;
pub mod review;
pub mod settle;
pub mod submit;
pub mod sweeps;

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
