//! Normal answers and what gets recorded.

use std::net::TcpStream;
use std::time::Duration;

use km_testkit::{Fault, TestServer, GIF};

use crate::client::{get, Client, WAIT};

#[test]
fn answers_with_the_gif() {
    let server = TestServer::start();
    let response = get(server.addr(), "/e?_k=key&_p=bob&_n=Signed+Up").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-type"), Some("image/gif"));
    assert_eq!(response.header("content-length"), Some("43"));
    assert_eq!(response.body, GIF);
    assert!(GIF.starts_with(b"GIF89a") && GIF.ends_with(b";"));
    assert_eq!(server.request_count(), 1);
}

#[test]
fn keeps_connections_alive() {
    let server = TestServer::start();
    let mut client = Client::tcp(server.addr());
    for target in ["/e?_n=one", "/s?_p=bob&plan=pro"] {
        let response = client.get(target).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.body, GIF);
        assert_eq!(response.header("connection"), None);
    }
    let other = get(server.addr(), "/a?_p=bob&_n=alice").unwrap();
    assert_eq!(other.status, 200);

    assert!(server.wait_for_requests(3, WAIT));
    let requests = server.requests();
    assert_eq!(server.connections(), 2);
    assert_eq!(requests[0].connection, 1);
    assert_eq!(requests[1].connection, 1);
    assert_eq!(requests[2].connection, 2);
    assert_eq!(requests[1].path, "/s");
}

#[test]
fn records_method_target_path_headers() {
    let server = TestServer::start();
    let mut client = Client::tcp(server.addr());
    client
        .send_raw(
            b"GET /e?_k=key HTTP/1.1\r\nHost: trk.example\r\nUser-Agent: test/1.0\r\n\
              X-Twice: a\r\nX-Twice: b\r\n\r\n",
        )
        .unwrap();
    assert_eq!(client.read_response(false).unwrap().status, 200);

    let request = &server.requests()[0];
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/e?_k=key");
    assert_eq!(request.path, "/e");
    assert_eq!(
        request.headers,
        [
            ("host".to_owned(), "trk.example".to_owned()),
            ("user-agent".to_owned(), "test/1.0".to_owned()),
            ("x-twice".to_owned(), "a".to_owned()),
            ("x-twice".to_owned(), "b".to_owned()),
        ]
    );
    assert_eq!(request.header("User-Agent"), Some("test/1.0"));
    assert_eq!(request.header("x-missing"), None);
    assert!(request.body.is_empty());
    assert_eq!(request.fault, None);
}

#[test]
fn decodes_query_pairs_in_order() {
    let server = TestServer::start();
    let target = "/e?_k=k%26y&_n=Signed+Up&note=a%3Db%26c%3Fd%2Fe%23f%25&city=S%C3%A3o%20Paulo\
                  &emoji=%F0%9F%A6%80&empty=&flag&_n=again&bad=%ZZ&raw=%FF";
    assert_eq!(get(server.addr(), target).unwrap().status, 200);

    let request = &server.requests()[0];
    let pairs: Vec<(&str, &str)> = request
        .pairs()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("_k", "k&y"),
            ("_n", "Signed Up"),
            ("note", "a=b&c?d/e#f%"),
            ("city", "São Paulo"),
            ("emoji", "🦀"),
            ("empty", ""),
            ("flag", ""),
            ("_n", "again"),
            ("bad", "%ZZ"),
            ("raw", "\u{fffd}"),
        ]
    );
    assert_eq!(
        request.pair("_n"),
        Some("Signed Up"),
        "first of repeated names"
    );
    assert_eq!(request.pair("missing"), None);
    assert_eq!(request.target, target);
}

#[test]
fn no_query_means_no_pairs() {
    let server = TestServer::start();
    assert_eq!(get(server.addr(), "/").unwrap().status, 200);
    let request = &server.requests()[0];
    assert_eq!(request.path, "/");
    assert!(request.pairs().is_empty());
}

#[test]
fn records_absolute_form_targets_like_a_proxy() {
    let server = TestServer::start();
    let mut client = Client::tcp(server.addr());
    let target = "http://trk.example/e?_k=key&_n=Viewed%20Page";
    let response = client.get(target).unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(response.body, GIF);

    let request = &server.requests()[0];
    assert_eq!(request.target, target);
    assert_eq!(request.path, "/e");
    assert_eq!(request.pair("_n"), Some("Viewed Page"));
}

#[test]
fn connect_is_recorded_and_refused() {
    let server = TestServer::start();
    let mut client = Client::tcp(server.addr());
    client
        .send_raw(b"CONNECT trk.example:443 HTTP/1.1\r\nHost: trk.example:443\r\n\r\n")
        .unwrap();
    let response = client.read_response(false).unwrap();
    assert_eq!(response.status, 405);
    assert!(response.header("allow").is_some());
    // The connection is still usable for plain requests.
    assert_eq!(client.get("/e?_k=key").unwrap().status, 200);

    // A queued 200 for a CONNECT does not open a tunnel: hyper closes the
    // connection after the response head.
    server.push_fault(Fault::status(200));
    let mut tunnel = Client::tcp(server.addr());
    tunnel
        .send_raw(b"CONNECT trk.example:443 HTTP/1.1\r\nHost: trk.example:443\r\n\r\n")
        .unwrap();
    assert!(tunnel
        .read_to_close(1024)
        .starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(get(server.addr(), "/e").unwrap().status, 200);

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].method, "CONNECT");
    assert_eq!(requests[0].target, "trk.example:443");
    assert_eq!(requests[0].path, "");
    assert_eq!(requests[1].connection, requests[0].connection);
}

