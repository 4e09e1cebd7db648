//! The store conformance suite: every test body runs, unchanged, against
//! SQLite and PostgreSQL (see `conformance!` at the bottom), plus the
//! `accessbot migrate` command and `connect` errors.

mod support;

#[path = "store/approvals.rs"]
mod approvals;
use approvals::*;
#[path = "store/extend.rs"]
mod extend;
use extend::*;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use accessbot::domain::{
    AccessRequest, AttributeKey, AttributeValue, DeviceSnapshot, NodeId, Reason, RequestId,
    RequestStatus, SlackUserId,
};
use accessbot::store::{
    Actor, Approval, DynStore, JobKind, JobStats, MessageKind, MessageRef, NewJob, NotifyEvent,
    RequestFilter, StoreError, Transition,
};
use chrono::{DateTime, Utc};
use support::db::{Backend, TestDb};

use RequestStatus::*;

const LEASE: Duration = Duration::from_secs(120);

fn user(id: &str) -> SlackUserId {
    SlackUserId::parse(id).unwrap()
}

/// A fixed instant with a microsecond part, so precision loss would show.
fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_750_000_000_123_456).unwrap()
        + chrono::Duration::seconds(secs)
}

fn request(requester: &str, node: &str, attribute: &str, created: DateTime<Utc>) -> AccessRequest {
    AccessRequest {
        id: RequestId::new(),
        requester: user(requester),
        requester_email: None,
        attribute: AttributeKey::parse(attribute).unwrap(),
        value: AttributeValue::Bool(true),
        device: DeviceSnapshot {
            node_id: NodeId::parse(node).unwrap(),
            name: format!("{node}.tail1234.ts.net"),
            owner: "alice@example.com".into(),
            tags: vec![],
            os: "linux".into(),
            addresses: vec!["100.64.0.1".into()],
        },
        duration: Duration::from_secs(3600),
        approver: Some(user("UAPPROVER1")),
        reason: Reason::parse("deploy hotfix").unwrap(),
        status: Pending,
        created_at: created,
        updated_at: created,
        decided_by: None,
        decided_by_email: None,
        decided_at: None,
        expires_at: None,
        failure_reason: None,
        extends: None,
    }
}

fn pending(created: DateTime<Utc>) -> AccessRequest {
    request("UREQUESTER1", "nNODE1", "custom:prodAccess", created)
}

fn notify(id: RequestId, event: NotifyEvent, run_at: DateTime<Utc>) -> NewJob {
    NewJob::now(id, JobKind::Notify { event }, run_at)
}

/// Every due job (far in the future), leased to a throwaway worker.
async fn drain_jobs(store: &DynStore) -> Vec<accessbot::store::Job> {
    store
        .claim_jobs("drain", at(1_000_000), LEASE, 10_000)
        .await
        .unwrap()
}

fn ids(reqs: &[AccessRequest]) -> Vec<RequestId> {
    reqs.iter().map(|r| r.id).collect()
}

// ---------------------------------------------------------------- requests

async fn every_field_round_trips(db: &TestDb) {
    let store = db.store(4).await;
    let mut full = request("W012A3CDE", "nTCJJ46CNTRL", "custom:prod_db:rw", at(0));
    full.requester_email = Some("Ünïcode.person@example.com".into());
    full.value = AttributeValue::int((1 << 53) - 1).unwrap();
    full.device.name = "büro-laptop".into();
    full.device.owner = String::new();
    full.device.tags = vec!["tag:server".into(), "tag:prod".into()];
    full.device.addresses = vec!["100.101.102.103".into(), "fd7a:115c:a1e0::1".into()];
    full.duration = Duration::from_secs(7 * 24 * 3600);
    full.reason =
        Reason::parse("line one\nline two — \"quoted\" 'and' ; DROP TABLE requests; --").unwrap();
    full.status = Approved;
    full.updated_at = at(1);
    full.decided_by = Some(user("W012A3CDE"));
    full.decided_at = Some(at(1));
    full.expires_at = Some(at(7 * 24 * 3600 + 1));
    full.failure_reason = Some("not yet".into());
    store.create_request(&full, None, &[]).await.unwrap();
    assert_eq!(
        store.get_request(full.id).await.unwrap(),
        Some(full.clone())
    );

    let mut sparse = pending(at(2));
    sparse.value = AttributeValue::string("v1.2_beta").unwrap();
    sparse.approver = None;
    store.create_request(&sparse, None, &[]).await.unwrap();
    assert_eq!(
        store.get_request(sparse.id).await.unwrap(),
        Some(sparse.clone())
    );

    let mut negative = pending(at(3));
    negative.value = AttributeValue::int(-((1 << 53) - 1)).unwrap();
    store.create_request(&negative, None, &[]).await.unwrap();
    let got = store.get_request(negative.id).await.unwrap().unwrap();
    assert_eq!(got.value, negative.value);

    assert_eq!(store.get_request(RequestId::new()).await.unwrap(), None);
}

