//! 增量导出: the incremental export of cases, as a data warehouse polls it:
//! every case once per page run, in the order of their last change, and,
//! while agents go on working, no change missed.

use std::collections::HashMap;

use aftersales_domain::model::Category;
use aftersales_tests::{on_both_backends, TestDb};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use uuid::Uuid;

use super::{call, Service};

on_both_backends!(
    the_export_pages_every_case_in_the_order_of_its_last_change,
    an_export_polled_while_cases_change_misses_no_change
);

impl Service {
    /// One page of the export after `after`, once the read models reflect
    /// `at_least` if given.
    async fn changed(&self, token: &str, after: u64, limit: usize, at_least: Option<u64>) -> Value {
        let path = format!("/v1/incremental/cases?after={after}&limit={limit}");
        let wait = at_least.map(|position| position.to_string());
        let headers: Vec<(&str, &str)> = wait
            .iter()
            .map(|position| ("x-min-log-position", position.as_str()))
            .collect();
        let (status, _, page) = self.send(Method::GET, &path, token, &headers, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page
    }
}

fn ids(page: &Value) -> Vec<(Uuid, u64)> {
    page["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["case_id"].as_str().unwrap().parse().unwrap(),
                case["revision"].as_u64().unwrap(),
            )
        })
        .collect()
}

async fn the_export_pages_every_case_in_the_order_of_its_last_change(db: TestDb) {
    let service = Service::start(db).await;
    let mut registered = Vec::new();
    for _ in 0..12 {
        registered.push(service.register(Category::Logistics).await);
    }
    // The first case changes last.
    let (status, _, answer) = service
        .post(
            &format!("/v1/cases/{}/log-call", registered[0]),
            &service.agent,
            &call("13912345678"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let head = service.store.head().await.unwrap();

    let mut exported = Vec::new();
    let mut after = 0;
    loop {
        let page = service
            .changed(&service.supervisor, after, 5, Some(head))
            .await;
        let next = page["next"].as_u64().unwrap();
        assert!(next >= after);
        exported.extend(ids(&page));
        after = next;
        if page["end_of_stream"] == true {
            break;
        }
    }
    let mut expected: Vec<Uuid> = registered[1..].to_vec();
    expected.push(registered[0]);
    let order: Vec<Uuid> = exported.iter().map(|(id, _)| *id).collect();
    assert_eq!(order, expected);
    assert_eq!(after, head);
    // Nothing changed since: an empty page that keeps the cursor.
    let page = service.changed(&service.supervisor, after, 5, None).await;
    assert_eq!(ids(&page), vec![]);
    assert_eq!(page["next"], after);
    assert_eq!(page["end_of_stream"], true);

    // Masked for those who may not see the customers; a key limited to
    // some categories sees theirs alone.
    let page = service.changed(&service.other_agent, 0, 50, None).await;
    assert!(!page.to_string().contains("13912345678"), "{page}");
    service.register(Category::ProductQuality).await;
    let head = service.store.head().await.unwrap();
    let page = service
        .changed(&service.courier_feed, 0, 50, Some(head))
        .await;
    assert_eq!(ids(&page).len(), 12, "{page}");
    let (status, _, body) = service
        .send(
            Method::GET,
            "/v1/incremental/cases?after=-1",
            &service.supervisor,
            &[],
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], "after");
}

async fn an_export_polled_while_cases_change_misses_no_change(db: TestDb) {
    let service = std::sync::Arc::new(Service::start(db).await);
    let mut cases = Vec::new();
    for _ in 0..10 {
        cases.push(service.register(Category::Logistics).await);
    }
    let writer = {
        let service = service.clone();
        let cases = cases.clone();
        tokio::spawn(async move {
            for round in 0..60 {
                let case = cases[(round * 7) % cases.len()];
                let (status, _, answer) = service
                    .post(
                        &format!("/v1/cases/{case}/log-call"),
                        &service.agent,
                        &call("13800000000"),
                    )
                    .await;
                assert_eq!(status, StatusCode::OK, "{answer}");
            }
        })
    };
    // The warehouse's copy: each case at the last revision it was given.
    let mut copy: HashMap<Uuid, u64> = HashMap::new();
    let mut after = 0;
    let mut poll = |page: &Value, after: &mut u64| {
        for (id, revision) in ids(page) {
            let seen = copy.entry(id).or_default();
            assert!(revision >= *seen, "case {id} went back in time");
            *seen = revision;
        }
        *after = page["next"].as_u64().unwrap();
    };
    while !writer.is_finished() {
        let page = service.changed(&service.supervisor, after, 4, None).await;
        poll(&page, &mut after);
        // A warehouse polls now and then; in a tight loop the key would run
        // into its rate limit while the writer is slow.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    writer.await.unwrap();
    let head = service.store.head().await.unwrap();
    loop {
        let page = service
            .changed(&service.supervisor, after, 4, Some(head))
            .await;
        poll(&page, &mut after);
        if page["end_of_stream"] == true {
            break;
        }
    }
    for case in cases {
        let stream = aftersales_store::StreamName::of("case", case).unwrap();
        let last = service
            .store
            .read_stream(
                &stream,
                aftersales_store::StreamFrom::End,
                aftersales_store::Direction::Backwards,
                1,
            )
            .await
            .unwrap();
        assert_eq!(copy.get(&case), Some(&last[0].revision), "case {case}");
    }
}
