//! Store conformance for what keeps repeats harmless, on SQLite and
//! PostgreSQL alike: a form submission creates its request once, however
//! often and from however many processes it arrives; and a request's
//! notification backlog is read without writing.

mod support;

use std::sync::Arc;
use std::time::Duration;

use accessbot::domain::{
    AccessRequest, AttributeKey, AttributeValue, DeviceSnapshot, NodeId, Reason, RequestId,
    RequestStatus, SlackUserId,
};
use accessbot::store::{
    JobKind, NewJob, NotificationJobs, NotifyEvent, RequestFilter, StoreError, Submitted,
};
use chrono::{DateTime, Utc};
use support::db::TestDb;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(1_750_000_000_123_456).unwrap()
        + chrono::Duration::seconds(secs)
}

fn pending() -> AccessRequest {
    AccessRequest {
        id: RequestId::new(),
        requester: SlackUserId::parse("UREQUESTER1").unwrap(),
        requester_email: None,
        attribute: AttributeKey::parse("custom:prodAccess").unwrap(),
        value: AttributeValue::Bool(true),
        device: DeviceSnapshot {
            node_id: NodeId::parse("nNODE1").unwrap(),
            name: "nNODE1.tail1234.ts.net".into(),
            owner: "alice@example.com".into(),
            tags: vec![],
            os: "linux".into(),
            addresses: vec!["100.64.0.1".into()],
        },
        duration: Duration::from_secs(3600),
        approver: Some(SlackUserId::parse("UAPPROVER1").unwrap()),
        reason: Reason::parse("deploy hotfix").unwrap(),
        status: RequestStatus::Pending,
        created_at: at(0),
        updated_at: at(0),
        decided_by: None,
        decided_by_email: None,
        decided_at: None,
        expires_at: None,
        failure_reason: None,
        extends: None,
    }
}

fn notify(id: RequestId, event: NotifyEvent, run_at: DateTime<Utc>) -> NewJob {
    NewJob::notify(id, event, run_at)
}

async fn all_jobs(db: &TestDb) -> usize {
    let store = db.store(1).await;
    let far = at(10 * 365 * 24 * 3600);
    store
        .claim_jobs("counter", far, Duration::from_secs(1), 1000)
        .await
        .unwrap()
        .len()
}

async fn a_view_submitted_twice_creates_one_request(db: &TestDb) {
    let store = db.store(2).await;
    let first = pending();
    let jobs = [notify(first.id, NotifyEvent::Requested, at(0))];
    let created = store
        .create_submitted_request("V0001", &first, None, &jobs)
        .await;
    assert_eq!(created.unwrap(), Submitted::Now);
    // The same view again (another request ID: a fresh validation).
    let again = pending();
    let jobs = [notify(again.id, NotifyEvent::Requested, at(0))];
    let repeated = store
        .create_submitted_request("V0001", &again, None, &jobs)
        .await;
    assert_eq!(repeated.unwrap(), Submitted::Before(first.id));
    assert_eq!(store.get_request(again.id).await.unwrap(), None);
    assert_eq!(all_jobs(db).await, 1, "the repeat enqueued nothing");
    // Another view is another request.
    let other = pending();
    let created = store
        .create_submitted_request("V0002", &other, None, &[])
        .await;
    assert_eq!(created.unwrap(), Submitted::Now);
    assert_eq!(store.get_request(other.id).await.unwrap(), Some(other));
}

async fn racing_submissions_of_one_view_have_one_winner(db: &TestDb) {
    // Two pools on the same database: two replicas.
    let stores = [db.store(5).await, db.store(5).await];
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks = (0..20).map(|i| {
        let store = stores[i % 2].clone();
        let barrier = barrier.clone();
        tokio::spawn(async move {
            let req = pending();
            let jobs = [notify(req.id, NotifyEvent::Requested, at(0))];
            barrier.wait().await;
            let outcome = store
                .create_submitted_request("VRACE", &req, None, &jobs)
                .await;
            (req.id, outcome)
        })
    });
    let results: Vec<(RequestId, Result<Submitted, StoreError>)> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<RequestId> = results
        .iter()
        .filter(|(_, r)| matches!(r, Ok(Submitted::Now)))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (_, outcome) in &results {
        match outcome {
            Ok(Submitted::Now) => {}
            Ok(Submitted::Before(id)) => assert_eq!(*id, winners[0]),
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    let count = stores[0]
        .count_requests(&RequestFilter::default())
        .await
        .unwrap();
    assert_eq!(count, 1);
    assert_eq!(all_jobs(db).await, 1);
}

async fn a_refused_submission_does_not_claim_its_view(db: &TestDb) {
    let store = db.store(2).await;
    let mut active = pending();
    active.status = RequestStatus::Active;
    let refused = store
        .create_submitted_request("V0003", &active, None, &[])
        .await;
    assert!(
        matches!(refused, Err(StoreError::InvalidTransition(_))),
        "{refused:?}"
    );
    let req = pending();
    let created = store
        .create_submitted_request("V0003", &req, None, &[])
        .await;
    assert_eq!(created.unwrap(), Submitted::Now);
}

async fn the_notification_backlog_counts_waiting_and_given_up_jobs(db: &TestDb) {
    let store = db.store(2).await;
    let req = pending();
    store.create_request(&req, None, &[]).await.unwrap();
    let backlog = |now| {
        let store = store.clone();
        async move { store.notification_jobs(req.id, now).await.unwrap() }
    };
    assert_eq!(backlog(at(0)).await, NotificationJobs::default());

    // A reminder for later is not waiting; a grant is not a notification.
    store
        .enqueue(&notify(req.id, NotifyEvent::Reminder, at(3600)))
        .await
        .unwrap();
    store
        .enqueue(&NewJob::now(req.id, JobKind::Grant, at(0)))
        .await
        .unwrap();
    assert_eq!(
        backlog(at(0)).await,
        NotificationJobs {
            waiting: 0,
            dead: 0
        }
    );

    // Due now: waiting; leased: running, not waiting; retrying: waiting.
    let due = store
        .enqueue(&notify(req.id, NotifyEvent::Approved, at(0)))
        .await
        .unwrap();
    assert_eq!(backlog(at(0)).await.waiting, 1);
    let claimed = store
        .claim_jobs("w1", at(1), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.id == due));
    assert_eq!(backlog(at(1)).await.waiting, 0);
    assert!(store
        .fail_job(due, "w1", "Slack down", Some(at(600)))
        .await
        .unwrap());
    assert_eq!(backlog(at(2)).await.waiting, 1, "retrying later");

    // Given up: dead, not waiting.
    let claimed = store
        .claim_jobs("w2", at(601), Duration::from_secs(60), 10)
        .await
        .unwrap();
    assert!(claimed.iter().any(|j| j.id == due));
    assert!(store.fail_job(due, "w2", "gave up", None).await.unwrap());
    assert_eq!(
        backlog(at(602)).await,
        NotificationJobs {
            waiting: 0,
            dead: 1
        }
    );
}

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
    a_view_submitted_twice_creates_one_request,
    racing_submissions_of_one_view_have_one_winner,
    a_refused_submission_does_not_claim_its_view,
    the_notification_backlog_counts_waiting_and_given_up_jobs,
);
