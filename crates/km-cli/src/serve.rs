//! `km serve`: km-testkit as a local stand-in for the tracking service,
//! printing every call it receives.

use std::borrow::Cow;
use std::io::{self, Write};

use kissmetrics::proto::redact_key;
use kissmetrics::Call;
use km_testkit::{RecordedRequest, TestServer};
use serde_json::{json, Map, Value as Json};

use crate::cli::ServeArgs;
use crate::exit::Failure;

/// Runs until the process is stopped (Ctrl-C) or stdout is closed.
pub(crate) fn run(args: &ServeArgs) -> Result<(), Failure> {
    let server = TestServer::builder()
        .port(args.port)
        .start()
        .map_err(|e| Failure::other(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)))?;
    // Subscribe before announcing the address: no call can be missed.
    let calls = server.subscribe();
    eprintln!(
        "km serve: listening on {} (send with --host {} --scheme http); Ctrl-C stops",
        server.base_url(),
        server.host_port()
    );
    let mut out = io::stdout().lock();
    for request in calls {
        // Everything needed is in `request`; the server's own log would
        // otherwise grow for as long as it runs.
        server.clear();
        let text = if args.json.json {
            to_json(&request).to_string()
        } else {
            readable(&request)
        };
        if let Err(e) = writeln!(out, "{text}").and_then(|()| out.flush()) {
            // `km serve | head -3` closes the pipe: a normal way to stop.
            return match e.kind() {
                io::ErrorKind::BrokenPipe => Ok(()),
                _ => Err(Failure::other(format!("cannot write to stdout: {e}"))),
            };
        }
    }
    Ok(())
}

/// A call the server understood: which one, and its query split up.
struct Parsed<'a> {
    call: Call,
    person: &'a str,
    /// The event of a record, the identity of an alias.
    name: Option<&'a str>,
    /// Every other pair but the key, in order.
    rest: Vec<(&'a str, &'a str)>,
}

/// Recognises `GET /e`, `/s` and `/a` with the pairs each needs.
fn parse(request: &RecordedRequest) -> Option<Parsed<'_>> {
    if request.method != "GET" {
        return None;
    }
    let call = match request.path.as_str() {
        "/e" => Call::Record,
        "/s" => Call::Set,
        "/a" => Call::Alias,
        _ => return None,
    };
    let person = request.pair("_p")?;
    let name = match call {
        Call::Set => None,
        _ => Some(request.pair("_n")?),
    };
    // The first `_p` (and `_n`) are shown as the person (and name); every
    // other pair is shown as it came.
    let mut skipped_p = false;
    let mut skipped_n = name.is_none();
    let rest = request
        .pairs()
        .iter()
        .filter(|(n, _)| match n.as_str() {
            "_k" => false,
            "_p" if !skipped_p => {
                skipped_p = true;
                false
            }
            "_n" if !skipped_n => {
                skipped_n = true;
                false
            }
            _ => true,
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    Some(Parsed {
        call,
        person,
        name,
        rest,
    })
}

/// `record bob "Signed Up" Plan=Pro`, `set bob gender=male`,
/// `alias bob bob@example.com`, or `GET /other?_k=***&..` for anything else.
fn readable(request: &RecordedRequest) -> String {
    let Some(parsed) = parse(request) else {
        return format!("{} {}", request.method, redact_key(&request.target));
    };
    let mut line = format!("{} {}", parsed.call, quote(parsed.person));
    if let Some(name) = parsed.name {
        line.push(' ');
        line.push_str(&quote(name));
    }
    for (name, value) in parsed.rest {
        line.push(' ');
        line.push_str(&quote(name));
        line.push('=');
        line.push_str(&quote(value));
    }
    line
}

/// The request as one JSON object; the key's value is `***`.
fn to_json(request: &RecordedRequest) -> Json {
    let mut object = Map::new();
    let query: Vec<Json> = request
        .pairs()
        .iter()
        .map(|(n, v)| match n.as_str() {
            "_k" => json!([n, "***"]),
            _ => json!([n, v]),
        })
        .collect();
    match parse(request) {
        Some(parsed) => {
            object.insert("call".into(), parsed.call.as_str().into());
            object.insert("person".into(), parsed.person.into());
            match (parsed.call, parsed.name) {
                (Call::Record, Some(event)) => {
                    object.insert("event".into(), event.into());
                }
                (Call::Alias, Some(identity)) => {
                    object.insert("identity".into(), identity.into());
                }
                _ => {}
            }
            let properties: Map<String, Json> = parsed
                .rest
                .iter()
                .map(|(n, v)| ((*n).to_owned(), Json::from(*v)))
                .collect();
            object.insert("properties".into(), properties.into());
        }
        None => {
            object.insert("call".into(), Json::Null);
        }
    }
    object.insert("method".into(), request.method.as_str().into());
    object.insert("path".into(), request.path.as_str().into());
    object.insert(
        "target".into(),
        redact_key(&request.target).into_owned().into(),
    );
    object.insert("query".into(), query.into());
    Json::Object(object)
}

/// A token, bare when it is plain, else in double quotes with `"`, `\` and
/// control characters escaped: `"Signed Up"`, `""`, `"a\nb"`.
fn quote(token: &str) -> Cow<'_, str> {
    let plain = !token.is_empty()
        && !token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '\\'));
    if plain {
        Cow::Borrowed(token)
    } else {
        Cow::Owned(format!("{token:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("bob"), "bob");
        assert_eq!(quote("bob@example.com"), "bob@example.com");
        assert_eq!(quote("Signed Up"), "\"Signed Up\"");
        assert_eq!(quote(""), "\"\"");
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        assert_eq!(quote("a\nb"), "\"a\\nb\"");
        assert_eq!(quote("São"), "São");
    }
}
