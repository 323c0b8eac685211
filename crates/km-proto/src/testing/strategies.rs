//! proptest strategies for calls.

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{select, Index};

use super::{CallInput, OwnedValue, Rule, TimestampInput};

/// The most bytes [`valid_call`] lets the form-encoded query take, key
/// excluded: 60,000 of the 65,534 bytes a URI may have, which leaves room
/// for an endpoint, path and API key of up to 5,500 bytes together.
pub const VALID_QUERY_BUDGET: usize = 60_000;

/// Characters that encoders, decoders and servers tend to get wrong:
/// delimiters, quotes, controls, invisible and bidi characters, emoji.
const SPECIAL: &str = "&=+%#?/;,:@ ~*'\"\\<>[]{}|^`!$()-._\t\r\n\0\u{7f}\u{85}\u{a0}\
    éüß€\u{200b}\u{200d}\u{200e}\u{200f}\u{202e}\u{2066}\u{2069}\u{feff}\u{fffd}\
    \u{10ffff}😀👍🇫🇷";

/// Whole strings of the same kind.
const SAMPLES: &[&str] = &[
    "a b",
    "c&d=e",
    "bob@bob.com",
    "é/~*",
    "%",
    "%2",
    "%20",
    "%%",
    "+",
    "++",
    "=",
    "&",
    "&&",
    "==",
    "?#",
    "a=b&c=d",
    "_k=evil",
    "\r\nX-Injected: 1",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "e\u{301}\u{302}\u{303}",
    "שלום עולם",
    "مرحبا بالعالم",
    "\u{202e}gnp.exe",
    "日本語テキスト",
    "null",
    "None",
    "True",
    "0",
    "-0",
    "1e+16",
    "nan",
];

/// One character from a mix of ASCII letters and digits, URL and form
/// delimiters (`& = + % # ? / ; , : @`, space), control characters,
/// combining marks, right-to-left letters and bidi controls, CJK, emoji
/// and any other Unicode scalar value. Shrinks toward `'a'`.
pub fn nasty_char() -> BoxedStrategy<char> {
    // One draw of two integers per character: a `prop_oneof!` of nine
    // character strategies is about thirty times slower to generate.
    (0..20_u8, any::<u32>())
        .prop_map(|(kind, r)| {
            let pick = |from: char, count: u32| char::from_u32(u32::from(from) + r % count);
            let c = match kind {
                0..=6 => pick('a', 26),
                7 => pick('0', 10),
                8..=11 => SPECIAL.chars().nth(r as usize % SPECIAL.chars().count()),
                12 => pick('\u{300}', 0x70),
                13 => pick('\u{5d0}', 27),
                14 => pick('\u{627}', 36),
                15 => pick('\u{4e00}', 0x5200),
                16 => pick('\u{1f300}', 0x800),
                _ => char::from_u32(r % 0x11_0000),
            };
            // Only a surrogate code point (from the last arm) has no char.
            c.unwrap_or('\u{fffd}')
        })
        .boxed()
}

/// Text of up to 2,048 bytes (2 KB) made of [`nasty_char`]s, including the
/// empty string and whole samples such as `"c&d=e"`, `"%20"` and
/// `"\r\nX-Injected: 1"`.
pub fn nasty_string() -> BoxedStrategy<String> {
    prop_oneof![
        6 => vec(nasty_char(), 0..=16).prop_map(String::from_iter),
        3 => select(SAMPLES).prop_map(str::to_owned),
        2 => vec(nasty_char(), 0..=160).prop_map(String::from_iter),
        // Long text, cheaply: a short piece repeated, then cut to 2 KB.
        1 => (vec(nasty_char(), 1..=24), 1..=1024_usize)
            .prop_map(|(piece, times)| cut(String::from_iter(piece).repeat(times), 2048)),
    ]
    .boxed()
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let end = (0..=max)
            .rev()
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s.truncate(end);
    }
    s
}

fn non_empty(s: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    s.prop_filter("must not be empty", |s| !s.is_empty())
}

/// A valid person or alias identity: 1 to 255 characters (not bytes), with
/// the edge cases of 255 multibyte characters.
pub fn person() -> BoxedStrategy<String> {
    prop_oneof![
        6 => non_empty(nasty_string()).prop_map(|s| s.chars().take(255).collect()),
        1 => vec(nasty_char(), 1..=255).prop_map(String::from_iter),
        1 => select(&['x', 'é', '€', '😀'][..]).prop_map(|c| c.to_string().repeat(255)),
    ]
    .boxed()
}

