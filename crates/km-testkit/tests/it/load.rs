//! Many concurrent keep-alive connections.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use km_testkit::{TestServer, GIF};

use crate::client::{Client, WAIT};

const CONNECTIONS: usize = 64;
const REQUESTS_PER_CONNECTION: usize = 200;

#[test]
fn sustains_many_concurrent_keep_alive_connections() {
    let server = TestServer::start();
    let addr = server.addr();
    let barrier = Arc::new(Barrier::new(CONNECTIONS + 1));
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                let mut client = Client::tcp(addr);
                barrier.wait();
                for i in 0..REQUESTS_PER_CONNECTION {
                    let response = client.get(&format!("/e?_k=key&c={c}&i={i}")).unwrap();
                    assert_eq!(response.status, 200);
                    assert_eq!(response.body, GIF);
                }
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    for client in clients {
        client.join().unwrap();
    }
    let took = started.elapsed();
    let total = CONNECTIONS * REQUESTS_PER_CONNECTION;
    println!(
        "{total} requests on {CONNECTIONS} connections in {took:?}: {:.0} requests/s",
        total as f64 / took.as_secs_f64()
    );

    assert!(server.wait_for_requests(total, WAIT));
    assert_eq!(server.request_count(), total);
    assert_eq!(server.connections(), CONNECTIONS);
    // Each connection's requests were recorded in order, under its own id.
    let requests = server.requests();
    for c in 0..CONNECTIONS {
        let mine: Vec<_> = requests
            .iter()
            .filter(|r| r.pair("c") == Some(&c.to_string()))
            .collect();
        assert_eq!(mine.len(), REQUESTS_PER_CONNECTION);
        assert!(mine.iter().all(|r| r.connection == mine[0].connection));
        for (i, r) in mine.iter().enumerate() {
            assert_eq!(r.pair("i"), Some(i.to_string().as_str()));
        }
    }
}