async fn creating_records_the_event_and_jobs_atomically(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    let jobs = [
        notify(req.id, NotifyEvent::Requested, at(0)),
        notify(req.id, NotifyEvent::Reminder, at(600)),
    ];
    store.create_request(&req, None, &jobs).await.unwrap();

    let events = store.audit_events(req.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].action, "created");
    assert_eq!(events[0].actor, Actor::User(req.requester.clone()));
    assert_eq!(events[0].at, req.created_at);
    assert_eq!(events[0].request_id, req.id);

    let stats = store.job_stats(at(0)).await.unwrap();
    assert_eq!(stats.due, 1, "the reminder is not due yet");
    assert_eq!(store.job_stats(at(1_000_000)).await.unwrap().due, 2);

    // A duplicate ID is refused, and nothing of it is stored.
    let mut again = pending(at(5));
    again.id = req.id;
    let err = store
        .create_request(
            &again,
            None,
            &[notify(req.id, NotifyEvent::Requested, at(5))],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Duplicate(id) if id == req.id),
        "{err:?}"
    );
    assert_eq!(store.get_request(req.id).await.unwrap(), Some(req.clone()));
    assert_eq!(store.audit_events(req.id).await.unwrap().len(), 1);
    assert_eq!(
        store.job_stats(at(1_000_000)).await.unwrap().due,
        2,
        "no job of the refused duplicate"
    );

    // A job for an unknown request rolls the whole creation back.
    let orphan = pending(at(6));
    let err = store
        .create_request(
            &orphan,
            None,
            &[notify(RequestId::new(), NotifyEvent::Requested, at(6))],
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert_eq!(store.get_request(orphan.id).await.unwrap(), None);

    // Only pending, or approved for a self-approval, can be created.
    let mut active = pending(at(7));
    active.status = Active;
    let err = store.create_request(&active, None, &[]).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition(_)), "{err:?}");
    assert_eq!(store.get_request(active.id).await.unwrap(), None);
}

async fn listing_applies_every_filter(db: &TestDb) {
    let store = db.store(4).await;
    let a = request("UALICE", "nNODE1", "custom:prod", at(0));
    let mut b = request("UBOB", "nNODE1", "custom:prod", at(10));
    b.approver = Some(user("UCAROL"));
    let mut c = request("UALICE", "nNODE2", "custom:prod", at(20));
    c.approver = None;
    let d = request("UALICE", "nNODE1", "custom:staging", at(30));
    // Same creation time as d: the ID breaks the tie (newest ID first).
    let e = request("UBOB", "nNODE1", "custom:prod", at(30));
    for r in [&a, &b, &c, &d, &e] {
        store.create_request(r, None, &[]).await.unwrap();
    }
    // b and a become active with different expiries; c is denied.
    for (r, expires) in [(&a, at(100)), (&b, at(200))] {
        store
            .transition(Transition::new(
                r.id,
                Pending,
                Approved,
                Actor::System,
                at(40),
            ))
            .await
            .unwrap();
        store
            .transition(
                Transition::new(r.id, Approved, Active, Actor::System, at(41)).expires_at(expires),
            )
            .await
            .unwrap();
    }
    store
        .transition(Transition::new(
            c.id,
            Pending,
            Denied,
            Actor::System,
            at(42),
        ))
        .await
        .unwrap();

    let list = |f: RequestFilter| {
        let store = store.clone();
        async move { ids(&store.list_requests(&f).await.unwrap()) }
    };
    assert!(d.id < e.id);
    assert_eq!(
        list(RequestFilter::default()).await,
        vec![e.id, d.id, c.id, b.id, a.id]
    );
    // Counting uses the same filter and ignores the limit.
    let count = |f: RequestFilter| {
        let store = store.clone();
        async move { store.count_requests(&f).await.unwrap() }
    };
    assert_eq!(count(RequestFilter::default()).await, 5);
    assert_eq!(
        count(RequestFilter {
            statuses: vec![Active],
            limit: Some(1),
            ..Default::default()
        })
        .await,
        2
    );
    assert_eq!(
        count(RequestFilter {
            requester: Some(user("UALICE")),
            statuses: vec![Pending],
            ..Default::default()
        })
        .await,
        1
    );
    assert_eq!(
        list(RequestFilter {
            requester: Some(user("UALICE")),
            ..Default::default()
        })
        .await,
        vec![d.id, c.id, a.id]
    );
    assert_eq!(
        list(RequestFilter {
            approver: Some(user("UCAROL")),
            ..Default::default()
        })
        .await,
        vec![b.id]
    );
    assert_eq!(
        list(RequestFilter {
            statuses: vec![Active, Denied],
            ..Default::default()
        })
        .await,
        vec![c.id, b.id, a.id]
    );
    assert_eq!(
        list(RequestFilter {
            statuses: vec![Pending],
            ..Default::default()
        })
        .await,
        vec![e.id, d.id]
    );
    assert_eq!(
        list(RequestFilter {
            node_id: Some(NodeId::parse("nNODE2").unwrap()),
            ..Default::default()
        })
        .await,
        vec![c.id]
    );
    assert_eq!(
        list(RequestFilter {
            attribute: Some("custom:staging".into()),
            ..Default::default()
        })
        .await,
        vec![d.id]
    );
    assert_eq!(
        list(RequestFilter {
            attribute: Some("custom:Staging".into()),
            ..Default::default()
        })
        .await,
        Vec::<RequestId>::new(),
        "attribute matches exactly"
    );
    assert_eq!(
        list(RequestFilter {
            created_since: Some(at(20)),
            ..Default::default()
        })
        .await,
        vec![e.id, d.id, c.id],
        "created_since is inclusive"
    );
    assert_eq!(
        list(RequestFilter {
            created_before: Some(at(10)),
            ..Default::default()
        })
        .await,
        vec![b.id, a.id],
        "created_before is inclusive"
    );
    // One microsecond matters.
    assert_eq!(
        list(RequestFilter {
            created_before: Some(at(10) - chrono::Duration::microseconds(1)),
            ..Default::default()
        })
        .await,
        vec![a.id]
    );
    assert_eq!(
        list(RequestFilter {
            expires_before: Some(at(100)),
            ..Default::default()
        })
        .await,
        vec![a.id],
        "expires_before is inclusive and skips requests without expiry"
    );
    assert_eq!(
        list(RequestFilter {
            statuses: vec![Active],
            node_id: Some(NodeId::parse("nNODE1").unwrap()),
            attribute: Some("custom:prod".into()),
            expires_before: Some(at(500)),
            ..Default::default()
        })
        .await,
        vec![b.id, a.id]
    );
    assert_eq!(
        list(RequestFilter {
            limit: Some(2),
            ..Default::default()
        })
        .await,
        vec![e.id, d.id]
    );
    assert_eq!(
        list(RequestFilter {
            requester: Some(user("UALICE")),
            limit: Some(1),
            ..Default::default()
        })
        .await,
        vec![d.id]
    );
}

