//! Events the read models cannot apply: parked, passed over, retried and
//! skipped, while everything else goes on.

use std::collections::BTreeSet;

use aftersales_domain::case::*;
use aftersales_domain::model::*;
use aftersales_domain::streams::{ParkedEventSkipped, ReadModelEvent};
use aftersales_domain::{Actor, DomainEvent, Role};
use aftersales_projections::runner::{self, Projector, Runtime, Target, Until};
use aftersales_projections::{
    admin, case_views, AnyEvent, DocKey, Docs, Envelope, Projection, ProjectionError,
};
use aftersales_store::{Direction, EventMetadata, StreamFrom};
use aftersales_tests::desk::*;
use aftersales_tests::{on_both_backends, write_behind_the_api, TestDb};
use uuid::Uuid;

use crate::{assert_consistent, open};

on_both_backends!(
    an_event_no_read_model_can_read_is_parked_and_the_others_go_on,
    a_parked_event_applies_on_retry_once_the_cause_is_mended,
);

async fn an_event_no_read_model_can_read_is_parked_and_the_others_go_on(db: TestDb) {
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    let before = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    // What `events append` once let through: a registration without most
    // of its fields, in a case stream, written around every check.
    let poison = format!("case-{}", Uuid::now_v7());
    let position =
        write_behind_the_api(&db.url, &poison, "CaseRegistered", r#"{"customer":"张三"}"#).await;
    let after = desk
        .register(
            Priority::P1,
            Category::ProductQuality,
            PlatformState::SellerShipped,
        )
        .await;

    let parked = admin::catch_up(store.clone(), &read).await.unwrap();
    let parked_by: BTreeSet<&str> = parked.iter().map(|p| p.projection.as_str()).collect();
    assert_eq!(
        parked_by,
        admin::READ_MODELS.iter().map(|model| model.name).collect(),
        "{parked:?}"
    );
    assert!(
        parked
            .iter()
            .all(|p| p.position == position && p.stream == poison && p.attempts == 1),
        "{parked:?}"
    );
    // The events before and after it are read; every read model is at the
    // head with one parked event.
    for case in [before, after] {
        assert!(case_views::get(&read, case).await.unwrap().is_some());
    }
    for line in admin::status(store.as_ref(), &read).await.unwrap() {
        assert_eq!((line.lag_events, line.parked), (0, 1), "{line:?}");
    }

    // The same code fails on it again: it stays parked, counted twice.
    let mut case_views = admin::projectors(&store, &["case_views".into()], Target::Live).unwrap();
    let retried = admin::retry(store.as_ref(), &read, case_views[0].as_mut(), None)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert!(retried[0].error.is_some(), "{retried:?}");
    let still = read.parked(Some("case_views")).await.unwrap();
    assert_eq!(still[0].attempts, 2);

    // Skipped for good, by each read model, with who and why in the log.
    let operator = Actor::new("ops-li", Role::Admin);
    let unknown = admin::skip(
        store.as_ref(),
        &read,
        "case_views",
        position + 99,
        "no",
        &operator,
    )
    .await;
    assert!(
        matches!(unknown, Err(ProjectionError::NotParked { .. })),
        "{unknown:?}"
    );
    for name in admin::READ_MODELS.iter().map(|model| model.name) {
        let reason = "registration written by hand without its fields";
        admin::skip(store.as_ref(), &read, name, position, reason, &operator)
            .await
            .unwrap();
    }
    assert!(read.parked(None).await.unwrap().is_empty());
    let records = store
        .read_stream(
            &runner::skip_stream("case_views").unwrap(),
            StreamFrom::Start,
            Direction::Forwards,
            10,
        )
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    let skip = ReadModelEvent::decode(&records[0].event_type, records[0].data.get()).unwrap();
    let ReadModelEvent::ParkedEventSkipped(ParkedEventSkipped {
        position: skipped,
        reason,
        ..
    }) = skip;
    assert_eq!(
        (skipped, reason.as_str()),
        (position, "registration written by hand without its fields")
    );
    let metadata: EventMetadata = serde_json::from_str(records[0].metadata.get()).unwrap();
    assert_eq!(
        (metadata.actor_id.as_deref(), metadata.actor_role.as_deref()),
        (Some("ops-li"), Some("admin"))
    );

    // A rebuild passes over the skipped event and parks nothing; the live
    // read models equal it.
    admin::rebuild(store.clone(), &read, &[], true, |_| {})
        .await
        .unwrap();
    assert!(read.parked(None).await.unwrap().is_empty());
    assert_consistent(&store, &read).await;
}

/// Counts each case's events, refusing those of one case: a read model
/// with a bug, and the same read model mended.
#[derive(Debug)]
struct Counting {
    refuse: Option<Uuid>,
}

impl Projection for Counting {
    type Doc = u32;
    const NAME: &'static str = "counting";
    const VERSION: u32 = 1;

    fn reads(&self, event: &Envelope, keys: &mut Vec<DocKey>) {
        keys.push(("cases", event.aggregate_id.to_string()));
    }

    fn apply(&self, event: &Envelope, docs: &mut Docs<u32>) -> Result<(), ProjectionError> {
        if !matches!(event.event, AnyEvent::Case(_)) {
            return Ok(());
        }
        if self.refuse == Some(event.aggregate_id) {
            return Err(ProjectionError::Inconsistent {
                position: event.position,
                reason: "this case is refused".to_owned(),
            });
        }
        let key = event.aggregate_id.to_string();
        let count = docs.get("cases", &key).copied().unwrap_or(0);
        docs.put("cases", key, count + 1);
        Ok(())
    }
}

async fn counts(read: &aftersales_projections::ReadDb) -> Vec<(String, u32)> {
    read.all("rm_counting", "cases")
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.key, row.doc.parse().unwrap()))
        .collect()
}

