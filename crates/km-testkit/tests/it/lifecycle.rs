//! Starting, stopping, ports, runtimes.

use std::net::{SocketAddr, TcpStream};
use std::time::Instant;

use km_testkit::TestServer;

use crate::client::{get, Client, WAIT};

#[test]
fn start_time() {
    // The first start pays for one-time set-up in the process; measure a
    // few and print them all.
    for _ in 0..3 {
        let started = Instant::now();
        let server = TestServer::start();
        let ready = started.elapsed();
        let response = get(server.addr(), "/e").unwrap();
        let answered = started.elapsed();
        assert_eq!(response.status, 200);
        let stopping = Instant::now();
        drop(server);
        let stopped = stopping.elapsed();
        println!("http: start {ready:?}, first answer after {answered:?}, drop {stopped:?}");
    }
    for _ in 0..3 {
        let started = Instant::now();
        let server = TestServer::builder().https().start().unwrap();
        let ready = started.elapsed();
        let stopping = Instant::now();
        drop(server);
        let stopped = stopping.elapsed();
        println!("https (with certificate generation): start {ready:?}, drop {stopped:?}");
    }
}

#[test]
fn drop_shuts_down() {
    let server = TestServer::start();
    let addr = server.addr();
    let mut idle = Client::tcp(addr);
    assert_eq!(idle.get("/e").unwrap().status, 200);

    drop(server);

    // New connections are refused...
    let err = TcpStream::connect(addr).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err:?}");
    // ...and the idle keep-alive connection was closed.
    assert!(idle.get("/e").is_err());
}

#[test]
fn many_servers_start_and_stop() {
    let servers: Vec<TestServer> = (0..8).map(|_| TestServer::start()).collect();
    let mut addrs: Vec<SocketAddr> = servers.iter().map(TestServer::addr).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 8);
    for server in &servers {
        assert_eq!(get(server.addr(), "/e").unwrap().status, 200);
    }
    drop(servers);
    for addr in addrs {
        assert!(TcpStream::connect(addr).is_err());
    }
}

#[test]
fn chosen_port() {
    // Find a free port, release it, and ask for it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = TestServer::builder().port(port).start().unwrap();
    assert_eq!(server.addr(), SocketAddr::from(([127, 0, 0, 1], port)));
    assert_eq!(server.host_port(), format!("127.0.0.1:{port}"));
    assert_eq!(server.url("/e"), format!("http://127.0.0.1:{port}/e"));
    assert_eq!(get(server.addr(), "/e").unwrap().status, 200);

    // The same port twice is an error, not a panic.
    let err = TestServer::builder().port(port).start().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
}

#[test]
fn debug_output_names_the_server() {
    let server = TestServer::start();
    let debug = format!("{server:?}");
    assert!(debug.contains(&server.base_url()), "{debug}");
}

#[tokio::test]
async fn usable_inside_a_tokio_runtime() {
    let server = TestServer::builder().https().start().unwrap();
    let plain = TestServer::start();
    let addr = plain.addr();
    let status = tokio::task::spawn_blocking(move || get(addr, "/e?_n=async").unwrap().status)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(plain.wait_for_requests(1, WAIT));
    assert_eq!(plain.requests()[0].pair("_n"), Some("async"));
    // Dropping inside the runtime must not panic.
    drop(plain);
    drop(server);
}

#[tokio::test]
async fn async_client_against_the_server() {
    use tokio::net::TcpStream;

    let server = TestServer::start();
    let exchange = async {
        let stream = TcpStream::connect(server.addr()).await?;
        let request = b"GET /e?_n=from-tokio HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        let mut written = 0;
        while written < request.len() {
            stream.writable().await?;
            match stream.try_write(&request[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        let mut response = Vec::new();
        let mut buf = [0; 1024];
        loop {
            stream.readable().await?;
            match stream.try_read(&mut buf) {
                Ok(0) => return Ok(response),
                Ok(n) => response.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    };
    let response = tokio::time::timeout(WAIT, exchange).await.unwrap().unwrap();
    assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert!(response.ends_with(km_testkit::GIF));
    assert_eq!(server.requests()[0].pair("_n"), Some("from-tokio"));
}