// ---------------------------------------------------------- audit, messages

async fn audit_events_come_oldest_first(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let other = pending(at(0));
    store.create_request(&other, None, &[]).await.unwrap();
    let approver = Actor::User(user("UAPPROVER1"));
    // Appended out of time order; two share a time (insertion order decides).
    store
        .append_audit(
            req.id,
            at(20),
            &Actor::System,
            "notified",
            serde_json::json!({"event": "late"}),
        )
        .await
        .unwrap();
    store
        .append_audit(
            req.id,
            at(10),
            &approver,
            "first_at_10",
            serde_json::json!({"n": 1}),
        )
        .await
        .unwrap();
    store
        .append_audit(
            req.id,
            at(10),
            &Actor::System,
            "second_at_10",
            serde_json::Value::Null,
        )
        .await
        .unwrap();
    store
        .append_audit(
            other.id,
            at(5),
            &Actor::System,
            "elsewhere",
            serde_json::json!([]),
        )
        .await
        .unwrap();

    let events = store.audit_events(req.id).await.unwrap();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["created", "first_at_10", "second_at_10", "notified"]
    );
    assert_eq!(events[1].actor, approver);
    assert_eq!(events[1].detail, serde_json::json!({"n": 1}));
    assert_eq!(events[1].at, at(10));
    assert_eq!(events[2].detail, serde_json::Value::Null);
    assert_eq!(events[3].detail, serde_json::json!({"event": "late"}));
    assert!(events.windows(2).all(|w| w[0].id != w[1].id));

    let err = store
        .append_audit(
            RequestId::new(),
            at(1),
            &Actor::System,
            "x",
            serde_json::Value::Null,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
    assert!(store
        .audit_events(RequestId::new())
        .await
        .unwrap()
        .is_empty());
}

