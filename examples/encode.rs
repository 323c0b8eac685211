//! Prints the requests of a record, a set and an alias, without sending them.
//!
//! ```text
//! cargo run --example encode
//! ```
use kissmetrics::proto::{redacted, Encoder, Options};

fn main() -> Result<(), kissmetrics::proto::Error> {
    let encoder = Encoder::new("my-api-key")?;
    let record = encoder.record(
        "bob@example.com",
        "Signed Up",
        [("Plan", "Pro"), ("Amount", "99.95")],
        Options::new(),
    )?;
    let set = encoder.set(
        "bob@example.com",
        [("gender", "male")],
        Options::new().timestamp(1_234_567_890),
    )?;
    let alias = encoder.alias("bob@example.com", "bob", Options::new())?;
    for request in [&record, &set, &alias] {
        // The key is shown as *** in logs.
        println!("{}", redacted(request));
    }
    Ok(())
}
