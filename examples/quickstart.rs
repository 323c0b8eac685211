//! Sends a record, a set and an alias with the default transport to a
//! tracking server running in this process (km-testkit), then prints what
//! the server received. Runs offline:
//!
//! ```text
//! cargo run --example quickstart
//! ```
use std::time::Duration;

use kissmetrics::{Client, Options, Scheme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A local stand-in for trk.kissmetrics.io: 127.0.0.1, a free port, plain http.
    let server = km_testkit::TestServer::start();

    let client = Client::builder("my-api-key")
        .scheme(Scheme::Http)
        .host(&server.host_port())
        .timeout(Duration::from_secs(5))
        .build()?;

    let response = client.record(
        "bob@example.com",
        "Signed Up",
        [("Plan", "Pro"), ("Amount", "99.95")],
    )?;
    println!(
        "record -> {} ({} bytes)",
        response.status(),
        response.body().len()
    );
    client.set_with(
        "bob@example.com",
        [("gender", "male")],
        Options::new().timestamp(1_234_567_890),
    )?;
    client.alias("bob@example.com", "bob")?;

    println!("the server received:");
    for request in server.requests() {
        let pairs: Vec<String> = request
            .pairs()
            .iter()
            .map(|(name, value)| match name.as_str() {
                "_k" => "_k=***".to_owned(), // the API key stays out of logs
                _ => format!("{name}={value:?}"),
            })
            .collect();
        println!("  {} {}  {}", request.method, request.path, pairs.join(" "));
    }
    Ok(())
}