/// A valid event name: any non-empty text up to 2 KB.
pub fn event() -> BoxedStrategy<String> {
    non_empty(nasty_string()).boxed()
}

/// A property name that is valid anywhere: not empty and not one of `_k`,
/// `_p`, `_n`, `_t`, `_d` (the last two are added by [`properties`] with
/// values they accept).
pub fn property_name() -> BoxedStrategy<String> {
    non_empty(nasty_string())
        .prop_filter("reserved or back-dating name", |n| {
            !matches!(n.as_str(), "_k" | "_p" | "_n" | "_t" | "_d")
        })
        .boxed()
}

/// A value of every kind: text, `i64`, `u64`, `f64` and `f32` (NaN and
/// infinities included), boolean.
pub fn value() -> BoxedStrategy<OwnedValue> {
    prop_oneof![
        4 => nasty_string().prop_map(OwnedValue::Str),
        1 => any::<i64>().prop_map(OwnedValue::Int),
        1 => any::<u64>().prop_map(OwnedValue::UInt),
        1 => prop::num::f64::ANY.prop_map(OwnedValue::Float),
        1 => prop::num::f32::ANY.prop_map(OwnedValue::Float32),
        1 => any::<bool>().prop_map(OwnedValue::Bool),
    ]
    .boxed()
}

/// A `_t` value the encoder must accept: a whole number of seconds.
fn valid_backdate_time() -> BoxedStrategy<OwnedValue> {
    prop_oneof![
        any::<u64>().prop_map(OwnedValue::UInt),
        (0..=i64::MAX).prop_map(OwnedValue::Int),
        (0..=1_u64 << 53).prop_map(|s| OwnedValue::Float(s as f64)),
        (0..=1_u32 << 24).prop_map(|s| OwnedValue::Float32(s as f32)),
        Just(OwnedValue::Float(-0.0)),
        Just(OwnedValue::Float(18_446_744_073_709_549_568.0)),
        (any::<u64>(), 0..3_usize)
            .prop_map(|(s, zeros)| OwnedValue::Str(format!("{}{s}", "0".repeat(zeros)))),
    ]
    .boxed()
}

/// A `_t` value the encoder must refuse.
fn invalid_backdate_time() -> BoxedStrategy<OwnedValue> {
    prop_oneof![
        (i64::MIN..0).prop_map(OwnedValue::Int),
        (-1e12..1e12_f64)
            .prop_filter("a fraction", |x| x.fract() != 0.0)
            .prop_map(OwnedValue::Float),
        select(
            &[
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                -1.0,
                1.8446744073709552e19,
                1e300
            ][..]
        )
        .prop_map(OwnedValue::Float),
        select(&[f32::NAN, f32::INFINITY, -1.0, 0.5, 3.4e38][..]).prop_map(OwnedValue::Float32),
        select(
            &[
                "",
                "abc",
                "-1",
                "+1",
                "1.0",
                "1e3",
                " 1",
                "18446744073709551616",
                "١٢"
            ][..]
        )
        .prop_map(|s| OwnedValue::Str(s.to_owned())),
        any::<bool>().prop_map(OwnedValue::Bool),
    ]
    .boxed()
}

/// A `_d` value the encoder must accept: `0` or `1`, as integer or text.
fn valid_backdate_flag() -> BoxedStrategy<OwnedValue> {
    prop_oneof![
        (0..=1_i64).prop_map(OwnedValue::Int),
        (0..=1_u64).prop_map(OwnedValue::UInt),
        select(&["0", "1"][..]).prop_map(|s| OwnedValue::Str(s.to_owned())),
    ]
    .boxed()
}

/// A `_d` value the encoder must refuse.
fn invalid_backdate_flag() -> BoxedStrategy<OwnedValue> {
    prop_oneof![
        any::<i64>()
            .prop_filter("0 or 1", |i| *i != 0 && *i != 1)
            .prop_map(OwnedValue::Int),
        (2..=u64::MAX).prop_map(OwnedValue::UInt),
        prop::num::f64::ANY.prop_map(OwnedValue::Float),
        prop::num::f32::ANY.prop_map(OwnedValue::Float32),
        any::<bool>().prop_map(OwnedValue::Bool),
        nasty_string()
            .prop_filter("0 or 1", |s| s != "0" && s != "1")
            .prop_map(OwnedValue::Str),
    ]
    .boxed()
}

