//! Views (modals, App Home) and their pieces.

mod approval_note;
pub mod devices;
pub mod extend;
pub mod form;
pub mod home;

/// The callback ID of the global shortcut **Request Tailscale Access**.
pub const SHORTCUT_CALLBACK_ID: &str = "request_access";
