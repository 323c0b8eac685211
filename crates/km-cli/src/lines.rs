//! Batch lines: one JSON object per line, each a `record`, `set` or
//! `alias` call.
//!
//! ```text
//! {"person": "bob", "event": "Signed Up", "properties": {"Plan": "Pro"}, "timestamp": 1381849312}
//! {"op": "set", "person": "bob", "properties": {"gender": "male"}}
//! {"op": "alias", "person": "bob", "identity": "bob@example.com"}
//! ```

use std::fmt;

use kissmetrics::Timestamp;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use crate::ops::{Op, PropValue, Props};

/// A line as written; checked against its `op` by [`parse`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    person: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    identity: Option<String>,
    #[serde(default)]
    properties: Option<Ordered>,
    #[serde(default)]
    timestamp: Option<Seconds>,
}

/// The properties object, in the order written (a JSON object with the
/// same name twice keeps both, for the encoder to refuse).
#[derive(Debug)]
struct Ordered(Props);

impl<'de> Deserialize<'de> for Ordered {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = Ordered;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of property names and values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered, A::Error> {
                let mut props = Vec::new();
                while let Some((name, value)) = map.next_entry::<String, PropValue>()? {
                    props.push((name, value));
                }
                Ok(Ordered(props))
            }
        }
        deserializer.deserialize_map(Pairs)
    }
}

impl<'de> Deserialize<'de> for PropValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Scalar;
        impl Visitor<'_> for Scalar {
            type Value = PropValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a property value: a string, a number or a boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PropValue, E> {
                Ok(PropValue::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<PropValue, E> {
                Ok(PropValue::Text(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<PropValue, E> {
                Ok(PropValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PropValue, E> {
                Ok(PropValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PropValue, E> {
                Ok(PropValue::UInt(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<PropValue, E> {
                Ok(PropValue::Float(v))
            }
        }
        deserializer.deserialize_any(Scalar)
    }
}

/// A timestamp: a JSON number of seconds, truncated toward zero.
#[derive(Debug)]
struct Seconds(Timestamp);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Number;
        impl Visitor<'_> for Number {
            type Value = Seconds;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of seconds since 1970-01-01T00:00:00Z")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Seconds, E> {
                Ok(Seconds(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Seconds, E> {
                Ok(Seconds(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Seconds, E> {
                Ok(Seconds(v.into()))
            }
        }
        deserializer.deserialize_any(Number)
    }
}

/// Parses one line into a call. The error says what is wrong, without the
/// line number (the caller adds it).
pub(crate) fn parse(text: &str) -> Result<Op, String> {
    let line: Line = serde_json::from_str(text)
        .map_err(|e| format!("invalid JSON line: {}", strip_position(&e)))?;
    let op = line.op.as_deref().unwrap_or("record");
    let required = |value: Option<String>, field: &str| {
        value.ok_or_else(|| format!("\"{field}\" is missing (op {op})"))
    };
    let refuse = |present: bool, field: &str| {
        if present {
            Err(format!("\"{field}\" does not belong to op {op}"))
        } else {
            Ok(())
        }
    };
    let timestamp = line
        .timestamp
        .map(|Seconds(t)| t.as_secs().map_err(|e| e.to_string()))
        .transpose()?;
    let properties = line.properties.map(|Ordered(p)| p);
    match op {
        "record" => {
            refuse(line.identity.is_some(), "identity")?;
            Ok(Op::Record {
                person: required(line.person, "person")?,
                event: required(line.event, "event")?,
                properties: properties.unwrap_or_default(),
                timestamp,
            })
        }
        "set" => {
            refuse(line.event.is_some(), "event")?;
            refuse(line.identity.is_some(), "identity")?;
            Ok(Op::Set {
                person: required(line.person, "person")?,
                properties: properties.unwrap_or_default(),
                timestamp,
            })
        }
        "alias" => {
            refuse(line.event.is_some(), "event")?;
            refuse(properties.is_some(), "properties")?;
            refuse(timestamp.is_some(), "timestamp")?;
            Ok(Op::Alias {
                person: required(line.person, "person")?,
                identity: required(line.identity, "identity")?,
            })
        }
        other => Err(format!(
            "\"op\" must be \"record\", \"set\" or \"alias\", got {other:?}"
        )),
    }
}

/// serde_json's message without its " at line 1 column N" (always line 1
/// here), with the column kept.
fn strip_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("{} (column {})", &text[..at], error.column()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_op() {
        assert_eq!(
            parse(
                r#"{"person":"bob","event":"Signed Up","properties":{"b":"x","a":1.5,"c":true,"d":-2,"e":3},"timestamp":1381849312.9}"#
            ),
            Ok(Op::Record {
                person: "bob".into(),
                event: "Signed Up".into(),
                properties: vec![
                    ("b".into(), PropValue::Text("x".into())),
                    ("a".into(), PropValue::Float(1.5)),
                    ("c".into(), PropValue::Bool(true)),
                    ("d".into(), PropValue::Int(-2)),
                    ("e".into(), PropValue::UInt(3)),
                ],
                timestamp: Some(1_381_849_312),
            })
        );
        assert_eq!(
            parse(r#"{"op":"set","person":"bob","properties":{"gender":"male"}}"#),
            Ok(Op::Set {
                person: "bob".into(),
                properties: vec![("gender".into(), PropValue::Text("male".into()))],
                timestamp: None,
            })
        );
        assert_eq!(
            parse(r#"{"op":"alias","person":"bob","identity":"b@c"}"#),
            Ok(Op::Alias {
                person: "bob".into(),
                identity: "b@c".into(),
            })
        );
    }

    #[test]
    fn bad_lines_say_why() {
        let why = |line| parse(line).unwrap_err();
        assert!(
            why("{").starts_with("invalid JSON line: EOF"),
            "{}",
            why("{")
        );
        assert!(why("[1]").starts_with("invalid JSON line"));
        assert_eq!(why(r#"{"event":"x"}"#), "\"person\" is missing (op record)");
        assert!(why(r#"{"person":"a","event":"x","evnt":1}"#).contains("unknown field `evnt`"));
        assert!(why(r#"{"person":"a","event":"x","properties":{"a":null}}"#)
            .contains("a string, a number or a boolean"));
        assert!(why(r#"{"person":"a","event":"x","properties":{"a":[1]}}"#)
            .contains("a string, a number or a boolean"));
        assert!(why(r#"{"person":"a","event":"x","timestamp":"now"}"#).contains("seconds"));
        assert!(why(r#"{"person":"a","event":"x","timestamp":-1}"#).contains("negative"));
        assert_eq!(
            why(r#"{"op":"alias","person":"a","identity":"b","timestamp":1}"#),
            "\"timestamp\" does not belong to op alias"
        );
        assert_eq!(
            why(r#"{"op":"set","person":"a","event":"x"}"#),
            "\"event\" does not belong to op set"
        );
        assert!(why(r#"{"op":"track","person":"a"}"#).contains("\"track\""));
    }
}