/// Valid properties: up to 8 pairs with distinct [`property_name`]s and
/// any [`value`], sometimes with a valid `_t` and/or `_d` at any position.
pub fn properties() -> BoxedStrategy<Vec<(String, OwnedValue)>> {
    (
        vec((property_name(), value()), 0..=8),
        prop::option::weighted(0.2, (valid_backdate_time(), any::<Index>())),
        prop::option::weighted(0.2, (valid_backdate_flag(), any::<Index>())),
    )
        .prop_map(|(pairs, t, d)| {
            let mut props: Vec<(String, OwnedValue)> = Vec::with_capacity(pairs.len() + 2);
            for (name, value) in pairs {
                if !props.iter().any(|(n, _)| *n == name) {
                    props.push((name, value));
                }
            }
            for (name, extra) in [("_t", t), ("_d", d)] {
                if let Some((value, at)) = extra {
                    props.insert(at.index(props.len() + 1), (name.to_owned(), value));
                }
            }
            props
        })
        .boxed()
}

/// A timestamp the encoder must accept, in each form (0 included).
pub fn valid_timestamp() -> BoxedStrategy<TimestampInput> {
    prop_oneof![
        any::<u64>().prop_map(TimestampInput::Unsigned),
        (0..=i64::MAX).prop_map(TimestampInput::Signed),
        (0.0..18_446_744_073_709_549_568.0_f64).prop_map(TimestampInput::Float),
        (0.0..2e10_f64).prop_map(TimestampInput::Float),
        select(&[0.0, -0.0, 1381849312.0, 1381849312.5, 0.999][..]).prop_map(TimestampInput::Float),
        (0.0..1e19_f32).prop_map(TimestampInput::Float32),
        (any::<u32>(), any::<u32>()).prop_map(|(secs, nanos)| TimestampInput::System {
            before_epoch: false,
            secs,
            nanos
        }),
        Just(TimestampInput::System {
            before_epoch: true,
            secs: 0,
            nanos: 0
        }),
    ]
    .boxed()
}

/// A timestamp the encoder must refuse: negative, not finite, too large,
/// or a time before the epoch.
pub fn invalid_timestamp() -> BoxedStrategy<TimestampInput> {
    prop_oneof![
        (i64::MIN..0).prop_map(TimestampInput::Signed),
        (-1e300..-1e-300_f64).prop_map(TimestampInput::Float),
        select(
            &[
                f64::NAN,
                f64::INFINITY,
                f64::NEG_INFINITY,
                1.8446744073709552e19,
                f64::MAX
            ][..]
        )
        .prop_map(TimestampInput::Float),
        select(&[f32::NAN, f32::NEG_INFINITY, -0.5, f32::MAX][..])
            .prop_map(TimestampInput::Float32),
        (any::<u32>(), any::<u32>())
            .prop_filter("after the epoch", |(s, n)| *s > 0 || n % 1_000_000_000 > 0)
            .prop_map(|(secs, nanos)| TimestampInput::System {
                before_epoch: true,
                secs,
                nanos
            }),
    ]
    .boxed()
}

/// Characters allowed in a path segment (RFC 3986 `pchar` without `%`).
const PATH_CHARS: &[char] = &[
    'a', 'b', 'e', 's', 'z', 'A', 'Z', '0', '9', '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')',
    '*', '+', ',', ';', '=', ':', '@', '/',
];

/// A valid path override: `None`, or pchar text (with `%XX` escapes and
/// `/`), with or without one leading `/`.
pub fn path() -> BoxedStrategy<Option<String>> {
    let piece = prop_oneof![
        8 => select(PATH_CHARS).prop_map(String::from),
        1 => (0..=255_u8).prop_map(|b| format!("%{b:02X}")),
        1 => (0..=255_u8).prop_map(|b| format!("%{b:02x}")),
    ];
    let text = (any::<bool>(), vec(piece, 1..=16)).prop_map(|(slash, pieces)| {
        let path = pieces.concat();
        if slash {
            format!("/{path}")
        } else {
            path
        }
    });
    prop_oneof![
        2 => Just(None),
        1 => select(&["e", "/e", "get", "a/b", "//x", "s/"][..]).prop_map(|p| Some(p.to_owned())),
        3 => text
            .prop_filter("not empty after the slash", |p| p != "/")
            .prop_map(Some),
    ]
    .boxed()
}

