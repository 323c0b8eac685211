//! Each transport drives a sender through errors, resets and stalls, and
//! the async sender keeps its deadlines with a stalled server.
#![cfg(any(feature = "isahc", all(feature = "hyper", feature = "tokio")))]

mod sender_support;

use std::time::{Duration, Instant};

use kissmetrics::sender::SenderBuilder;
use kissmetrics::Scheme;
use km_testkit::TestServer;
use sender_support::*;

const N: usize = 2000;
const TIMEOUT: Duration = Duration::from_millis(200);

fn builder(base: u64) -> SenderBuilder {
    SenderBuilder::default()
        .capacity(N)
        .workers(16)
        .retry(patient())
        .clock(stepping_clock(base))
}

fn faulty_server(seed: u64) -> TestServer {
    let server = TestServer::builder().seed(seed).start().unwrap();
    server.set_fault_rates(faults(TIMEOUT * 2));
    server
}

#[cfg(feature = "isahc")]
#[test]
fn isahc_drives_the_blocking_sender() {
    let server = faulty_server(21);
    let client = kissmetrics::Client::builder(KEY)
        .scheme(Scheme::Http)
        .host(&server.host_port())
        .timeout(TIMEOUT)
        .proxy_from_env(false)
        .build_isahc()
        .unwrap();
    let base = now_secs();
    let started = Instant::now();
    let sender = builder(base).build(client).unwrap();
    for i in 0..N {
        sender
            .record(&format!("person-{i}"), &format!("event-{i}"), ())
            .unwrap();
    }
    sender.flush(Duration::from_secs(60)).unwrap();
    let c = sender.counters();
    assert_eq!((c.delivered, c.failed), (N as u64, 0));
    assert!(sender.shutdown(Duration::from_secs(5)).is_clean());
    let wire = assert_counted_once(&server, &sent_triples(N, base));
    println!(
        "FIGURES isahc blocking: events {N}, retries {}, {wire}, wall {:?}",
        c.retried,
        started.elapsed()
    );
}

#[cfg(all(feature = "tokio", any(feature = "hyper", feature = "isahc")))]
mod tasks {
    use super::*;
    use kissmetrics::{AsyncClient, AsyncClientBuilder};
    use km_testkit::FaultRates;

    fn client_builder(server: &TestServer) -> AsyncClientBuilder {
        AsyncClient::builder(KEY)
            .scheme(Scheme::Http)
            .host(&server.host_port())
            .timeout(TIMEOUT)
            .proxy_from_env(false)
    }

    async fn drive(name: &str, server: &TestServer, client: AsyncClient) {
        let base = now_secs();
        let started = Instant::now();
        let sender = builder(base).build_async(client).unwrap();
        for i in 0..N {
            sender
                .record(&format!("person-{i}"), &format!("event-{i}"), ())
                .unwrap();
        }
        sender.flush(Duration::from_secs(60)).await.unwrap();
        let c = sender.counters();
        assert_eq!((c.delivered, c.failed), (N as u64, 0));
        assert!(sender.shutdown(Duration::from_secs(5)).await.is_clean());
        let wire = assert_counted_once(server, &sent_triples(N, base));
        println!(
            "FIGURES {name} async: events {N}, retries {}, {wire}, wall {:?}",
            c.retried,
            started.elapsed()
        );
    }

    /// Flush and shutdown of an async sender keep their deadlines while
    /// every request stalls; requests in flight are cancelled.
    async fn deadlines(server: &TestServer, client: AsyncClient) {
        server.set_fault_rates(FaultRates {
            delay: Some((Duration::from_secs(30), 1.0)),
            ..FaultRates::default()
        });
        let sender = SenderBuilder::default()
            .workers(4)
            .build_async(client)
            .unwrap();
        for i in 0..20 {
            sender.record(&format!("p{i}"), "x", ()).unwrap();
        }
        let deadline = Duration::from_millis(300);
        let margin = Duration::from_millis(250);
        let t = Instant::now();
        assert_eq!(sender.flush(deadline).await.unwrap_err().total(), 20);
        let flush = t.elapsed();
        assert!(flush < deadline + margin, "flush took {flush:?}");
        let t = Instant::now();
        let report = sender.shutdown(deadline).await;
        let shutdown = t.elapsed();
        assert!(shutdown < deadline + margin, "shutdown took {shutdown:?}");
        assert_eq!(
            (report.undelivered, report.lost, report.in_flight),
            (20, 20, 4)
        );
        println!(
            "FIGURES async deadlines ({deadline:?} asked): flush {flush:?}, shutdown {shutdown:?}"
        );
    }

    #[cfg(feature = "hyper")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hyper_drives_the_async_sender() {
        let server = faulty_server(31);
        drive(
            "hyper",
            &server,
            client_builder(&server).build_hyper().unwrap(),
        )
        .await;
        deadlines(&server, client_builder(&server).build_hyper().unwrap()).await;
    }

    #[cfg(feature = "isahc")]
    #[tokio::test(flavor = "current_thread")]
    async fn isahc_drives_the_async_sender() {
        let server = faulty_server(41);
        drive(
            "isahc",
            &server,
            client_builder(&server).build_isahc().unwrap(),
        )
        .await;
        deadlines(&server, client_builder(&server).build_isahc().unwrap()).await;
    }
}
