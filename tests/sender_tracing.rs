//! Every retry and every loss is a `tracing` event, and no event carries
//! the API key. (Its own test binary: it installs a global subscriber.)

mod sender_support;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kissmetrics::proto::http::{Request, Response};
use kissmetrics::proto::{RetryPolicy, TransportError, TransportResult};
use kissmetrics::sender::Sender;
use kissmetrics::{Client, TransportErrorKind};
use sender_support::KEY;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Counts events by `LEVEL message`, and keeps every field's text.
#[derive(Default)]
struct Recorder {
    counts: Mutex<HashMap<String, usize>>,
    fields: Mutex<Vec<String>>,
}

struct Fields<'a>(&'a mut String, &'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            *self.0 = text.clone();
        }
        self.1.push(text);
    }
}

impl Subscriber for &'static Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = String::new();
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut message, &mut fields));
        let key = format!("{} {message}", event.metadata().level());
        *self.counts.lock().unwrap().entry(key).or_default() += 1;
        self.fields.lock().unwrap().extend(fields);
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn every_retry_and_every_loss_is_logged_without_the_key() {
    let recorder: &'static Recorder = Box::leak(Box::default());
    tracing::subscriber::set_global_default(recorder).unwrap();

    let tries: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let client = Client::builder(KEY)
        .with_transport(move |req: Request<()>| -> TransportResult {
            let q = req.uri().query().unwrap_or_default().to_owned();
            let mut tries = tries.lock().unwrap();
            let n = tries.entry(q.clone()).or_default();
            *n += 1;
            let status = if q.contains("_p=gone") {
                404
            } else if q.contains("_p=busy") && *n <= 2 {
                503
            } else {
                200
            };
            Ok(Response::builder().status(status).body(Vec::new()).unwrap())
        })
        .unwrap();
    let sender = Sender::builder()
        .retry(RetryPolicy::new().initial_delay(Duration::from_millis(1)))
        .build(client)
        .unwrap();
    for i in 0..5 {
        sender.record(&format!("busy{i}"), "x", ()).unwrap();
    }
    for i in 0..3 {
        sender.record(&format!("gone{i}"), "x", ()).unwrap();
    }
    for i in 0..10 {
        sender.record(&format!("ok{i}"), "x", ()).unwrap();
    }
    sender.flush(Duration::from_secs(10)).unwrap();
    let first = sender.counters();
    drop(sender);

    let refused = Client::builder(KEY)
        .with_transport(|_req: Request<()>| -> TransportResult {
            Err(TransportError::new(TransportErrorKind::Connect, "refused"))
        })
        .unwrap();
    // One retry each, after a random delay of up to an hour: still waiting
    // at shutdown.
    let hour = Duration::from_secs(3600);
    let sender = Sender::builder()
        .retry(RetryPolicy::new().initial_delay(hour).max_delay(hour))
        .build(refused)
        .unwrap();
    for i in 0..4 {
        sender.record(&format!("late{i}"), "x", ()).unwrap();
    }
    let report = sender.shutdown(Duration::from_millis(100));
    assert_eq!(report.lost, 4);

    let counts = recorder.counts.lock().unwrap().clone();
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    // Two retries per busy request, plus one per refused request.
    assert_eq!((first.retried, first.failed, first.delivered), (10, 3, 15));
    assert_eq!(count("INFO retrying"), 10 + 4, "{counts:?}");
    assert_eq!(count("ERROR request not delivered"), 3 + 4, "{counts:?}");
    let fields = recorder.fields.lock().unwrap();
    assert!(fields.iter().all(|f| !f.contains(KEY)));
    assert!(fields.iter().any(|f| f.contains("_p=gone0")));
}
