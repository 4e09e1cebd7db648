use std::time::Duration;

use super::*;
use crate::domain::request::DeviceSnapshot;
use crate::domain::{
    AttributeKey, AttributeValue, NodeId, Reason, RequestId, RequestStatus, SlackUserId,
};
use crate::slack::blocks::limits;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn item(status: RequestStatus) -> Item {
    let user = |u: &str| SlackUserId::parse(u).unwrap();
    Item {
        req: AccessRequest {
            id: RequestId::new(),
            requester: user("U0ALICE01"),
            requester_email: None,
            attribute: AttributeKey::parse("custom:prod").unwrap(),
            value: AttributeValue::Bool(true),
            device: DeviceSnapshot {
                node_id: NodeId::parse("n1").unwrap(),
                name: "laptop".into(),
                owner: String::new(),
                tags: vec![],
                os: String::new(),
                addresses: vec![],
            },
            duration: Duration::from_secs(3600),
            approver: Some(user("U0BOB0001")),
            reason: Reason::parse(&"a long reason ".repeat(35)).unwrap(),
            status,
            created_at: at(0),
            updated_at: at(0),
            decided_by: Some(user("U0BOB0001")),
            decided_by_email: None,
            decided_at: Some(at(0)),
            expires_at: Some(at(3600)),
            failure_reason: None,
            extends: None,
        },
        profile_name: "Production".into(),
    }
}

/// A section as full as it gets: every shown request and more besides.
fn full(status: RequestStatus) -> Section {
    Section {
        items: (0..PER_SECTION).map(|_| item(status)).collect(),
        total: 1_000,
    }
}

fn blocks(view: &SlackView) -> Vec<serde_json::Value> {
    let json = serde_json::to_value(view).unwrap();
    json["blocks"].as_array().unwrap().clone()
}

#[test]
fn the_fullest_home_stays_within_slacks_block_limit() {
    // The statuses that take the most blocks in each section.
    let home = HomeContent {
        now: at(60),
        active: full(RequestStatus::Active),
        pending: full(RequestStatus::Pending),
        history: full(RequestStatus::Failed),
        waiting: full(RequestStatus::Pending),
        approved: full(RequestStatus::Active),
    };
    let view = home_view(&home);
    let blocks = blocks(&view);
    assert!(
        blocks.len() <= limits::VIEW_BLOCKS,
        "{} blocks",
        blocks.len()
    );
    let text = serde_json::to_string(&blocks).unwrap();
    assert_eq!(text.matches("…and 990 more.").count(), 5, "{text}");
}

#[test]
fn an_empty_home_says_so_and_hides_the_approver_sections() {
    let view = home_view(&HomeContent::default());
    let text = serde_json::to_string(&blocks(&view)).unwrap();
    for said in ["No active access.", "Nothing pending.", "No requests yet."] {
        assert!(text.contains(said), "{said}: {text}");
    }
    assert!(!text.contains("Waiting for your decision"), "{text}");
    assert!(!text.contains("Access you approved"), "{text}");
}

#[test]
fn time_left_counts_whole_minutes_from_rendering() {
    let mut home = HomeContent {
        now: at(60),
        ..Default::default()
    };
    home.active.items.push(item(RequestStatus::Active));
    home.active.total = 1;
    let text = serde_json::to_string(&blocks(&home_view(&home))).unwrap();
    assert!(text.contains("59m left"), "{text}");
}

#[test]
fn a_request_to_extend_a_grant_says_so_wherever_it_is_listed() {
    let extension = |status| {
        let mut i = item(status);
        i.req.extends = Some(RequestId::new());
        i.req.reason = Reason::parse("longer").unwrap();
        Section {
            items: vec![i],
            total: 1,
        }
    };
    let home = HomeContent {
        now: at(60),
        pending: extension(RequestStatus::Pending),
        waiting: extension(RequestStatus::Pending),
        history: extension(RequestStatus::Extended),
        ..Default::default()
    };
    let text = serde_json::to_string(&blocks(&home_view(&home))).unwrap();
    for said in [
        "Extend *Production* on *laptop* (+1h)",
        "<@U0ALICE01> asks to extend *Production* on *laptop* (+1h)",
        ":heavy_plus_sign: *Production* on *laptop* (+1h) · extended (approved by <@U0BOB0001>)",
    ] {
        assert!(text.contains(said), "{said}: {text}");
    }
}
