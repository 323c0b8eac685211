//! Each fault kind, the queue, and reproducible rates.

use std::time::{Duration, Instant};

use km_testkit::{Fault, FaultRates, TestServer, GIF, MID_RESPONSE_BYTES};

use crate::client::{get, Client, WAIT};

#[test]
fn status_faults_keep_the_connection() {
    let server = TestServer::start();
    server.push_fault(Fault::too_many_requests("7"));
    server.push_fault(Fault::status(500));
    server.push_fault(Fault::status(503));
    server.push_fault(Fault::Status {
        status: 404,
        retry_after: None,
    });
    server.push_fault(Fault::Status {
        status: 599,
        retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()),
    });

    let mut client = Client::tcp(server.addr());
    let mut seen = Vec::new();
    for _ in 0..6 {
        let response = client.get("/e?_k=key").unwrap();
        if response.status != 200 {
            assert_eq!(response.header("content-length"), Some("0"));
        }
        seen.push((
            response.status,
            response.header("retry-after").map(str::to_owned),
            response.body.len(),
        ));
    }
    assert_eq!(
        seen,
        [
            (429, Some("7".to_owned()), 0),
            (500, None, 0),
            (503, None, 0),
            (404, None, 0),
            (599, Some("Wed, 21 Oct 2015 07:28:00 GMT".to_owned()), 0),
            (200, None, GIF.len()),
        ]
    );
    assert_eq!(server.connections(), 1);
    let faults: Vec<Option<Fault>> = server.requests().into_iter().map(|r| r.fault).collect();
    assert_eq!(
        faults,
        [
            Some(Fault::too_many_requests("7")),
            Some(Fault::status(500)),
            Some(Fault::status(503)),
            Some(Fault::status(404)),
            Some(Fault::Status {
                status: 599,
                retry_after: Some("Wed, 21 Oct 2015 07:28:00 GMT".to_owned())
            }),
            None,
        ]
    );
}

#[test]
fn delay_stalls_then_answers() {
    let server = TestServer::start();
    let delay = Duration::from_millis(300);
    server.push_fault(Fault::Delay(delay));
    let started = Instant::now();
    let response = get(server.addr(), "/e?_n=slow").unwrap();
    let took = started.elapsed();
    println!("delayed request answered after {took:?}");
    assert_eq!(response.status, 200);
    assert_eq!(response.body, GIF);
    assert!(took >= delay);
    assert_eq!(server.requests()[0].fault, Some(Fault::Delay(delay)));
}

#[test]
fn delay_makes_client_time_out_and_is_recorded_at_once() {
    let server = TestServer::start();
    server.push_fault(Fault::Delay(Duration::from_secs(600)));
    let mut client = Client::tcp(server.addr());
    client
        .stream()
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let err = client.get("/e?_n=stalled").unwrap_err();
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err:?}"
    );
    // Recorded before the delay.
    assert!(server.wait_for_requests(1, WAIT));
    // Dropping the server does not wait for the stalled answer.
    let started = Instant::now();
    drop(server);
    let took = started.elapsed();
    println!("drop with a stalled request took {took:?}");
    assert!(took < Duration::from_secs(60));
}

#[test]
fn close_before_response_sends_nothing() {
    let server = TestServer::start();
    server.push_fault(Fault::CloseBeforeResponse);
    let mut client = Client::tcp(server.addr());
    client
        .send_raw(b"GET /e?_n=dropped HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert_eq!(client.read_to_close(1024), b"");

    // Next request, new connection, is fine.
    assert_eq!(get(server.addr(), "/e?_n=next").unwrap().status, 200);
    let requests = server.requests();
    assert_eq!(requests[0].fault, Some(Fault::CloseBeforeResponse));
    assert_eq!(requests[0].pair("_n"), Some("dropped"));
    assert_eq!(requests[1].fault, None);
    assert_eq!(requests[1].connection, 2);
}

#[test]
fn close_mid_response_sends_headers_and_part_of_the_body() {
    let server = TestServer::start();
    server.push_fault(Fault::CloseMidResponse);
    let mut client = Client::tcp(server.addr());
    client
        .send_raw(b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let (status, headers) = client.read_head().unwrap();
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("content-length") && v == "43"));
    let body = client.read_to_close(1024);
    assert_eq!(body, &GIF[..MID_RESPONSE_BYTES]);
    assert_eq!(server.requests()[0].fault, Some(Fault::CloseMidResponse));
    assert_eq!(get(server.addr(), "/e").unwrap().status, 200);
}

