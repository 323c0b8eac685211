//! A transport written by hand: HTTP/1.1 over `std::net::TcpStream`, about
//! forty lines, plugged in with `with_transport`. The same shape embeds the
//! protocol in any runtime or HTTP stack: take the `http::Request<()>` that
//! km-proto built, carry it, return the `http::Response<Vec<u8>>`.
//!
//! Needs no transport feature:
//!
//! ```text
//! cargo run --example custom_transport --no-default-features
//! ```
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kissmetrics::proto::http::{Request, Response};
use kissmetrics::proto::{TransportError, TransportErrorKind, TransportResult};
use kissmetrics::{Client, Scheme};

/// One connection per request, `Connection: close`, plain http only.
fn tcp_transport(request: Request<()>) -> TransportResult {
    let uri = request.uri();
    let other = |message: &str| TransportError::new(TransportErrorKind::Other, message.to_owned());
    let authority = uri.authority().ok_or_else(|| other("no host"))?.as_str();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());

    // I/O errors become the right kind (refused, reset, timeout) by themselves.
    let mut stream = TcpStream::connect(authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: {}\r\nConnection: close\r\n\r\n",
        kissmetrics::proto::USER_AGENT
    )?;

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| other("malformed status line"))?;
    let mut response = Response::builder().status(status);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        match line.trim_end().split_once(':') {
            Some((name, value)) => response = response.header(name, value.trim()),
            None => break, // the blank line before the body
        }
    }
    let mut body = Vec::new();
    reader.read_to_end(&mut body)?; // the server closes: the body ends there
    response.body(body).map_err(|e| other(&e.to_string()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = km_testkit::TestServer::start();
    let client = Client::builder("my-api-key")
        .scheme(Scheme::Http)
        .host(&server.host_port())
        .with_transport(tcp_transport)?;

    let response = client.record("bob@example.com", "Signed Up", [("Plan", "Pro")])?;
    println!(
        "{} with a {}-byte body",
        response.status(),
        response.body().len()
    );
    let received = &server.requests()[0];
    println!(
        "the server received {} with _n={:?}",
        received.path,
        received.pair("_n")
    );
    Ok(())
}