#[test]
fn other_methods_get_the_gif_and_bodies_are_recorded() {
    let server = TestServer::start();
    let mut client = Client::tcp(server.addr());
    let head = client.request("HEAD", "/e?_k=key").unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("43"));

    client
        .send_raw(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n_k=key&_n=x")
        .unwrap();
    let post = client.read_response(false).unwrap();
    assert_eq!(post.body, GIF);

    let requests = server.requests();
    assert_eq!(requests[0].method, "HEAD");
    assert_eq!(requests[1].method, "POST");
    assert_eq!(requests[1].body, b"_k=key&_n=x");
}

#[test]
fn malformed_requests_do_not_kill_the_server() {
    let server = TestServer::start();
    let garbage: [&[u8]; 5] = [
        b"\x00\xff\xfe garbage\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /e HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
        b"GET /e HTTP/1.1\r\nBad Header\r\n\r\n",
        b"POST /e HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ];
    for bytes in garbage {
        let mut client = Client::tcp(server.addr());
        client.send_raw(bytes).unwrap();
        // hyper answers 400 or just closes; either way the connection ends.
        client.read_to_close(64 * 1024);
    }
    // A body over the 1 MiB limit: the connection is closed.
    let mut client = Client::tcp(server.addr());
    let big = vec![b'x'; 2 << 20];
    let head = format!(
        "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        big.len()
    );
    // The server may close before all of it is written.
    let _ = client
        .send_raw(head.as_bytes())
        .and_then(|()| client.send_raw(&big));
    assert!(client.read_to_close(64 * 1024).len() < 1024);
    // Half a request, then hang up.
    let mut client = Client::tcp(server.addr());
    client.send_raw(b"GET /e?_k=ke").unwrap();
    drop(client);

    let response = get(server.addr(), "/e?_k=still-alive").unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(
        server.requests().last().unwrap().pair("_k"),
        Some("still-alive")
    );
}

#[test]
fn subscribers_see_each_request() {
    let server = TestServer::start();
    let before = get(server.addr(), "/e?_n=before").unwrap();
    assert_eq!(before.status, 200);
    let requests = server.subscribe();
    let mut client = Client::tcp(server.addr());
    for n in ["one", "two"] {
        assert_eq!(client.get(&format!("/e?_n={n}")).unwrap().status, 200);
    }
    let first = requests.recv_timeout(WAIT).unwrap();
    let second = requests.recv_timeout(WAIT).unwrap();
    assert_eq!(first.pair("_n"), Some("one"));
    assert_eq!(second.pair("_n"), Some("two"));
    assert!(first.received_at <= second.received_at);
    assert!(requests.try_recv().is_err());

    drop(server);
    assert!(
        requests.recv_timeout(WAIT).is_err(),
        "the channel disconnects when the server is dropped"
    );
}

#[test]
fn dropped_subscribers_are_forgotten() {
    let server = TestServer::start();
    drop(server.subscribe());
    assert_eq!(get(server.addr(), "/e").unwrap().status, 200);
    assert_eq!(server.request_count(), 1);
}

#[test]
fn clear_forgets_requests_but_not_connections() {
    let server = TestServer::start();
    assert_eq!(get(server.addr(), "/e?_n=a").unwrap().status, 200);
    assert_eq!(server.request_count(), 1);
    server.clear();
    assert_eq!(server.request_count(), 0);
    assert!(server.requests().is_empty());
    assert_eq!(server.connections(), 1);
    assert_eq!(get(server.addr(), "/e?_n=b").unwrap().status, 200);
    assert_eq!(server.requests()[0].pair("_n"), Some("b"));
}

#[test]
fn wait_for_requests_honours_its_timeout() {
    let server = TestServer::start();
    assert!(server.wait_for_requests(0, Duration::ZERO));
    assert!(!server.wait_for_requests(1, Duration::ZERO));
    let timeout = Duration::from_millis(200);
    let started = std::time::Instant::now();
    assert!(!server.wait_for_requests(1, timeout));
    let waited = started.elapsed();
    println!("wait_for_requests(1, {timeout:?}) gave up after {waited:?}");
    assert!(waited >= timeout);

    // A request arriving while waiting wakes the waiter.
    let addr = server.addr();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        get(addr, "/e").unwrap().status
    });
    assert!(server.wait_for_requests(1, WAIT));
    assert_eq!(sender.join().unwrap(), 200);
}

#[test]
fn recorded_timestamps_are_sane() {
    let server = TestServer::start();
    let before = std::time::SystemTime::now();
    assert_eq!(get(server.addr(), "/e").unwrap().status, 200);
    let request = &server.requests()[0];
    assert!(request.timestamp >= before);
    assert!(request.received_at.elapsed() < Duration::from_secs(60));
}

#[test]
fn server_and_requests_are_shareable() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<TestServer>();
    send_sync::<km_testkit::RecordedRequest>();
    send_sync::<km_testkit::Builder>();
    // The address can be connected to with plain std too.
    let server = TestServer::start();
    assert!(TcpStream::connect(server.host_port()).is_ok());
}