async fn message_refs_are_one_per_kind(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    assert!(store.message_refs(req.id).await.unwrap().is_empty());
    let dm = |ts: &str| MessageRef {
        kind: MessageKind::ApproverDm,
        recipient: None,
        channel: "D024BE91L".into(),
        ts: ts.into(),
    };
    let post = MessageRef {
        kind: MessageKind::ChannelPost,
        recipient: None,
        channel: "C06TH49GKHC".into(),
        ts: "1712345678.000200".into(),
    };
    store
        .set_message_ref(req.id, &dm("1712345678.000100"))
        .await
        .unwrap();
    store.set_message_ref(req.id, &post).await.unwrap();
    store
        .set_message_ref(req.id, &dm("1712345999.000300"))
        .await
        .unwrap();

    let mut refs = store.message_refs(req.id).await.unwrap();
    refs.sort_by_key(|r| r.kind.as_str());
    assert_eq!(refs, vec![dm("1712345999.000300"), post]);

    let err = store
        .set_message_ref(RequestId::new(), &dm("1.2"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

// -------------------------------------------------------------------- jobs

async fn jobs_are_leased_retried_and_completed(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let grant = store
        .enqueue(&NewJob::now(req.id, JobKind::Grant, at(5)))
        .await
        .unwrap();
    let early = store
        .enqueue(&notify(req.id, NotifyEvent::Requested, at(1)))
        .await
        .unwrap();
    let later = store
        .enqueue(&notify(req.id, NotifyEvent::Reminder, at(500)))
        .await
        .unwrap();
    let orphan = store
        .enqueue(&NewJob {
            request_id: None,
            kind: JobKind::Revoke,
            run_at: at(2),
        })
        .await
        .unwrap();
    assert_eq!(HashSet::from([grant, early, later, orphan]).len(), 4);
    assert_eq!(
        store.job_stats(at(10)).await.unwrap(),
        JobStats {
            due: 3,
            dead: 0,
            oldest_due: Some(at(1)),
        }
    );

    // Nothing is due before its time.
    assert!(store
        .claim_jobs("w1", at(0), LEASE, 10)
        .await
        .unwrap()
        .is_empty());

    // Oldest first, at most `limit`.
    let first = store.claim_jobs("w1", at(10), LEASE, 2).await.unwrap();
    assert_eq!(
        first.iter().map(|j| j.id).collect::<Vec<_>>(),
        [early, orphan]
    );
    assert_eq!(
        first[0].kind,
        JobKind::Notify {
            event: NotifyEvent::Requested
        }
    );
    assert_eq!(first[0].request_id, Some(req.id));
    assert_eq!(first[0].run_at, at(1));
    assert_eq!(first[0].attempts, 1);
    assert_eq!(first[0].last_error, None);
    assert_eq!(first[0].lease_until, at(10 + 120));
    assert_eq!(first[1].request_id, None);
    assert_eq!(first[1].kind, JobKind::Revoke);

    let second = store.claim_jobs("w1", at(10), LEASE, 10).await.unwrap();
    assert_eq!(second.iter().map(|j| j.id).collect::<Vec<_>>(), [grant]);
    assert_eq!(second[0].kind, JobKind::Grant);

    // Leased jobs are nobody else's until the lease runs out…
    assert!(store
        .claim_jobs("w2", at(129), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    // …then another worker takes them over (w1 crashed).
    let taken = store.claim_jobs("w2", at(130), LEASE, 10).await.unwrap();
    assert_eq!(
        taken.iter().map(|j| j.id).collect::<Vec<_>>(),
        [early, orphan, grant]
    );
    assert!(taken
        .iter()
        .all(|j| j.attempts == 2 && j.lease_until == at(250)));

    // w1's results no longer count.
    assert!(!store.complete_job(early, "w1").await.unwrap());
    assert!(!store.fail_job(grant, "w1", "late", None).await.unwrap());

    // w2 completes one, retries one, gives up on one.
    assert!(store.complete_job(early, "w2").await.unwrap());
    assert!(
        !store.complete_job(early, "w2").await.unwrap(),
        "already gone"
    );
    assert!(store
        .fail_job(grant, "w2", "429 Too Many Requests", Some(at(300)))
        .await
        .unwrap());
    assert!(store
        .fail_job(orphan, "w2", "job has no request", None)
        .await
        .unwrap());
    assert!(
        !store.fail_job(orphan, "w2", "again", None).await.unwrap(),
        "lease released"
    );

    assert_eq!(
        store.job_stats(at(299)).await.unwrap(),
        JobStats {
            due: 0,
            dead: 1,
            oldest_due: None,
        }
    );
    // The retry waits for retry_at, though its old lease would have expired.
    assert!(store
        .claim_jobs("w3", at(299), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    let retried = store.claim_jobs("w3", at(300), LEASE, 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].id, grant);
    assert_eq!(retried[0].run_at, at(300));
    assert_eq!(retried[0].attempts, 3);
    assert_eq!(
        retried[0].last_error.as_deref(),
        Some("429 Too Many Requests")
    );
    assert!(store.complete_job(grant, "w3").await.unwrap());

    // The dead job is kept, never claimed again; the reminder becomes due.
    assert_eq!(
        store.job_stats(at(1000)).await.unwrap(),
        JobStats {
            due: 1,
            dead: 1,
            oldest_due: Some(at(500)),
        }
    );
    let rest = store.claim_jobs("w3", at(1000), LEASE, 10).await.unwrap();
    assert_eq!(rest.iter().map(|j| j.id).collect::<Vec<_>>(), [later]);

    let err = store
        .enqueue(&notify(RequestId::new(), NotifyEvent::Refresh, at(0)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound(_)), "{err:?}");
}

async fn a_requests_notifications_run_one_at_a_time_in_order(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    let other = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    store.create_request(&other, None, &[]).await.unwrap();
    let n1 = store
        .enqueue(&notify(req.id, NotifyEvent::Requested, at(1)))
        .await
        .unwrap();
    let n2 = store
        .enqueue(&notify(req.id, NotifyEvent::Approved, at(2)))
        .await
        .unwrap();
    let grant = store
        .enqueue(&NewJob::now(req.id, JobKind::Grant, at(3)))
        .await
        .unwrap();
    let elsewhere = store
        .enqueue(&notify(other.id, NotifyEvent::Requested, at(4)))
        .await
        .unwrap();
    let reminder = store
        .enqueue(&notify(req.id, NotifyEvent::Reminder, at(900)))
        .await
        .unwrap();

    // The second notification waits for the first; other kinds and other
    // requests do not; a notification not yet due blocks nothing.
    let ids = |jobs: Vec<accessbot::store::Job>| jobs.into_iter().map(|j| j.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.claim_jobs("w1", at(10), LEASE, 10).await.unwrap()),
        [n1, grant, elsewhere]
    );
    // Not while the first one runs, on any worker.
    assert!(store
        .claim_jobs("w2", at(11), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.complete_job(n1, "w1").await.unwrap());
    assert_eq!(
        ids(store.claim_jobs("w2", at(12), LEASE, 10).await.unwrap()),
        [n2]
    );

    // A notification waiting for its retry does not hold up later ones, but
    // once due again it waits while a later one runs.
    assert!(store
        .fail_job(n2, "w2", "rate limited", Some(at(20)))
        .await
        .unwrap());
    let n3 = store
        .enqueue(&notify(req.id, NotifyEvent::Granted, at(13)))
        .await
        .unwrap();
    assert_eq!(
        ids(store.claim_jobs("w1", at(14), LEASE, 10).await.unwrap()),
        [n3]
    );
    assert!(store
        .claim_jobs("w2", at(21), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.complete_job(n3, "w1").await.unwrap());
    assert_eq!(
        ids(store.claim_jobs("w2", at(22), LEASE, 10).await.unwrap()),
        [n2]
    );
    let _ = reminder;
}

async fn home_refreshes_coalesce_per_person(db: &TestDb) {
    let store = db.store(4).await;
    let home = |u: &str, t: i64| NewJob::home(user(u), at(t));
    // One waits per person, whatever changed meanwhile; another person's
    // is separate. Stored as `{"kind": "home", "user": …}` and read back.
    let first = store.enqueue_once(&home("UALICE", 1)).await.unwrap();
    assert!(first.is_some());
    assert_eq!(store.enqueue_once(&home("UALICE", 2)).await.unwrap(), None);
    assert_eq!(store.enqueue_once(&home("UALICE", 0)).await.unwrap(), None);
    let bob = store.enqueue_once(&home("UBOB", 1)).await.unwrap();
    assert!(bob.is_some());
    let claimed = store.claim_jobs("w1", at(5), LEASE, 10).await.unwrap();
    let kinds: Vec<_> = claimed.iter().map(|j| (j.id, j.kind.clone())).collect();
    assert_eq!(
        kinds,
        [
            (
                first.unwrap(),
                JobKind::Home {
                    user: user("UALICE")
                }
            ),
            (bob.unwrap(), JobKind::Home { user: user("UBOB") }),
        ]
    );
    assert!(claimed.iter().all(|j| j.request_id.is_none()));
    assert!(store.complete_job(bob.unwrap(), "w1").await.unwrap());

    // A change while alice's home is being published queues one more (the
    // running one may have read the state before it), which waits until
    // the running one is done: an older view must not land last.
    let again = store.enqueue_once(&home("UALICE", 6)).await.unwrap();
    assert!(again.is_some());
    assert_eq!(store.enqueue_once(&home("UALICE", 7)).await.unwrap(), None);
    assert!(store
        .claim_jobs("w2", at(10), LEASE, 10)
        .await
        .unwrap()
        .is_empty());
    assert!(store.complete_job(first.unwrap(), "w1").await.unwrap());
    let next = store.claim_jobs("w2", at(11), LEASE, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|j| j.id).collect::<Vec<_>>(),
        [again.unwrap()]
    );

    // A publish put back for a retry (Slack said wait) absorbs new changes.
    assert!(store
        .fail_job(again.unwrap(), "w2", "ratelimited", Some(at(60)))
        .await
        .unwrap());
    assert_eq!(store.enqueue_once(&home("UALICE", 12)).await.unwrap(), None);
    assert_eq!(store.job_stats(at(59)).await.unwrap().due, 0);
    // Put back again while a newer one waits: the newer one takes over,
    // not before the retry time.
    let retried = store.claim_jobs("w1", at(60), LEASE, 10).await.unwrap();
    assert_eq!(
        retried.iter().map(|j| j.id).collect::<Vec<_>>(),
        [again.unwrap()]
    );
    let newer = store.enqueue_once(&home("UALICE", 61)).await.unwrap();
    assert!(newer.is_some());
    assert!(store
        .fail_job(again.unwrap(), "w1", "ratelimited", Some(at(120)))
        .await
        .unwrap());
    assert_eq!(store.job_stats(at(119)).await.unwrap().due, 0);
    let last = store.claim_jobs("w1", at(120), LEASE, 10).await.unwrap();
    assert_eq!(
        last.iter().map(|j| j.id).collect::<Vec<_>>(),
        [newer.unwrap()]
    );
    // Plain `enqueue` of a keyed job joins the one waiting.
    let waiting = store.enqueue(&home("UBOB", 130)).await.unwrap();
    assert_eq!(store.enqueue(&home("UBOB", 131)).await.unwrap(), waiting);
    // Other kinds still coalesce per request and kind, as before.
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let refresh = notify(req.id, NotifyEvent::Refresh, at(0));
    assert!(store.enqueue_once(&refresh).await.unwrap().is_some());
    assert_eq!(store.enqueue_once(&refresh).await.unwrap(), None);
}

async fn approver_filters_select_what_they_decided_for_others(db: &TestDb) {
    let store = db.store(4).await;
    let mut for_alice = request("UALICE", "nNODE1", "custom:prod", at(0));
    for_alice.approver = Some(user("UBOB"));
    let mut own = request("UBOB", "nNODE2", "custom:prod", at(1));
    own.approver = Some(user("UBOB"));
    let mut by_carol = request("UALICE", "nNODE3", "custom:prod", at(2));
    by_carol.approver = Some(user("UCAROL"));
    for r in [&for_alice, &own, &by_carol] {
        store.create_request(r, None, &[]).await.unwrap();
        let decider = r.approver.clone().unwrap();
        store
            .transition(
                Transition::new(r.id, Pending, Approved, Actor::User(decider.clone()), at(3))
                    .decided_by(decider, None),
            )
            .await
            .unwrap();
    }
    let filter = RequestFilter {
        decided_by: Some(user("UBOB")),
        not_requester: Some(user("UBOB")),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.list_requests(&filter).await.unwrap()),
        [for_alice.id]
    );
    assert_eq!(store.count_requests(&filter).await.unwrap(), 1);
    let decided = RequestFilter {
        decided_by: Some(user("UBOB")),
        ..Default::default()
    };
    assert_eq!(
        ids(&store.list_requests(&decided).await.unwrap()),
        [own.id, for_alice.id]
    );
}

async fn racing_home_refreshes_queue_one(db: &TestDb) {
    // Two pools on the same database: like two replicas, each finishing
    // several notifications at once.
    let stores = [db.store(5).await, db.store(5).await];
    let tasks = (0..16).map(|i| {
        let store = stores[i % 2].clone();
        tokio::spawn(async move {
            store
                .enqueue_once(&NewJob::home(user("UALICE"), at(i as i64)))
                .await
                .unwrap()
        })
    });
    let mut queued = Vec::new();
    for t in tasks {
        queued.extend(t.await.unwrap());
    }
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(drain_jobs(&stores[0]).await.len(), 1);
}

async fn concurrent_claimers_never_share_a_job(db: &TestDb) {
    // Two pools on the same database: like two replicas.
    let stores = [db.store(5).await, db.store(5).await];
    let req = pending(at(0));
    stores[0].create_request(&req, None, &[]).await.unwrap();
    let mut enqueued = HashSet::new();
    // Grant jobs: a request's notifications are claimed one at a time by
    // design (see a_requests_notifications_run_one_at_a_time_in_order).
    for i in 0..40 {
        enqueued.insert(
            stores[0]
                .enqueue(&NewJob::now(req.id, JobKind::Grant, at(i)))
                .await
                .unwrap(),
        );
    }
    let tasks = (0..8).map(|w| {
        let store = stores[w % 2].clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let jobs = store
                    .claim_jobs(&format!("w{w}"), at(100), LEASE, 3)
                    .await
                    .unwrap();
                if jobs.is_empty() {
                    return mine;
                }
                mine.extend(jobs.into_iter().map(|j| j.id));
            }
        })
    });
    let mut claimed = Vec::new();
    for t in futures::future::join_all(tasks).await {
        claimed.extend(t.unwrap());
    }
    let unique: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "a job was handed out twice");
    assert_eq!(unique, enqueued);
}

// ------------------------------------------------------------- transitions

async fn transitions_follow_the_rules(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let approver = user("UAPPROVER1");

    // Not in the state machine: refused before touching the database.
    let err = store
        .transition(Transition::new(
            req.id,
            Pending,
            Active,
            Actor::System,
            at(1),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::InvalidTransition(t) if t.from == Pending && t.to == Active),
        "{err:?}"
    );
    let unknown = RequestId::new();
    let err = store
        .transition(Transition::new(
            unknown,
            Pending,
            Approved,
            Actor::System,
            at(1),
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(id) if id == unknown),
        "{err:?}"
    );

    let approved = store
        .transition(
            Transition::new(
                req.id,
                Pending,
                Approved,
                Actor::User(approver.clone()),
                at(2),
            )
            .decided_by(approver.clone(), None)
            .detail(serde_json::json!({"via": "button"}))
            .job(NewJob::now(req.id, JobKind::Grant, at(2))),
        )
        .await
        .unwrap();
    assert_eq!(approved.status, Approved);
    assert_eq!(approved.updated_at, at(2));
    assert_eq!(approved.decided_by, Some(approver.clone()));
    assert_eq!(approved.decided_at, Some(at(2)));
    assert_eq!(approved.expires_at, None);
    assert_eq!(
        store.get_request(req.id).await.unwrap(),
        Some(approved.clone())
    );

    // Someone else's stale view: a conflict that names the current status,
    // and its jobs are not enqueued.
    let err = store
        .transition(
            Transition::new(
                req.id,
                Pending,
                Denied,
                Actor::User(approver.clone()),
                at(3),
            )
            .decided_by(approver.clone(), None)
            .job(notify(req.id, NotifyEvent::Denied, at(3))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict { id, expected: Pending, current: Approved } if id == req.id),
        "{err:?}"
    );

    let active = store
        .transition(
            Transition::new(req.id, Approved, Active, Actor::System, at(4)).expires_at(at(3604)),
        )
        .await
        .unwrap();
    assert_eq!(active.status, Active);
    assert_eq!(active.expires_at, Some(at(3604)));
    assert_eq!(active.decided_by, Some(approver.clone()), "kept");
    assert_eq!(active.decided_at, Some(at(2)), "kept");

    // NUL cannot be stored by PostgreSQL: both backends replace it.
    let failed = store
        .transition(
            Transition::new(req.id, Active, Failed, Actor::System, at(5))
                .failure("device\0gone")
                .detail(serde_json::json!({"error": "device\0gone"})),
        )
        .await
        .unwrap();
    assert_eq!(failed.failure_reason.as_deref(), Some("device\u{FFFD}gone"));
    assert_eq!(failed.expires_at, Some(at(3604)), "kept");

    let err = store
        .transition(Transition::new(
            req.id,
            Failed,
            Active,
            Actor::System,
            at(6),
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidTransition(_)), "{err:?}");

    let events = store.audit_events(req.id).await.unwrap();
    let trail: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        trail,
        [
            ("created", "UREQUESTER1"),
            ("approved", "UAPPROVER1"),
            ("active", "system"),
            ("failed", "system"),
        ]
    );
    assert_eq!(events[1].detail, serde_json::json!({"via": "button"}));
    assert_eq!(events[1].at, at(2));
    assert_eq!(
        events[3].detail,
        serde_json::json!({"error": "device\u{FFFD}gone"})
    );

    // Exactly the jobs of transitions that happened.
    let jobs = drain_jobs(&store).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].kind, JobKind::Grant);
}

