//! isahc (the system's libcurl) behind both clients: the blocking `Client`
//! and the async `AsyncClient`, which runs on any executor (tokio here).
//!
//! ```text
//! cargo run --example isahc --features isahc
//! ```
use kissmetrics::{AsyncClient, Client, Scheme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = km_testkit::TestServer::start();

    let blocking = Client::builder("my-api-key")
        .scheme(Scheme::Http)
        .host(&server.host_port())
        .build_isahc()?;
    println!(
        "blocking: {}",
        blocking.set("bob", [("plan", "pro")])?.status()
    );

    let async_client = AsyncClient::builder("my-api-key")
        .scheme(Scheme::Http)
        .host(&server.host_port())
        .build_isahc()?;
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    let response = runtime.block_on(async_client.alias("bob", "bob@example.com"))?;
    println!("async: {}", response.status());

    for request in server.requests() {
        println!("  {} {:?}", request.path, request.pair("_n"));
    }
    Ok(())
}
