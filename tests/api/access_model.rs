//! A property test over random interleavings of grant, revoke, cancel,
//! expiry, reconciliation, console deletions and crashes (a write that
//! lands but whose answer is lost), on the real use cases, store and fake
//! tailnet. The worker is off: the test steps the job queue itself, so each
//! case is one deterministic interleaving, and proptest shrinks a failing
//! one. After quiescence:
//! - the tailnet carries exactly what the database says (`wanted`);
//! - nothing is left half-done (`approved`, `revoking`);
//! - every message people got about an outcome matches the request's status.

use std::time::Duration;

use accessbot::domain::access::{wanted, Pair};
use accessbot::domain::{
    AccessRequest, AttributeKey, AttributeValue, DeviceSnapshot, NodeId, Reason, RequestId,
    RequestStatus, SlackUserId,
};
use accessbot::flow::{decide, reconcile, sweeps};
use accessbot::store::{Actor, Approval, JobKind, NewJob, NotifyEvent};
use accessbot::worker::Worker;
use proptest::prelude::*;

use crate::support::app::*;
use crate::support::db::Backend;

const DEVICES: [&str; 2] = [ALICE_LAPTOP, ALICE_PHONE];

#[derive(Debug, Clone)]
enum Op {
    /// A self-approved grant on device `d` for `hours`.
    Grant {
        d: usize,
        hours: u64,
    },
    /// The requester revokes the `i`-th grant made so far.
    Revoke(usize),
    /// The requester cancels the `i`-th grant (only while approved).
    Cancel(usize),
    /// Run up to `n` due jobs.
    Run(u32),
    /// Time passes (sweeps run, as the worker's round would).
    Advance {
        minutes: u64,
    },
    Reconcile,
    /// An admin deletes the attribute of device `d` in the console.
    ConsoleDelete(usize),
    /// The next attribute write fails: `0` temporarily, `1` refused,
    /// `2` carried out but its answer lost (a crash after the write).
    FailNextWrite(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..DEVICES.len(), 1u64..4).prop_map(|(d, hours)| Op::Grant { d, hours }),
        2 => (0usize..6).prop_map(Op::Revoke),
        1 => (0usize..6).prop_map(Op::Cancel),
        4 => (1u32..4).prop_map(Op::Run),
        1 => prop_oneof![Just(5u64), Just(70), Just(150)].prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Reconcile),
        1 => (0..DEVICES.len()).prop_map(Op::ConsoleDelete),
        1 => (0u8..3).prop_map(Op::FailNextWrite),
    ]
}

fn user(id: &str) -> SlackUserId {
    SlackUserId::parse(id).unwrap()
}

/// Stored as a self-approval without confirmation would be: approved, with
/// its grant job and notification.
async fn self_granted(app: &TestApp, device: &str, hours: u64) -> RequestId {
    let now = app.clock.now();
    let req = AccessRequest {
        id: RequestId::new(),
        requester: user(ALICE),
        requester_email: Some("alice@example.com".into()),
        attribute: AttributeKey::parse(PROD).unwrap(),
        value: AttributeValue::Bool(true),
        device: DeviceSnapshot {
            node_id: NodeId::parse(device).unwrap(),
            name: device.into(),
            owner: "alice@example.com".into(),
            tags: vec![],
            os: "macOS".into(),
            addresses: vec![],
        },
        duration: Duration::from_secs(hours * 3600),
        approver: None,
        reason: Reason::parse("property test").unwrap(),
        status: RequestStatus::Approved,
        created_at: now,
        updated_at: now,
        decided_by: Some(user(ALICE)),
        decided_by_email: None,
        decided_at: Some(now),
        expires_at: None,
        failure_reason: None,
        extends: None,
    };
    let approval = Approval {
        actor: Actor::User(user(ALICE)),
        detail: serde_json::json!({ "self_approved": true }),
    };
    let jobs = [
        NewJob::now(req.id, JobKind::Grant, now),
        NewJob::notify(req.id, NotifyEvent::Approved, now),
    ];
    app.state
        .store
        .create_request(&req, Some(&approval), &jobs)
        .await
        .unwrap();
    req.id
}

async fn sweep(app: &TestApp) {
    sweeps::expire_due(&app.state).await.unwrap();
    sweeps::time_out_due(&app.state).await.unwrap();
}