async fn fifty_racing_approvals_have_one_winner(db: &TestDb) {
    // Two pools of 10 on the same database (two "replicas"), 50 clicks.
    let stores = [db.store(10).await, db.store(10).await];
    let req = pending(at(0));
    stores[0].create_request(&req, None, &[]).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(50));
    let tasks = (0..50).map(|i| {
        let store = stores[i % 2].clone();
        let barrier = barrier.clone();
        let id = req.id;
        tokio::spawn(async move {
            let approver = user("UAPPROVER1");
            let t = Transition::new(id, Pending, Approved, Actor::User(approver.clone()), at(1))
                .decided_by(approver, None)
                .detail(serde_json::json!({ "click": i }))
                .job(NewJob::now(id, JobKind::Grant, at(1)));
            barrier.wait().await;
            store.transition(t).await
        })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let wins = results.iter().filter(|r| r.is_ok()).count();
    let conflicts = results
        .iter()
        .filter(|r| {
            matches!(
                r,
                Err(StoreError::Conflict {
                    expected: Pending,
                    current: Approved,
                    ..
                })
            )
        })
        .count();
    let others: Vec<_> = results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .filter(|e| !matches!(e, StoreError::Conflict { .. }))
        .collect();
    assert!(others.is_empty(), "unexpected errors: {others:?}");
    assert_eq!((wins, conflicts), (1, 49));

    let jobs = drain_jobs(&stores[1]).await;
    assert_eq!(jobs.len(), 1, "exactly one grant job");
    assert_eq!(jobs[0].kind, JobKind::Grant);
    let approvals = stores[1]
        .audit_events(req.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "approved")
        .count();
    assert_eq!(approvals, 1);
}

async fn migrating_again_changes_nothing(db: &TestDb) {
    let store = db.store(2).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    store.migrate().await.unwrap();
    db.store(2).await.migrate().await.unwrap();
    assert_eq!(store.get_request(req.id).await.unwrap(), Some(req));
    store.ping().await.unwrap();
    let expected = match db.backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(store.backend(), expected);
}

/// Runs one statement on the test database, outside the store.
async fn execute(db: &TestDb, sql: &'static str) {
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            sqlx::query(sql).execute(&pool).await.unwrap();
            pool.close().await;
        }
    }
}

