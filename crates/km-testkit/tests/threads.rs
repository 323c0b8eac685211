//! Dropping servers leaves no thread behind. A test binary of its own, so
//! that no other test's threads come and go while it counts.

#![cfg(target_os = "linux")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use km_testkit::{Fault, TestServer};

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn dropping_servers_joins_their_threads() {
    let before = threads();
    let servers: Vec<TestServer> = (0..4)
        .map(|i| {
            let builder = TestServer::builder();
            if i % 2 == 0 { builder } else { builder.https() }
                .start()
                .unwrap()
        })
        .collect();
    assert_eq!(threads(), before + servers.len());

    // Leave work in flight: a stalled request on each http server.
    let mut open = Vec::new();
    for server in servers.iter().filter(|s| !s.is_https()) {
        server.push_fault(Fault::Delay(Duration::from_secs(600)));
        let mut tcp = TcpStream::connect(server.addr()).unwrap();
        tcp.write_all(b"GET /e HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert!(server.wait_for_requests(1, Duration::from_secs(10)));
        open.push(tcp);
    }

    drop(servers);
    assert_eq!(threads(), before);

    // The server side of every open connection was closed.
    for mut tcp in open {
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut rest = Vec::new();
        assert_eq!(tcp.read_to_end(&mut rest).unwrap(), 0);
    }
}
