//! The blocking `Client` over ureq (the default transport), sending over
//! https to a local test server whose CA is added as an extra trusted root.
//!
//! ```text
//! cargo run --example ureq
//! ```
use std::time::Duration;

use kissmetrics::{Client, Error, Scheme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = km_testkit::TestServer::builder().https().start()?;
    let ca = server.ca_cert_der().expect("an https server has a CA");

    let client = Client::builder("my-api-key")
        .scheme(Scheme::Https)
        .host(&server.host_port())
        .timeout(Duration::from_secs(5))
        .connect_timeout(Duration::from_secs(2))
        .add_root_certificate(ca)
        .build_ureq()?;

    // Clones share one connection pool; use them from any thread.
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let client = client.clone();
            std::thread::spawn(move || client.record(&format!("user-{n}"), "Viewed Page", ()))
        })
        .collect();
    for worker in workers {
        println!("{}", worker.join().expect("worker")?.status());
    }

    // Without the CA the same request fails, and says why.
    let untrusting = Client::builder("my-api-key")
        .host(&server.host_port())
        .build_ureq()?;
    match untrusting.record("bob", "Viewed Page", ()) {
        Err(Error::Transport(e)) => println!("without the CA: {} ({})", e.kind(), e),
        other => println!("unexpected: {other:?}"),
    }
    println!(
        "{} requests over {} connection(s)",
        server.request_count(),
        server.connections()
    );
    Ok(())
}
