//! Conformance of the approval writes: one approval per approver, the Nth
//! completing the request exactly once however many race (on two pools,
//! as two replicas would), a deny ending it, an audit event appended once,
//! and one message reference per kind and recipient.

use std::sync::Arc;
use std::time::Duration;

use accessbot::domain::{RequestId, SlackUserId};
use accessbot::store::{
    Actor, JobKind, MessageKind, MessageRef, NewJob, NotifyEvent, StoreError, Transition, Vote,
    VoteOutcome,
};

use super::support::db::TestDb;
use super::{at, drain_jobs, notify, pending, user, Approved, Denied, Pending};

fn vote(id: RequestId, approver: &str, required: u32, secs: i64) -> Vote {
    Vote {
        id,
        approver: user(approver),
        email: Some(format!("{}@example.com", approver.to_lowercase())),
        at: at(secs),
        duration: None,
        required,
        on_approved: vec![NewJob::now(id, JobKind::Grant, at(secs))],
        on_counted: vec![notify(id, NotifyEvent::ApprovalAdded, at(secs))],
    }
}

fn approvers(outcome: &VoteOutcome) -> Vec<&str> {
    match outcome {
        VoteOutcome::Counted(a) | VoteOutcome::AlreadyCounted(a) => {
            a.iter().map(|a| a.approver.as_str()).collect()
        }
        VoteOutcome::Approved(_) => vec![],
    }
}

pub async fn the_nth_distinct_approval_approves(db: &TestDb) {
    let store = db.store(4).await;
    let mut req = pending(at(0));
    req.duration = Duration::from_secs(8 * 3600);
    store.create_request(&req, None, &[]).await.unwrap();

    let first = store
        .approve(&vote(req.id, "UBOB00001", 2, 1))
        .await
        .unwrap();
    assert!(matches!(first, VoteOutcome::Counted(_)), "{first:?}");
    assert_eq!(approvers(&first), ["UBOB00001"]);
    // The same approver again counts once, and changes nothing.
    let again = store
        .approve(&vote(req.id, "UBOB00001", 2, 2))
        .await
        .unwrap();
    assert!(matches!(again, VoteOutcome::AlreadyCounted(_)), "{again:?}");
    assert_eq!(approvers(&again), ["UBOB00001"]);
    assert_eq!(
        store.get_request(req.id).await.unwrap().unwrap().status,
        Pending
    );

    // The second approver chose one hour: access lasts the shortest chosen.
    let mut second = vote(req.id, "UCAROL001", 2, 3);
    second.duration = Some(Duration::from_secs(3600));
    let VoteOutcome::Approved(approved) = store.approve(&second).await.unwrap() else {
        panic!("the second distinct approval completes the request")
    };
    assert_eq!(approved.status, Approved);
    assert_eq!(approved.decided_by, Some(user("UCAROL001")));
    assert_eq!(
        approved.decided_by_email.as_deref(),
        Some("ucarol001@example.com")
    );
    assert_eq!(approved.decided_at, Some(at(3)));
    assert_eq!(approved.duration, Duration::from_secs(3600));
    assert_eq!(store.get_request(req.id).await.unwrap(), Some(*approved));

    let recorded = store.approvals(req.id).await.unwrap();
    let who: Vec<&str> = recorded.iter().map(|a| a.approver.as_str()).collect();
    assert_eq!(who, ["UBOB00001", "UCAROL001"]);
    assert_eq!(recorded[0].at, at(1), "the first click's time is kept");
    assert_eq!(recorded[1].duration, Some(Duration::from_secs(3600)));

    let trail = store.audit_events(req.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["created", "approval_added", "approved"]);
    let approved_event = &trail[2];
    assert_eq!(approved_event.actor, Actor::User(user("UCAROL001")));
    assert_eq!(
        approved_event.detail["approvals"],
        serde_json::json!(["UBOB00001", "UCAROL001"])
    );
    assert_eq!(approved_event.detail["duration_asked_seconds"], 8 * 3600);
    assert_eq!(approved_event.detail["duration_seconds"], 3600);

    // Each outcome enqueued its own jobs, once.
    let kinds: Vec<JobKind> = drain_jobs(&store)
        .await
        .into_iter()
        .map(|j| j.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            JobKind::Notify {
                event: NotifyEvent::ApprovalAdded
            },
            JobKind::Grant
        ]
    );

    // Too late: nothing more is recorded.
    let late = store
        .approve(&vote(req.id, "UDAVE0001", 2, 4))
        .await
        .unwrap_err();
    assert!(
        matches!(
            late,
            StoreError::Conflict {
                expected: Pending,
                current: Approved,
                ..
            }
        ),
        "{late:?}"
    );
    assert_eq!(store.approvals(req.id).await.unwrap().len(), 2);
    let unknown = store
        .approve(&vote(RequestId::new(), "UBOB00001", 1, 5))
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

pub async fn a_deny_after_an_approval_ends_the_request(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    store
        .approve(&vote(req.id, "UBOB00001", 2, 1))
        .await
        .unwrap();
    let denier = user("UCAROL001");
    let t = Transition::new(req.id, Pending, Denied, Actor::User(denier.clone()), at(2))
        .decided_by(denier, None);
    assert_eq!(store.transition(t).await.unwrap().status, Denied);
    let after = store
        .approve(&vote(req.id, "UDAVE0001", 2, 3))
        .await
        .unwrap_err();
    assert!(
        matches!(
            after,
            StoreError::Conflict {
                current: Denied,
                ..
            }
        ),
        "{after:?}"
    );
    assert_eq!(store.approvals(req.id).await.unwrap().len(), 1);
    assert_eq!(
        drain_jobs(&store).await.len(),
        1,
        "only the first approval's notification; no grant"
    );
}