#[test]
fn queued_faults_apply_in_order_across_connections() {
    let server = TestServer::start();
    server.push_fault(Fault::status(503));
    server.push_fault(Fault::CloseBeforeResponse);
    server.push_fault(Fault::status(500));
    let statuses: Vec<Option<u16>> = (0..4)
        .map(|_| get(server.addr(), "/e").ok().map(|r| r.status))
        .collect();
    assert_eq!(statuses, [Some(503), None, Some(500), Some(200)]);
}

#[test]
fn clear_faults_drops_queue_and_rates() {
    let server = TestServer::start();
    server.push_fault(Fault::status(503));
    server.set_fault_rates(FaultRates {
        status: Some((500, 1.0)),
        ..Default::default()
    });
    server.clear_faults();
    assert_eq!(get(server.addr(), "/e").unwrap().status, 200);
}

/// Sends `n` sequential requests, each on its own connection, and returns
/// the faults the server recorded.
fn fault_sequence(server: &TestServer, n: usize) -> Vec<Option<Fault>> {
    server.clear();
    for i in 0..n {
        // Closing faults make this an error; that is expected.
        let _ = get(server.addr(), &format!("/e?i={i}"));
    }
    assert!(server.wait_for_requests(n, WAIT));
    server.requests().into_iter().map(|r| r.fault).collect()
}

fn mixed_rates() -> FaultRates {
    FaultRates {
        status: Some((429, 0.25)),
        retry_after: Some("1".to_owned()),
        close_before_response: 0.15,
        close_mid_response: 0.05,
        delay: Some((Duration::from_millis(1), 0.15)),
    }
}

#[test]
fn rates_with_a_seed_are_reproducible() {
    let a = TestServer::builder().seed(7).start().unwrap();
    let b = TestServer::builder().seed(7).start().unwrap();
    let c = TestServer::builder().seed(8).start().unwrap();
    for server in [&a, &b, &c] {
        server.set_fault_rates(mixed_rates());
    }
    let n = 60;
    let first = fault_sequence(&a, n);
    assert_eq!(first, fault_sequence(&b, n), "same seed, same faults");
    assert_ne!(first, fault_sequence(&c, n), "another seed, other faults");

    // Setting the rates again restarts the sequence.
    a.set_fault_rates(mixed_rates());
    assert_eq!(first, fault_sequence(&a, n));

    let count = |want: &dyn Fn(&Option<Fault>) -> bool| first.iter().filter(|f| want(f)).count();
    let none = count(&|f| f.is_none());
    let status = count(&|f| {
        matches!(
            f,
            Some(Fault::Status {
                status: 429,
                retry_after: Some(_)
            })
        )
    });
    let closed = count(&|f| matches!(f, Some(Fault::CloseBeforeResponse)));
    let delayed = count(&|f| matches!(f, Some(Fault::Delay(_))));
    println!("{n} requests: {none} clean, {status} 429, {closed} closed, {delayed} delayed");
    assert!(none > 0 && status > 0 && closed > 0 && delayed > 0);
}

#[test]
fn certain_rates_always_fire_and_queue_comes_first() {
    let server = TestServer::start();
    server.set_fault_rates(FaultRates {
        status: Some((503, 1.0)),
        ..Default::default()
    });
    server.push_fault(Fault::status(404));
    let mut client = Client::tcp(server.addr());
    assert_eq!(client.get("/e").unwrap().status, 404);
    for _ in 0..5 {
        assert_eq!(client.get("/e").unwrap().status, 503);
    }
}

#[test]
#[should_panic(expected = "cannot be sent as a final response status")]
fn informational_status_is_refused() {
    TestServer::start().push_fault(Fault::status(101));
}

#[test]
#[should_panic(expected = "not a valid Retry-After")]
fn bad_retry_after_is_refused() {
    TestServer::start().push_fault(Fault::too_many_requests("1\r\nX-Injected: 1"));
}

#[test]
#[should_panic(expected = "add up to")]
fn rates_above_one_are_refused() {
    TestServer::start().set_fault_rates(FaultRates {
        close_before_response: 0.6,
        close_mid_response: 0.6,
        ..Default::default()
    });
}

#[test]
#[should_panic(expected = "is not in [0, 1]")]
fn negative_rates_are_refused() {
    TestServer::start().set_fault_rates(FaultRates {
        delay: Some((Duration::from_secs(1), -0.5)),
        ..Default::default()
    });
}
