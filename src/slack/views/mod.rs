//! Views (modals, App Home) and their pieces.

pub mod form;