/// Two pools (two replicas), `clicks` concurrent approvals by `who(i)`.
async fn race(
    db: &TestDb,
    required: u32,
    clicks: usize,
    who: fn(usize) -> String,
) -> (RequestId, Vec<Result<VoteOutcome, StoreError>>) {
    let stores = [db.store(10).await, db.store(10).await];
    let req = pending(at(0));
    stores[0].create_request(&req, None, &[]).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(clicks));
    let tasks = (0..clicks).map(|i| {
        let store = stores[i % 2].clone();
        let barrier = barrier.clone();
        let v = vote(req.id, &who(i), required, 1);
        tokio::spawn(async move {
            barrier.wait().await;
            store.approve(&v).await
        })
    });
    let results = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    (req.id, results)
}

fn count(
    results: &[Result<VoteOutcome, StoreError>],
    f: fn(&Result<VoteOutcome, StoreError>) -> bool,
) -> usize {
    results.iter().filter(|r| f(r)).count()
}

pub async fn racing_approvals_complete_a_request_once(db: &TestDb) {
    // Thirty approvers at once, three needed: two are counted, one
    // approves, the rest find it approved.
    let (id, results) = race(db, 3, 30, |i| format!("UAPPR{i:04}")).await;
    let unexpected: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|e| {
            !matches!(
                e,
                StoreError::Conflict {
                    current: Approved,
                    ..
                }
            )
        })
        .collect();
    assert!(unexpected.is_empty(), "{unexpected:?}");
    assert_eq!(
        count(&results, |r| matches!(r, Ok(VoteOutcome::Approved(_)))),
        1
    );
    assert_eq!(
        count(&results, |r| matches!(r, Ok(VoteOutcome::Counted(_)))),
        2
    );
    assert_eq!(count(&results, |r| r.is_err()), 27);
    let store = db.store(2).await;
    assert_eq!(store.approvals(id).await.unwrap().len(), 3);
    let grants = drain_jobs(&store)
        .await
        .into_iter()
        .filter(|j| j.kind == JobKind::Grant)
        .count();
    assert_eq!(grants, 1, "exactly one grant");
    let approved = store
        .audit_events(id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.action == "approved")
        .count();
    assert_eq!(approved, 1);
}

pub async fn one_approver_clicking_at_once_counts_once(db: &TestDb) {
    let (id, results) = race(db, 2, 12, |_| "UBOB00001".to_owned()).await;
    assert_eq!(
        count(&results, |r| matches!(r, Ok(VoteOutcome::Counted(_)))),
        1
    );
    assert_eq!(
        count(&results, |r| matches!(
            r,
            Ok(VoteOutcome::AlreadyCounted(_))
        )),
        11
    );
    let store = db.store(2).await;
    assert_eq!(
        store.get_request(id).await.unwrap().unwrap().status,
        Pending
    );
    assert_eq!(store.approvals(id).await.unwrap().len(), 1);
}

pub async fn an_audit_event_is_appended_once(db: &TestDb) {
    let stores = [db.store(10).await, db.store(10).await];
    let req = pending(at(0));
    stores[0].create_request(&req, None, &[]).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks = (0..20).map(|i| {
        let store = stores[i % 2].clone();
        let barrier = barrier.clone();
        let id = req.id;
        tokio::spawn(async move {
            let who = Actor::User(SlackUserId::parse(&format!("UREVIEW{i:03}")).unwrap());
            let jobs = [notify(id, NotifyEvent::Acknowledged, at(1))];
            barrier.wait().await;
            store
                .append_audit_once(
                    id,
                    at(1),
                    &who,
                    "acknowledged",
                    serde_json::json!({}),
                    &jobs,
                )
                .await
        })
    });
    let appended: Vec<bool> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap().unwrap())
        .collect();
    assert_eq!(appended.iter().filter(|a| **a).count(), 1, "{appended:?}");
    let events = stores[1].audit_events(req.id).await.unwrap();
    assert_eq!(
        events.iter().filter(|e| e.action == "acknowledged").count(),
        1
    );
    assert_eq!(drain_jobs(&stores[1]).await.len(), 1, "its job once");
    // Another action is its own.
    assert!(stores[0]
        .append_audit_once(
            req.id,
            at(2),
            &Actor::System,
            "review_overdue",
            serde_json::json!({}),
            &[]
        )
        .await
        .unwrap());
    let unknown = stores[0]
        .append_audit_once(
            RequestId::new(),
            at(2),
            &Actor::System,
            "x",
            serde_json::json!({}),
            &[],
        )
        .await;
    assert!(
        matches!(unknown, Err(StoreError::NotFound(_))),
        "{unknown:?}"
    );
}

pub async fn message_refs_are_one_per_kind_and_recipient(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let dm = |to: &str, ts: &str| MessageRef {
        kind: MessageKind::ApproverDm,
        recipient: Some(user(to)),
        channel: format!("D{}", &to[1..]),
        ts: ts.into(),
    };
    let post = MessageRef {
        kind: MessageKind::ApprovalPost,
        recipient: None,
        channel: "C0APPROVALS".into(),
        ts: "1.3".into(),
    };
    for m in [dm("UCAROL001", "1.1"), dm("UBOB00001", "1.2"), post.clone()] {
        store.set_message_ref(req.id, &m).await.unwrap();
    }
    // Bob's DM was posted again: his ref is replaced, carol's kept.
    store
        .set_message_ref(req.id, &dm("UBOB00001", "1.4"))
        .await
        .unwrap();
    assert_eq!(
        store.message_refs(req.id).await.unwrap(),
        vec![post, dm("UBOB00001", "1.4"), dm("UCAROL001", "1.1")],
        "by kind, then recipient"
    );
}