async fn a_parked_event_applies_on_retry_once_the_cause_is_mended(db: TestDb) {
    let (store, read) = open(&db).await;
    let desk = Desk::new(store.clone());
    let marked = desk
        .register(
            Priority::P2,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    let other = desk
        .register(
            Priority::P3,
            Category::Logistics,
            PlatformState::SellerShipped,
        )
        .await;
    let mut buggy: Vec<Box<dyn Projector>> = vec![Box::new(Runtime::new(
        Counting {
            refuse: Some(marked),
        },
        Target::Live,
    ))];
    let parked = runner::run(store.clone(), &read, &mut buggy, Until::CaughtUp, |_| {})
        .await
        .unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].stream, format!("case-{marked}"));
    assert_eq!(counts(&read).await, vec![(other.to_string(), 1)]);
    let head = store.head().await.unwrap();
    assert_eq!(
        read.status("counting").await.unwrap().unwrap().position,
        head
    );

    // The code is mended: the retry applies the parked event, in place,
    // and the checkpoint stays at the head.
    let mut mended = Runtime::new(Counting { refuse: None }, Target::Live);
    let retried = admin::retry(store.as_ref(), &read, &mut mended, None)
        .await
        .unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].error, None);
    assert!(read.parked(Some("counting")).await.unwrap().is_empty());
    let mut expected = vec![(marked.to_string(), 1), (other.to_string(), 1)];
    expected.sort();
    assert_eq!(counts(&read).await, expected);
    assert_eq!(
        read.status("counting").await.unwrap().unwrap().position,
        head
    );

    // Later events apply on top of what the retry applied.
    let logged = desk
        .run(
            other,
            &agent(),
            LogCall {
                call_id: Uuid::new_v4(),
                direction: CallDirection::Inbound,
                with_customer: true,
                party_name: None,
                number: "13912345678".into(),
                called_at: monday_10am(),
                content: "问进度".into(),
                product: None,
                fault: None,
                warranty: WarrantyStatus::InWarranty,
                outcome: CallOutcome::Connected,
                follow_up: FollowUpStatus::Notified,
            },
        )
        .await
        .len() as u32;
    let mut mended: Vec<Box<dyn Projector>> = vec![Box::new(mended)];
    runner::run(store.clone(), &read, &mut mended, Until::CaughtUp, |_| {})
        .await
        .unwrap();
    let mut expected = vec![(marked.to_string(), 1), (other.to_string(), 1 + logged)];
    expected.sort();
    assert_eq!(counts(&read).await, expected);
}
