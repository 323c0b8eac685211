//! One call as `km` holds it before encoding: from the command line or from
//! a batch line.

use kissmetrics::proto::http::Request;
use kissmetrics::proto::{AsValue, Encoder};
use kissmetrics::sender::{Accepted, Sender};
use kissmetrics::{Call, Options, Value};

/// A property value: the command line gives text, a JSON line may also give
/// a number or a boolean, rendered as the library renders them.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PropValue {
    Text(String),
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
}

impl AsValue for PropValue {
    fn as_value(&self) -> Value<'_> {
        match self {
            PropValue::Text(s) => Value::Str(s),
            PropValue::Int(i) => Value::Int(*i),
            PropValue::UInt(u) => Value::UInt(*u),
            PropValue::Float(x) => Value::Float(*x),
            PropValue::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Properties in the order given.
pub(crate) type Props = Vec<(String, PropValue)>;

/// Command-line `NAME=VALUE` pairs as properties (values are text).
pub(crate) fn text_props(pairs: Vec<(String, String)>) -> Props {
    pairs
        .into_iter()
        .map(|(name, value)| (name, PropValue::Text(value)))
        .collect()
}

/// A `record`, `set` or `alias` call.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Op {
    Record {
        person: String,
        event: String,
        properties: Props,
        timestamp: Option<u64>,
    },
    Set {
        person: String,
        properties: Props,
        timestamp: Option<u64>,
    },
    Alias {
        person: String,
        identity: String,
    },
}

impl Op {
    pub(crate) fn call(&self) -> Call {
        match self {
            Op::Record { .. } => Call::Record,
            Op::Set { .. } => Call::Set,
            Op::Alias { .. } => Call::Alias,
        }
    }

    /// Gives a `record` or `set` without a timestamp this one (`alias` has
    /// none), so that a retried or replayed request counts once.
    pub(crate) fn stamped(mut self, now: u64) -> Op {
        if let Op::Record { timestamp, .. } | Op::Set { timestamp, .. } = &mut self {
            timestamp.get_or_insert(now);
        }
        self
    }

    /// Hands this call to a background sender, which builds the same
    /// request as [`Op::encode`] with its encoder and no path override.
    pub(crate) fn submit(&self, sender: &Sender) -> Result<Accepted, kissmetrics::Error> {
        let options = Options::new();
        match self {
            Op::Record {
                person,
                event,
                properties,
                timestamp,
            } => sender.record_with(
                person,
                event,
                properties,
                options.timestamp_opt(timestamp.map(Into::into)),
            ),
            Op::Set {
                person,
                properties,
                timestamp,
            } => sender.set_with(
                person,
                properties,
                options.timestamp_opt(timestamp.map(Into::into)),
            ),
            Op::Alias { person, identity } => sender.alias_with(person, identity, options),
        }
    }

    /// The request for this call; `path` overrides the call's default path.
    pub(crate) fn encode(
        &self,
        encoder: &Encoder,
        path: Option<&str>,
    ) -> Result<Request<()>, kissmetrics::proto::Error> {
        let options = Options::new().path_opt(path);
        match self {
            Op::Record {
                person,
                event,
                properties,
                timestamp,
            } => encoder.record(
                person,
                event,
                properties,
                options.timestamp_opt(timestamp.map(Into::into)),
            ),
            Op::Set {
                person,
                properties,
                timestamp,
            } => encoder.set(
                person,
                properties,
                options.timestamp_opt(timestamp.map(Into::into)),
            ),
            Op::Alias { person, identity } => encoder.alias(person, identity, options),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_each_call() {
        let enc = Encoder::new("k").unwrap();
        let record = Op::Record {
            person: "bob".into(),
            event: "Signed Up".into(),
            properties: vec![
                ("Plan".into(), PropValue::Text("Pro".into())),
                ("Paid".into(), PropValue::Bool(true)),
                ("Amount".into(), PropValue::Float(1.0)),
            ],
            timestamp: Some(7),
        };
        let req = record.encode(&enc, None).unwrap();
        assert_eq!(
            req.uri().query(),
            Some("_k=k&_p=bob&_d=1&_t=7&_n=Signed+Up&Plan=Pro&Paid=True&Amount=1.0")
        );
        let set = Op::Set {
            person: "bob".into(),
            properties: text_props(vec![("a".into(), "b=c".into())]),
            timestamp: None,
        };
        assert_eq!(
            set.encode(&enc, Some("get")).unwrap().uri().to_string(),
            "https://trk.kissmetrics.io/get?_k=k&_p=bob&a=b%3Dc"
        );
        let alias = Op::Alias {
            person: "bob".into(),
            identity: String::new(),
        };
        assert_eq!(alias.call(), Call::Alias);
        assert_eq!(alias.clone().stamped(9), alias);
        let Op::Set { timestamp, .. } = set.stamped(9) else {
            unreachable!()
        };
        assert_eq!(timestamp, Some(9));
        let Op::Record { timestamp, .. } = record.stamped(9) else {
            unreachable!()
        };
        assert_eq!(timestamp, Some(7));
        assert!(alias.encode(&enc, None).is_err());
    }
}
