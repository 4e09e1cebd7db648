//! Conformance of extending a grant: a compare-and-set on the grant's
//! status and expiry (exactly one of many racing extensions wins, on two
//! pools as two replicas would), its `extended` event and jobs written
//! with it, and an approved request to extend it finished in the same
//! transaction or not at all.

use std::sync::Arc;
use std::time::Duration;

use accessbot::domain::{AccessRequest, RequestStatus};
use accessbot::store::{
    Actor, DynStore, Extension, JobKind, NewJob, NotifyEvent, RequestFilter, StoreError, Transition,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::support::db::TestDb;
use super::{at, drain_jobs, notify, pending, user, Active, Approved, Pending};

/// An active grant approved at `at(0)`, ending at `at(3600)`.
async fn active_grant(store: &DynStore) -> AccessRequest {
    let req = pending(at(0));
    store.create_request(&req, None, &[]).await.unwrap();
    let approver = user("UAPPROVER1");
    let t = Transition::new(
        req.id,
        Pending,
        Approved,
        Actor::User(approver.clone()),
        at(0),
    )
    .decided_by(approver, None);
    store.transition(t).await.unwrap();
    let t = Transition::new(req.id, Approved, Active, Actor::System, at(1)).expires_at(at(3600));
    store.transition(t).await.unwrap()
}

fn extension(grant: &AccessRequest, from: DateTime<Utc>, to: DateTime<Utc>) -> Extension {
    Extension {
        grant: grant.id,
        expected_until: from,
        new_until: to,
        actor: Actor::User(grant.requester.clone()),
        at: at(60),
        detail: json!({ "extra_seconds": (to - from).num_seconds(), "without_approval": true }),
        request: None,
        jobs: vec![
            NewJob::now(grant.id, JobKind::Converge, at(60)),
            notify(grant.id, NotifyEvent::Extended, at(60)),
        ],
    }
}

fn kinds(jobs: &[accessbot::store::Job]) -> Vec<JobKind> {
    jobs.iter().map(|j| j.kind.clone()).collect()
}

pub async fn extending_a_grant_is_a_compare_and_set_on_its_expiry(db: &TestDb) {
    let store = db.store(4).await;
    let grant = active_grant(&store).await;
    drain_jobs(&store).await;

    // Computed from another expiry: nothing is written.
    let stale = extension(&grant, at(1800), at(7200));
    assert!(matches!(
        store.extend_grant(&stale).await,
        Err(StoreError::ExpiryChanged(id)) if id == grant.id
    ));
    assert!(drain_jobs(&store).await.is_empty());

    let ext = extension(&grant, at(3600), at(7200));
    let extended = store.extend_grant(&ext).await.unwrap();
    assert_eq!(extended.expires_at, Some(at(7200)));
    assert_eq!(extended.status, Active);
    assert_eq!(extended.updated_at, at(60));
    assert_eq!(store.get_request(grant.id).await.unwrap(), Some(extended));
    let trail = store.audit_events(grant.id).await.unwrap();
    let last = trail.last().unwrap();
    assert_eq!(
        (last.action.as_str(), &last.actor, &last.detail),
        ("extended", &ext.actor, &ext.detail)
    );
    assert_eq!(
        kinds(&drain_jobs(&store).await),
        [
            JobKind::Converge,
            JobKind::Notify {
                event: NotifyEvent::Extended
            }
        ]
    );
    // The same extension again: its expiry is gone.
    assert!(matches!(
        store.extend_grant(&ext).await,
        Err(StoreError::ExpiryChanged(_))
    ));

    // A grant no longer active is not extended; an unknown one is not found.
    let t = Transition::new(
        grant.id,
        Active,
        RequestStatus::Revoking,
        Actor::System,
        at(70),
    );
    store.transition(t).await.unwrap();
    let late = extension(&grant, at(7200), at(9000));
    assert!(matches!(
        store.extend_grant(&late).await,
        Err(StoreError::Conflict { id, expected: Active, current: RequestStatus::Revoking })
            if id == grant.id
    ));
    let mut unknown = late.clone();
    unknown.grant = accessbot::domain::RequestId::new();
    assert!(matches!(
        store.extend_grant(&unknown).await,
        Err(StoreError::NotFound(id)) if id == unknown.grant
    ));
    assert_eq!(
        store
            .get_request(grant.id)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        Some(at(7200))
    );
}

pub async fn racing_extensions_of_one_grant_have_one_winner(db: &TestDb) {
    let stores = [db.store(10).await, db.store(10).await];
    let grant = active_grant(&stores[0]).await;
    let racers = 20;
    let barrier = Arc::new(tokio::sync::Barrier::new(racers));
    let tasks = (0..racers).map(|i| {
        let store = stores[i % 2].clone();
        let barrier = barrier.clone();
        let ext = extension(&grant, at(3600), at(3600 + 60 * (i as i64 + 1)));
        tokio::spawn(async move {
            barrier.wait().await;
            store.extend_grant(&ext).await.map(|g| g.expires_at)
        })
    });
    let results: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let won: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let lost = results
        .iter()
        .filter(|r| matches!(r, Err(StoreError::ExpiryChanged(_))))
        .count();
    assert_eq!(lost, racers - 1, "{results:?}");
    let stored = stores[1].get_request(grant.id).await.unwrap().unwrap();
    assert_eq!(&stored.expires_at, won[0]);
    let events = stores[1].audit_events(grant.id).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.action == "extended").count(), 1);
}

pub async fn an_approved_extension_request_is_finished_with_the_grant(db: &TestDb) {
    let store = db.store(4).await;
    let grant = active_grant(&store).await;
    let mut asked = pending(at(30));
    asked.extends = Some(grant.id);
    asked.duration = Duration::from_secs(7200);
    asked.status = Approved;
    asked.decided_by = Some(user("UAPPROVER1"));
    asked.decided_at = Some(at(40));
    store.create_request(&asked, None, &[]).await.unwrap();
    assert_eq!(
        store.get_request(asked.id).await.unwrap(),
        Some(asked.clone())
    );
    let children = store
        .list_requests(&RequestFilter {
            extends: Some(grant.id),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(children, [asked.clone()]);
    drain_jobs(&store).await;

    let mut ext = extension(&grant, at(3600), at(10800));
    ext.request = Some(asked.id);
    ext.jobs
        .push(notify(asked.id, NotifyEvent::Extended, at(60)));
    store.extend_grant(&ext).await.unwrap();
    let done = store.get_request(asked.id).await.unwrap().unwrap();
    assert_eq!(done.status, RequestStatus::Extended);
    assert_eq!(done.expires_at, Some(at(10800)), "where the grant now ends");
    let trail = store.audit_events(asked.id).await.unwrap();
    assert_eq!(trail.last().map(|e| e.action.as_str()), Some("extended"));
    assert_eq!(drain_jobs(&store).await.len(), 3);

    // Applied once: a second run finds it finished, and the grant's
    // extension is undone with it.
    let mut again = extension(&grant, at(10800), at(18000));
    again.request = Some(asked.id);
    assert!(matches!(
        store.extend_grant(&again).await,
        Err(StoreError::Conflict { id, expected: Approved, current: RequestStatus::Extended })
            if id == asked.id
    ));
    let grant_now = store.get_request(grant.id).await.unwrap().unwrap();
    assert_eq!(grant_now.expires_at, Some(at(10800)));
    let extended_events = store
        .audit_events(grant.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "extended")
        .count();
    assert_eq!(extended_events, 1);
    assert!(drain_jobs(&store).await.is_empty());
}