async fn apply(app: &TestApp, worker: &Worker, grants: &mut Vec<RequestId>, op: &Op) {
    let alice = user(ALICE);
    match op {
        Op::Grant { d, hours } => grants.push(self_granted(app, DEVICES[*d], *hours).await),
        Op::Revoke(i) => {
            if let Some(id) = grants.get(*i) {
                decide::revoke(&app.state, *id, &alice).await.unwrap();
            }
        }
        Op::Cancel(i) => {
            if let Some(id) = grants.get(*i) {
                decide::cancel(&app.state, *id, &alice).await.unwrap();
            }
        }
        Op::Run(n) => {
            worker.run_due(*n).await.unwrap();
        }
        Op::Advance { minutes } => {
            app.clock.advance(Duration::from_secs(minutes * 60));
            sweep(app).await;
        }
        Op::Reconcile => {
            reconcile::run(&app.state, &mut reconcile::Cursor::default())
                .await
                .unwrap();
        }
        Op::ConsoleDelete(d) => {
            app.tailnet.remove_attribute(DEVICES[*d], PROD);
        }
        Op::FailNextWrite(kind) => match kind {
            0 => app.tailnet.fail_next("POST", "/attributes/", 1, 503, None),
            1 => app.tailnet.fail_next("POST", "/attributes/", 1, 403, None),
            _ => app
                .tailnet
                .fail_next_after_applying("POST", "/attributes/", 1, 504),
        },
    }
}

/// Run every job to its end (due ones now, retries after their backoff),
/// with the reconciliation rounds the service would run meanwhile.
async fn quiesce(app: &TestApp, worker: &Worker) {
    app.tailnet.clear_faults();
    for _ in 0..60 {
        sweep(app).await;
        if worker.run_due(50).await.unwrap() > 0 {
            continue;
        }
        reconcile::run(&app.state, &mut reconcile::Cursor::default())
            .await
            .unwrap();
        if worker.run_due(50).await.unwrap() > 0 {
            continue;
        }
        let stats = app
            .state
            .store
            .job_stats(app.clock.now() + chrono::Duration::days(365))
            .await
            .unwrap();
        let unsettled = app
            .state
            .store
            .count_requests(&accessbot::store::RequestFilter {
                statuses: vec![RequestStatus::Approved, RequestStatus::Revoking],
                ..Default::default()
            })
            .await
            .unwrap();
        if stats.due == 0 && unsettled == 0 {
            return;
        }
        // Jobs waiting on a backoff: let it pass.
        app.clock.advance(Duration::from_secs(16 * 60));
    }
    panic!("the queue never settled");
}

async fn check(app: &TestApp, grants: &[RequestId]) {
    let now = app.clock.now();
    let mut all = Vec::new();
    for id in grants {
        all.push(app.get(*id).await);
    }
    for r in &all {
        assert!(
            !matches!(r.status, RequestStatus::Approved | RequestStatus::Revoking),
            "left half-done: {r:?}"
        );
    }
    for device in DEVICES {
        let key = AttributeKey::parse(PROD).unwrap();
        let pair = Pair::new(NodeId::parse(device).unwrap(), &key);
        let on_pair: Vec<AccessRequest> = all.iter().filter(|r| pair.covers(r)).cloned().collect();
        let want = wanted(&on_pair, now);
        let carried = app.tailnet.attribute(device, PROD);
        match (&want, &carried) {
            (None, None) => {}
            (Some(w), Some(c)) => assert_eq!(c.expiry, Some(w.expiry), "{device}: {on_pair:#?}"),
            _ => panic!("{device}: database wants {want:?}, tailnet has {carried:?}: {on_pair:#?}"),
        }
    }
    // What people were told matches what happened: one ping per outcome.
    let count = |status: RequestStatus| all.iter().filter(|r| r.status == status).count();
    let told = |text: &str| {
        app.slack
            .messages_in(ALICE)
            .iter()
            .filter(|m| m.render().contains(text))
            .count()
    };
    assert_eq!(
        told("was revoked by"),
        count(RequestStatus::Revoked),
        "revoked pings"
    );
    assert_eq!(
        told("has ended"),
        count(RequestStatus::Expired),
        "expiry pings"
    );
    assert_eq!(
        told("could not be granted"),
        count(RequestStatus::Failed),
        "failure pings"
    );
}

async fn run_case(backend: Backend, ops: Vec<Op>) {
    let app = spawn_app!(AppOptions::new(backend).worker(false));
    let worker = Worker::new(app.state.clone());
    let mut grants = Vec::new();
    for op in &ops {
        apply(&app, &worker, &mut grants, op).await;
    }
    quiesce(&app, &worker).await;
    check(&app, &grants).await;
}

fn cases(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(cases);
    let config = ProptestConfig {
        cases,
        // Each case runs the real app; shrinking a failure is worth it,
        // but not forever.
        max_shrink_iters: 200,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in prop::collection::vec(op(), 1..24))| {
        rt.block_on(run_case(backend, ops));
    });
}

#[test]
fn interleavings_leave_the_tailnet_as_the_database_says_on_sqlite() {
    cases(Backend::Sqlite, 48);
}

#[test]
fn interleavings_leave_the_tailnet_as_the_database_says_on_postgres() {
    cases(Backend::Postgres, 16);
}
