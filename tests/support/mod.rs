#![allow(dead_code)]
//! Shared helpers for the integration tests; each test binary does `mod support;`.

pub mod db;
