//! Views (modals, App Home) and their pieces.

pub mod devices;
pub mod form;
pub mod home;

/// The callback ID of the global shortcut **Request Tailscale Access**.
pub const SHORTCUT_CALLBACK_ID: &str = "request_access";