async fn pending_migrations_are_listed_without_migrating(db: &TestDb) {
    let store = db.unmigrated_store(2).await;
    let all = store.pending_migrations().await.unwrap();
    assert_eq!(all.first().map(String::as_str), Some("1/init"), "{all:?}");
    // Asking changed nothing: still all pending, and still no schema.
    assert_eq!(store.pending_migrations().await.unwrap(), all);
    assert!(
        store
            .create_request(&pending(at(0)), None, &[])
            .await
            .is_err(),
        "the schema should not exist yet"
    );

    store.migrate().await.unwrap();
    assert_eq!(
        store.pending_migrations().await.unwrap(),
        Vec::<String>::new()
    );

    // A migration recorded as failed is not applied.
    execute(
        db,
        "UPDATE _sqlx_migrations SET success = false WHERE version = 1",
    )
    .await;
    assert_eq!(store.pending_migrations().await.unwrap(), vec!["1/init"]);
    execute(db, "DELETE FROM _sqlx_migrations WHERE version = 1").await;
    assert_eq!(store.pending_migrations().await.unwrap(), vec!["1/init"]);
}

// ------------------------------------------------- migrate command, connect

/// Runs `accessbot migrate` with `database_url`; returns (success, stdout, stderr).
async fn run_migrate(database_url: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("accessbot.toml");
    std::fs::write(
        &config,
        "[[profiles]]\nattribute = \"custom:test\"\nmax_duration = \"1h\"\n",
    )
    .unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_accessbot"))
        .arg("--config")
        .arg(&config)
        .arg("migrate")
        .env_remove("ACCESSBOT_CONFIG")
        .env("DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Applied migrations and the schema's tables and indexes, to compare runs.
async fn schema_of(db: &TestDb) -> (i64, Vec<String>) {
    match db.backend {
        Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
            let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&pool)
                .await
                .unwrap();
            let objects: Vec<String> = sqlx::query_scalar(
                "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') FROM sqlite_master \
                 ORDER BY type, name",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            (applied, objects)
        }
        Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
            let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
                .fetch_one(&pool)
                .await
                .unwrap();
            let objects: Vec<String> = sqlx::query_scalar(
                "SELECT 'table ' || table_name FROM information_schema.tables \
                 WHERE table_schema = 'public' \
                 UNION ALL SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes \
                 WHERE schemaname = 'public' ORDER BY 1",
            )
            .fetch_all(&pool)
            .await
            .unwrap();
            pool.close().await;
            (applied, objects)
        }
    }
}