fn record() -> BoxedStrategy<CallInput> {
    (
        person(),
        event(),
        properties(),
        prop::option::of(valid_timestamp()),
        path(),
    )
        .prop_map(
            |(person, event, properties, timestamp, path)| CallInput::Record {
                person,
                event,
                properties,
                timestamp,
                path,
            },
        )
        .boxed()
}

fn set() -> BoxedStrategy<CallInput> {
    (
        person(),
        properties(),
        prop::option::of(valid_timestamp()),
        path(),
    )
        .prop_map(|(person, properties, timestamp, path)| CallInput::Set {
            person,
            properties,
            timestamp,
            path,
        })
        .boxed()
}

fn alias() -> BoxedStrategy<CallInput> {
    (person(), person(), path())
        .prop_map(|(person, identity, path)| CallInput::Alias {
            person,
            identity,
            timestamp: None,
            path,
        })
        .boxed()
}

/// A call that breaks no rule: [`CallInput::expected_error`] is `None`
/// for any encoder whose endpoint, path and key fit in 5,500 bytes (see
/// [`VALID_QUERY_BUDGET`]).
pub fn valid_call() -> BoxedStrategy<CallInput> {
    prop_oneof![3 => record(), 2 => set(), 1 => alias()]
        .prop_filter("the query must fit in the budget", |call| {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(call.expected_pairs(""))
                .finish();
            query.len() + call.expected_path().len() <= VALID_QUERY_BUDGET
        })
        .boxed()
}

/// A call made invalid on purpose, and the rule it breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidCall {
    /// The rule the call breaks; it breaks no other.
    pub rule: Rule,
    /// The call.
    pub call: CallInput,
}

/// A [`valid_call`] changed to break exactly one [`Rule`], every rule in
/// turn. [`CallInput::expected_error`] of the call matches the rule
/// ([`Rule::matches`]).
pub fn invalid_call() -> BoxedStrategy<InvalidCall> {
    let base = || prop_oneof![record(), set(), alias()];
    let with_props = || prop_oneof![record(), set()];
    let too_long = || vec(nasty_char(), 256..=300).prop_map(String::from_iter);
    let reserved = select(&["_k", "_p", "_n"][..]);
    let bad_path_char = select(
        &[
            ' ', '\t', '\n', '\r', '\0', '?', '#', '"', '<', '\\', '^', '`', '{', 'é', '😀', '[',
            '\u{7f}',
        ][..],
    );
    let invalid = |rule| move |call| InvalidCall { rule, call };
    prop_oneof![
        base()
            .prop_map(|c| with_person(c, String::new()))
            .prop_map(invalid(Rule::EmptyPerson)),
        (base(), too_long())
            .prop_map(|(c, p)| with_person(c, p))
            .prop_map(invalid(Rule::PersonTooLong)),
        record()
            .prop_map(|mut c| {
                if let CallInput::Record { event, .. } = &mut c {
                    event.clear();
                }
                c
            })
            .prop_map(invalid(Rule::EmptyEvent)),
        alias()
            .prop_map(|c| with_identity(c, String::new()))
            .prop_map(invalid(Rule::EmptyIdentity)),
        (alias(), too_long())
            .prop_map(|(c, i)| with_identity(c, i))
            .prop_map(invalid(Rule::IdentityTooLong)),
        (with_props(), value(), any::<Index>())
            .prop_map(|(c, v, at)| with_property(c, String::new(), v, at))
            .prop_map(invalid(Rule::EmptyPropertyName)),
        (with_props(), reserved, value(), any::<Index>())
            .prop_map(|(c, n, v, at)| with_property(c, n.to_owned(), v, at))
            .prop_map(invalid(Rule::ReservedProperty)),
        (with_props(), invalid_backdate_time(), any::<Index>())
            .prop_map(|(c, v, at)| with_property(c, "_t".to_owned(), v, at))
            .prop_map(invalid(Rule::InvalidBackdateTime)),
        (with_props(), invalid_backdate_flag(), any::<Index>())
            .prop_map(|(c, v, at)| with_property(c, "_d".to_owned(), v, at))
            .prop_map(invalid(Rule::InvalidBackdateFlag)),
        (
            with_props(),
            property_name(),
            value(),
            any::<Index>(),
            any::<Index>()
        )
            .prop_map(|(c, name, value, which, at)| duplicate_property(c, name, value, which, at))
            .prop_map(invalid(Rule::DuplicateProperty)),
        (with_props(), invalid_timestamp())
            .prop_map(|(c, t)| with_timestamp(c, Some(t)))
            .prop_map(invalid(Rule::InvalidTimestamp)),
        (alias(), prop_oneof![valid_timestamp(), invalid_timestamp()])
            .prop_map(|(c, t)| with_timestamp(c, Some(t)))
            .prop_map(invalid(Rule::TimestampOnAlias)),
        (base(), select(&["", "/"][..]))
            .prop_map(|(c, p)| with_path(c, p.to_owned()))
            .prop_map(invalid(Rule::EmptyPath)),
        (base(), path(), bad_path_char, any::<Index>())
            .prop_map(|(c, p, bad, at)| {
                let mut p: Vec<char> = p.unwrap_or_else(|| "e".to_owned()).chars().collect();
                p.insert(at.index(p.len() + 1), bad);
                with_path(c, p.into_iter().collect())
            })
            .prop_map(invalid(Rule::InvalidPath)),
        (base(), select(&["%", "%4", "%zz", "%G0"][..]))
            .prop_map(|(c, bad)| {
                let p = c.expected_path();
                with_path(c, format!("{p}{bad}"))
            })
            .prop_map(invalid(Rule::InvalidPath)),
        (with_props(), 21_900..=30_000_usize, any::<Index>())
            .prop_map(|(c, n, at)| {
                // Each `&` takes three bytes encoded: 65,700 bytes or more.
                let pad = OwnedValue::Str("&".repeat(n));
                with_property(c, "\u{1}padding".to_owned(), pad, at)
            })
            .prop_map(invalid(Rule::RequestTooLong)),
    ]
    .boxed()
}

