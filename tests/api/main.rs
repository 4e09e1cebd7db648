//! End-to-end tests of the running service: the real router, worker and
//! store (SQLite and PostgreSQL) against a fake Slack and a fake tailnet.

#[path = "../support/mod.rs"]
mod support;

/// Runs each named `async fn(Backend)` once on SQLite and once on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::db::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::support::db::Backend::Postgres).await
                }
            )*
        }
    };
}

mod access_model;
mod access_truth;
mod approval_policies;
mod break_glass;
mod clicks;
mod extend;
mod home;
mod http;
mod lifecycle;
mod limits;
mod people;
mod platform_rules;
mod rendering;
mod replays;
mod request_flow;
mod socket_mode;
mod workspace;
