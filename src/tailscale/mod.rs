//! The Tailscale API: client, auth, device directory.