/// Any call, valid (about three in four) or not.
pub fn any_call() -> BoxedStrategy<CallInput> {
    prop_oneof![
        3 => valid_call(),
        1 => invalid_call().prop_map(|i| i.call),
    ]
    .boxed()
}

fn with_person(mut call: CallInput, new: String) -> CallInput {
    match &mut call {
        CallInput::Record { person, .. }
        | CallInput::Set { person, .. }
        | CallInput::Alias { person, .. } => *person = new,
    }
    call
}

fn with_identity(mut call: CallInput, new: String) -> CallInput {
    if let CallInput::Alias { identity, .. } = &mut call {
        *identity = new;
    }
    call
}

fn with_timestamp(mut call: CallInput, new: Option<TimestampInput>) -> CallInput {
    match &mut call {
        CallInput::Record { timestamp, .. }
        | CallInput::Set { timestamp, .. }
        | CallInput::Alias { timestamp, .. } => *timestamp = new,
    }
    call
}

fn with_path(mut call: CallInput, new: String) -> CallInput {
    match &mut call {
        CallInput::Record { path, .. }
        | CallInput::Set { path, .. }
        | CallInput::Alias { path, .. } => *path = Some(new),
    }
    call
}

/// Replaces any property of that name with one at position `at`.
fn with_property(mut call: CallInput, name: String, value: OwnedValue, at: Index) -> CallInput {
    if let CallInput::Record { properties, .. } | CallInput::Set { properties, .. } = &mut call {
        properties.retain(|(n, _)| *n != name);
        properties.insert(at.index(properties.len() + 1), (name, value));
    }
    call
}

/// Repeats one of the properties (`which`) later on; a call without
/// properties gets `name` twice.
fn duplicate_property(
    mut call: CallInput,
    name: String,
    value: OwnedValue,
    which: Index,
    at: Index,
) -> CallInput {
    if let CallInput::Record { properties, .. } | CallInput::Set { properties, .. } = &mut call {
        if properties.is_empty() {
            properties.push((name, value));
        }
        let first = which.index(properties.len());
        let copy = properties[first].clone();
        let later = first + 1 + at.index(properties.len() - first);
        properties.insert(later, copy);
    }
    call
}
