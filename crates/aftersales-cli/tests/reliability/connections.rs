//! Clients that hold connections without using them, or that use one key
//! for more than its share: the service bounds each and goes on serving.

use std::time::{Duration, Instant};

use aftersales_tests::TestDb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::service::{issue_key, Service};

/// Reads what the server sends until it closes the connection, or `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(limit, stream.read_to_end(&mut answer)).await;
    read.ok()
        .map(|_| String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_slow_connections_are_bounded_and_the_service_goes_on() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    let service = Service::start(
        &db.url,
        &["--max-connections", "20", "--header-timeout", "2"],
    )
    .await;
    let address = service.url("").trim_start_matches("http://").to_owned();
    // The harness's own client may hold a kept-alive connection.
    let mut idle = Vec::new();
    for _ in 0..19 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Over the cap: answered 503 at once, and closed.
    let mut over = Vec::new();
    for _ in 0..3 {
        over.push(TcpStream::connect(&address).await.unwrap());
    }
    let mut refused = 0;
    for stream in &mut over {
        let answer = read_until_closed(stream, Duration::from_secs(5)).await;
        if answer
            .is_some_and(|a| a.starts_with("HTTP/1.1 503") && a.contains("too many connections"))
        {
            refused += 1;
        }
    }
    assert!(refused >= 2, "connections over the cap were not refused");

    // A client sending its headers a byte at a time is cut off at the
    // header timeout, as are the idle ones.
    let mut slow = idle.pop().unwrap();
    let started = Instant::now();
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n".iter() {
            if slow.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    assert!(
        read_until_closed(&mut slow, Duration::from_secs(5))
            .await
            .is_some(),
        "a slow client kept its connection"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    for stream in &mut idle {
        assert!(
            read_until_closed(stream, Duration::from_secs(5))
                .await
                .is_some(),
            "an idle connection stayed open past the header timeout"
        );
    }

    // With the idle ones gone, requests are served again.
    let health = service
        .client
        .get(service.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status().as_u16(), 200);
    service.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_or_one_key_gets_its_share_only() {
    let _turn = crate::one_at_a_time().await;
    let db = TestDb::sqlite().await;
    let service = Service::start(&db.url, &[]).await;

    // Made-up tokens from one address are refused before they are looked
    // up, once the address has failed often enough.
    let mut statuses = Vec::new();
    for n in 0..40 {
        let answer = service
            .client
            .get(service.url("/v1/cases"))
            .bearer_auth(format!("as_made_up_{n}"))
            .send()
            .await
            .unwrap();
        statuses.push(answer.status().as_u16());
    }
    assert!(statuses[..10].iter().all(|&s| s == 401), "{statuses:?}");
    assert!(
        statuses.contains(&429),
        "bad tokens were never limited: {statuses:?}"
    );
    // The address's good key is not held back by another's guesses for long.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let good = service
        .client
        .get(service.url("/v1/cases"))
        .bearer_auth(&service.token)
        .send()
        .await
        .unwrap();
    assert_eq!(good.status().as_u16(), 200);

    // Live streams: four per key; the fifth waits for one to close.
    let watcher = issue_key(&db.url, "supervisor", "stream-watcher");
    let open = || {
        service
            .client
            .get(service.url("/v1/events/stream"))
            .bearer_auth(&watcher)
            .send()
    };
    let mut streams = Vec::new();
    for _ in 0..4 {
        let stream = open().await.unwrap();
        assert_eq!(stream.status().as_u16(), 200);
        streams.push(stream);
    }
    let fifth = open().await.unwrap();
    assert_eq!(fifth.status().as_u16(), 429);
    assert!(fifth.headers().contains_key("retry-after"));
    drop(streams.pop());
    let started = Instant::now();
    loop {
        let again = open().await.unwrap();
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(
            // The server notices a client gone at its next write, a
            // keep-alive comment at the latest.
            started.elapsed() < Duration::from_secs(30),
            "a closed stream never gave its place back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(streams);
    service.finish();
}
