//! Hostile and oversized requests: each gets a clear error, the process's
//! memory stays bounded, and nothing reaches the log.

use std::time::Duration;

use aftersales_tests::TestDb;
use serde_json::{json, Value};

use crate::service::Service;
use crate::traffic::register_case;

async fn head(service: &Service) -> u64 {
    let ready: Value = service
        .client
        .get(service.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["head_position"].as_u64().expect("head_position")
}

/// Posts raw bytes as JSON; returns the status and the problem's code.
async fn post(service: &Service, path: &str, body: Vec<u8>) -> (u16, String) {
    let response = service
        .client
        .post(service.url(path))
        .bearer_auth(&service.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let problem: Value = response.json().await.unwrap_or(Value::Null);
    (
        status,
        problem["code"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Offers a 10 MB body the way careful clients do, asking first with
/// `Expect: 100-continue`; returns the status the server answered with
/// before any of the body was sent.
async fn post_ten_megabytes(service: &Service) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = service.url("").trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = format!(
        "POST /v1/cases HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        service.token,
        10 * 1024 * 1024
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer before the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_requests_get_clear_errors_and_change_nothing() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    let service = Service::start(&db.url, &["--scheduler-interval", "0"]).await;
    let registered: Value = service
        .client
        .post(service.url("/v1/cases"))
        .bearer_auth(&service.token)
        .json(&register_case("limits").body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let case = registered["id"]
        .as_str()
        .expect("the new case's id")
        .to_owned();
    let parcel = json!({"tracking_no": "SF123", "carrier": "顺丰", "class": "damaged"});
    let reported = post(
        &service,
        &format!("/v1/cases/{case}/report-parcel-problem"),
        parcel.to_string().into_bytes(),
    )
    .await;
    assert_eq!(reported.0, 200, "{reported:?}");
    let head_before = head(&service).await;
    let rss_before = service.rss_kib();

    for _ in 0..5 {
        assert_eq!(post_ten_megabytes(&service).await, 413);
    }
    let cases = [
        (
            "JSON nested 100,000 deep",
            "/v1/cases".to_owned(),
            [vec![b'['; 100_000], vec![b']'; 100_000]].concat(),
            400,
            "malformed-json",
        ),
        (
            "a 10,000-element array as the body",
            "/v1/cases".to_owned(),
            serde_json::to_vec(&(0..10_000).collect::<Vec<u32>>()).unwrap(),
            422,
            "invalid-request",
        ),
        (
            "10,000 photos",
            format!("/v1/cases/{case}/add-parcel-photos"),
            json!({"photos": vec!["p.jpg"; 10_000]})
                .to_string()
                .into_bytes(),
            422,
            "invalid-field",
        ),
        (
            "a 200,000-character name",
            "/v1/cases".to_owned(),
            {
                let mut long = register_case("long").body;
                long["customer"]["name"] = Value::String("名".repeat(70_000));
                serde_json::to_vec(&long).unwrap()
            },
            422,
            "invalid-field",
        ),
        (
            "a 200,000-character phone number",
            "/v1/cases".to_owned(),
            {
                let mut long = register_case("phone").body;
                long["customer"]["phone"] = Value::String("1".repeat(200_000));
                serde_json::to_vec(&long).unwrap()
            },
            422,
            "invalid-field",
        ),
    ];
    for (what, path, body, status, code) in cases {
        for _ in 0..5 {
            let answer = post(&service, &path, body.clone()).await;
            assert_eq!(answer, (status, code.to_owned()), "{what}");
        }
    }
    assert_eq!(
        head(&service).await,
        head_before,
        "a refused request appended"
    );
    let rss_after = service.rss_kib();
    assert!(
        rss_after < rss_before + 64 * 1024,
        "memory grew from {rss_before} KiB to {rss_after} KiB"
    );
    eprintln!(
        "reliability: limits rss_before_kib={rss_before} rss_after_kib={rss_after} appended=0"
    );
    service.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_past_the_rate_limit_gets_429_with_retry_after() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    let service =
        Service::start(&db.url, &["--rate-limit", "5", "--scheduler-interval", "0"]).await;
    let head_before = head(&service).await;
    let burst = (0..60).map(|n| {
        let service = &service;
        async move {
            let sent = register_case(&format!("burst-{n}"));
            service
                .client
                .post(service.url("/v1/cases"))
                .bearer_auth(&service.token)
                .json(&sent.body)
                .send()
                .await
                .unwrap()
        }
    });
    let answers = futures::future::join_all(burst).await;
    let limited: Vec<_> = answers
        .iter()
        .filter(|a| a.status().as_u16() == 429)
        .collect();
    let created = answers
        .iter()
        .filter(|a| a.status().as_u16() == 201)
        .count();
    assert!(!limited.is_empty(), "no request was rate limited");
    assert_eq!(limited.len() + created, answers.len());
    for answer in &limited {
        let retry_after: u64 = answer.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=60).contains(&retry_after));
    }
    // Only what was let through was appended: one event per registration.
    assert_eq!(head(&service).await, head_before + created as u64);
    tokio::time::sleep(Duration::from_secs(1)).await;
    eprintln!(
        "reliability: rate limit burst=60 created={created} limited={}",
        limited.len()
    );
    service.finish();
}
