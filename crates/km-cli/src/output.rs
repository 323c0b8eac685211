//! What `km` prints: requests, results, and the JSON form of both.

use std::io::{self, Write};

use kissmetrics::proto::http::Request;
use kissmetrics::proto::redacted;
use kissmetrics::{Call, Error};
use serde_json::{json, Map, Value as Json};

use crate::exit::{Failure, Status};

/// Writes one line to stdout. A closed stdout (`km ... | head -1`) is a
/// failure with status 1, never a panic.
pub(crate) fn line(text: &str) -> Result<(), Failure> {
    let mut out = io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::other(format!("cannot write to stdout: {e}")))
}

/// Writes one JSON object as one line to stdout.
pub(crate) fn json_line(value: &Json) -> Result<(), Failure> {
    line(&value.to_string())
}

/// `GET url`, the key shown as `***` unless `show_key`.
pub(crate) fn request_line<B>(request: &Request<B>, show_key: bool) -> String {
    if show_key {
        format!("{} {}", request.method(), request.uri())
    } else {
        redacted(request).to_string()
    }
}

/// The JSON form of a request for `--dry-run --json`.
pub(crate) fn request_json<B>(call: Call, request: &Request<B>, show_key: bool) -> Json {
    let line = request_line(request, show_key);
    // `request_line` is "METHOD URL"; the URL never contains a space.
    let url = line.split_once(' ').map_or(line.as_str(), |(_, url)| url);
    json!({
        "dry_run": true,
        "call": call.as_str(),
        "method": request.method().as_str(),
        "url": url,
    })
}

/// The exit status an undelivered call deserves.
pub(crate) fn status_of(error: &Error) -> Status {
    match error {
        Error::Invalid(_) => Status::Invalid,
        Error::Transport(_) => Status::Transport,
        Error::Undelivered { .. } => Status::Undelivered,
        _ => Status::Other,
    }
}

/// The JSON fields that describe a failed call: `error` (`invalid`,
/// `transport`, `undelivered` or `other`), `message`, and `kind` or `status`.
pub(crate) fn error_fields(error: &Error) -> Map<String, Json> {
    let mut fields = Map::new();
    let class = match status_of(error) {
        Status::Invalid => "invalid",
        Status::Transport => "transport",
        Status::Undelivered => "undelivered",
        _ => "other",
    };
    fields.insert("error".into(), class.into());
    if let Some(kind) = error.transport_kind() {
        fields.insert("kind".into(), kind.as_str().into());
    }
    if let Some(status) = error.status() {
        fields.insert("status".into(), status.as_u16().into());
    }
    fields.insert("retryable".into(), error.is_retryable().into());
    fields.insert("message".into(), error.to_string().into());
    fields
}

/// `{"ok":false,"call":..., ...error_fields}`.
pub(crate) fn failure_json(call: Call, error: &Error) -> Json {
    let mut object = Map::new();
    object.insert("ok".into(), false.into());
    object.insert("call".into(), call.as_str().into());
    object.extend(error_fields(error));
    Json::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kissmetrics::proto::{Encoder, Options};

    #[test]
    fn requests_hide_the_key_unless_asked() {
        let req = Encoder::new("s3cret")
            .unwrap()
            .alias("a", "b", Options::new())
            .unwrap();
        assert_eq!(
            request_line(&req, false),
            "GET https://trk.kissmetrics.io/a?_k=***&_p=a&_n=b"
        );
        assert!(request_line(&req, true).contains("_k=s3cret"));
        assert_eq!(
            request_json(Call::Alias, &req, false),
            json!({"dry_run": true, "call": "alias", "method": "GET",
                   "url": "https://trk.kissmetrics.io/a?_k=***&_p=a&_n=b"})
        );
    }
}