async fn migrate_command_creates_the_schema_once(db: &TestDb) {
    let (ok, stdout, stderr) = run_migrate(&db.url).await;
    assert!(ok, "first migrate failed: {stdout}\n{stderr}");
    assert!(stdout.contains("is up to date"), "{stdout}");
    let first = schema_of(db).await;
    assert!(first.0 >= 1, "no migration recorded");
    for table in ["requests", "audit_events", "message_refs", "jobs"] {
        assert!(
            first
                .1
                .iter()
                .any(|o| o.starts_with(&format!("table {table}"))),
            "table {table} missing: {:?}",
            first.1
        );
    }
    for index in [
        "jobs_due",
        "requests_status_expires_at",
        "requests_status_created_at",
    ] {
        assert!(
            first
                .1
                .iter()
                .any(|o| o.starts_with(&format!("index {index}"))),
            "index {index} missing: {:?}",
            first.1
        );
    }

    let (ok, stdout, stderr) = run_migrate(&db.url).await;
    assert!(ok, "second migrate failed: {stdout}\n{stderr}");
    assert_eq!(
        schema_of(db).await,
        first,
        "a second migrate changed the schema"
    );
}

#[tokio::test]
async fn connect_refuses_an_unsupported_scheme() {
    let err = accessbot::store::connect("mysql://app:hunter2@db.example.com/accessbot", 1)
        .await
        .err()
        .expect("mysql is not supported");
    let text = format!("{err:#}");
    assert!(text.contains("unsupported database URL"), "{text}");
    assert!(
        text.contains("mysql://app:***@db.example.com/accessbot"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}

#[tokio::test]
async fn unreachable_postgres_fails_without_showing_the_password() {
    // Port 1 on localhost: nothing listens, the connection is refused at once.
    let url = "postgres://accessbot:s3cret-pw@127.0.0.1:1/accessbot";
    let err = accessbot::store::connect(url, 2)
        .await
        .err()
        .expect("nothing listens on port 1");
    let text = format!("{err:#}");
    assert!(
        text.contains("postgres://accessbot:***@127.0.0.1:1/accessbot"),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");

    let (ok, stdout, stderr) = run_migrate(url).await;
    assert!(!ok, "migrate against nothing succeeded: {stdout}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(
        !stderr.contains("s3cret-pw") && !stdout.contains("s3cret-pw"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_missing_sqlite_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/no/such/dir/accessbot.db", dir.path().display());
    let err = accessbot::store::connect(&url, 1)
        .await
        .err()
        .expect("no such directory");
    let text = format!("{err:#}");
    assert!(text.contains(&url), "{text}");
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = accessbot::store::connect("sqlite::memory:", 5)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let req = pending(at(0));
    store
        .create_request(&req, None, &[NewJob::now(req.id, JobKind::Grant, at(0))])
        .await
        .unwrap();
    assert_eq!(store.get_request(req.id).await.unwrap(), Some(req));
    assert_eq!(drain_jobs(&store).await.len(), 1);
}

/// The (device, attribute) lock: one holder at a time, a token that grows
/// with every take, renewals only by the holder, and a lease that runs out.
async fn attribute_locks_fence_their_holders(db: &TestDb) {
    let store = db.store(4).await;
    let ttl = Duration::from_secs(60);
    let name = "nNODE1/custom:prodaccess";
    let first = store.acquire_lock(name, "a", at(0), ttl).await.unwrap();
    let first = first.expect("a free lock is taken");
    assert_eq!(
        store.acquire_lock(name, "b", at(30), ttl).await.unwrap(),
        None,
        "held by a until its lease runs out"
    );
    // The holder may take it again (and gets a new token).
    let again = store
        .acquire_lock(name, "a", at(31), ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(again > first);
    assert!(
        !store.renew_lock(name, first, at(32), ttl).await.unwrap(),
        "an old token is fenced off"
    );
    assert!(store.renew_lock(name, again, at(32), ttl).await.unwrap());
    // Renewed to at(92): b still waits at 91, takes over at 92.
    assert_eq!(
        store.acquire_lock(name, "b", at(91), ttl).await.unwrap(),
        None
    );
    let taken = store
        .acquire_lock(name, "b", at(92), ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(taken > again);
    assert!(
        !store.renew_lock(name, again, at(93), ttl).await.unwrap(),
        "a lost it"
    );
    // Releasing with a lost token does nothing; with the right one frees it.
    store.release_lock(name, again).await.unwrap();
    assert_eq!(
        store.acquire_lock(name, "c", at(94), ttl).await.unwrap(),
        None
    );
    store.release_lock(name, taken).await.unwrap();
    assert!(store
        .acquire_lock(name, "c", at(95), ttl)
        .await
        .unwrap()
        .is_some());
    // Other pairs are independent.
    assert!(store
        .acquire_lock("nNODE2/custom:prodaccess", "b", at(95), ttl)
        .await
        .unwrap()
        .is_some());
}

/// Many replicas race for one free lock: exactly one gets it.
async fn racing_lock_takers_have_one_winner(db: &TestDb) {
    let stores = [db.store(5).await, db.store(5).await];
    let takers = (0..20).map(|i| {
        let store = stores[i % 2].clone();
        async move {
            store
                .acquire_lock("nNODE1/custom:x", &format!("holder{i}"), at(0), LEASE)
                .await
                .unwrap()
        }
    });
    let won = futures::future::join_all(takers)
        .await
        .into_iter()
        .filter(Option::is_some)
        .count();
    assert_eq!(won, 1);
}

async fn a_given_up_grant_keeps_its_status_until_settled(db: &TestDb) {
    let store = db.store(4).await;
    let mut req = pending(at(0));
    req.status = Approved;
    req.decided_by = Some(req.requester.clone());
    req.decided_at = Some(at(0));
    let approval = Approval {
        actor: Actor::User(req.requester.clone()),
        detail: serde_json::json!({ "self_approved": true }),
    };
    store
        .create_request(&req, Some(&approval), &[])
        .await
        .unwrap();
    let trail = store.audit_events(req.id).await.unwrap();
    let actions: Vec<&str> = trail.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["created", "approved"],
        "recorded with the request"
    );
    assert_eq!(trail[1].detail, approval.detail);
    assert_eq!(trail[1].actor, approval.actor);

    assert!(store.give_up_grant(req.id, "refused", at(5)).await.unwrap());
    assert!(
        !store.give_up_grant(req.id, "again", at(6)).await.unwrap(),
        "given up once"
    );
    let got = store.get_request(req.id).await.unwrap().unwrap();
    assert_eq!(got.status, Approved);
    assert_eq!(got.failure_reason.as_deref(), Some("refused"));
    assert_eq!(
        store
            .audit_events(req.id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .action,
        "grant_given_up"
    );
    let other = pending(at(1));
    store.create_request(&other, None, &[]).await.unwrap();
    assert!(
        !store.give_up_grant(other.id, "x", at(7)).await.unwrap(),
        "only approvals"
    );
}

async fn the_deciders_email_is_kept(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let t = Transition::new(req.id, Pending, Approved, Actor::System, at(1))
        .decided_by(user("UAPPROVER1"), Some("approver@example.com".into()));
    let approved = store.transition(t).await.unwrap();
    assert_eq!(
        approved.decided_by_email.as_deref(),
        Some("approver@example.com")
    );
    assert_eq!(store.get_request(req.id).await.unwrap().unwrap(), approved);
}

async fn jobs_are_enqueued_once_and_renewed_while_running(db: &TestDb) {
    let store = db.store(4).await;
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let converge = NewJob::now(req.id, JobKind::Converge, at(0));
    assert!(store.enqueue_once(&converge).await.unwrap().is_some());
    assert!(
        store.enqueue_once(&converge).await.unwrap().is_none(),
        "one waiting is enough"
    );
    let other_kind = NewJob::now(req.id, JobKind::Revoke, at(0));
    assert!(store.enqueue_once(&other_kind).await.unwrap().is_some());
    let claimed = store.claim_jobs("w1", at(0), LEASE, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    let running = claimed
        .iter()
        .find(|j| j.kind == JobKind::Converge)
        .unwrap();
    // While it runs, another may wait behind it.
    assert!(store.enqueue_once(&converge).await.unwrap().is_some());
    // Renewed past its first lease, it is not claimable by anyone.
    assert!(store.renew_job(running.id, "w1", at(200)).await.unwrap());
    assert!(
        !store.renew_job(running.id, "w2", at(300)).await.unwrap(),
        "not w2's"
    );
    let later = store.claim_jobs("w2", at(150), LEASE, 10).await.unwrap();
    assert!(later.iter().all(|j| j.id != running.id), "{later:?}");
    assert!(store.complete_job(running.id, "w1").await.unwrap());
}

/// Instantiates every body once per backend, with identical code.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                }
            )*
        }
    };
}

conformance!(
    every_field_round_trips,
    creating_records_the_event_and_jobs_atomically,
    listing_applies_every_filter,
    audit_events_come_oldest_first,
    message_refs_are_one_per_kind,
    jobs_are_leased_retried_and_completed,
    a_requests_notifications_run_one_at_a_time_in_order,
    home_refreshes_coalesce_per_person,
    racing_home_refreshes_queue_one,
    approver_filters_select_what_they_decided_for_others,
    concurrent_claimers_never_share_a_job,
    transitions_follow_the_rules,
    fifty_racing_approvals_have_one_winner,
    the_nth_distinct_approval_approves,
    a_deny_after_an_approval_ends_the_request,
    racing_approvals_complete_a_request_once,
    one_approver_clicking_at_once_counts_once,
    an_audit_event_is_appended_once,
    message_refs_are_one_per_kind_and_recipient,
    migrating_again_changes_nothing,
    pending_migrations_are_listed_without_migrating,
    migrate_command_creates_the_schema_once,
    attribute_locks_fence_their_holders,
    racing_lock_takers_have_one_winner,
    a_given_up_grant_keeps_its_status_until_settled,
    the_deciders_email_is_kept,
    jobs_are_enqueued_once_and_renewed_while_running,
    extending_a_grant_is_a_compare_and_set_on_its_expiry,
    racing_extensions_of_one_grant_have_one_winner,
    an_approved_extension_request_is_finished_with_the_grant,
);
