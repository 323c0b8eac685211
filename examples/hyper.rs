//! The async `AsyncClient` over hyper on a tokio runtime: 16 concurrent
//! tasks share one client and its keep-alive pool.
//!
//! ```text
//! cargo run --example hyper --features hyper
//! ```
use std::time::Duration;

use kissmetrics::{AsyncClient, Scheme};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = km_testkit::TestServer::start();
    // The hyper transport needs a tokio runtime with I/O and time enabled.
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let client = AsyncClient::builder("my-api-key")
            .scheme(Scheme::Http)
            .host(&server.host_port())
            .timeout(Duration::from_secs(5))
            .build_hyper()?;

        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..16 {
            let client = client.clone();
            tasks.spawn(async move { client.record(&format!("user-{n}"), "Opened App", ()).await });
        }
        while let Some(result) = tasks.join_next().await {
            result??;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    println!(
        "{} requests over {} connection(s)",
        server.request_count(),
        server.connections()
    );
    Ok(())
}
