//! Building record/set/alias requests from arbitrary calls.
//!
//! Never panics; a built request decodes to exactly the oracle's pairs and
//! has its URI; a refused call gets exactly the error the oracle predicts
//! (`km_proto::testing`). Hosts are arbitrary too: any host the endpoint
//! accepts must end up, unchanged, as the request's authority. The logged
//! form of a request (`redacted`) hides the key's value and only that.
#![no_main]

use arbitrary::Arbitrary;
use km_proto::http::Method;
use km_proto::testing::{decode_query, CallInput, OwnedValue};
use km_proto::{redacted, Encoder, Endpoint, Error, Field, Scheme};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct Input {
    key: String,
    https: bool,
    /// Tried as the endpoint's host; the default host when refused.
    host: String,
    call: CallInput,
    /// Repeats the text of one property value (which, how many times, up
    /// to 100 KB), so that small inputs reach the 65,534-byte URI limit too.
    inflate: Option<(u8, u16)>,
}

fuzz_target!(|input: Input| {
    let scheme = if input.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let endpoint = Endpoint::new(scheme, &input.host).unwrap_or_default();
    let encoder = match Encoder::with_endpoint(&input.key, endpoint) {
        Ok(encoder) => encoder,
        Err(e) => {
            assert!(input.key.is_empty(), "key {:?} refused: {e}", input.key);
            assert_eq!(e, Error::Empty { field: Field::Key });
            return;
        }
    };
    let mut call = input.call;
    if let (
        Some((which, times)),
        CallInput::Record { properties, .. } | CallInput::Set { properties, .. },
    ) = (input.inflate, &mut call)
    {
        let len = properties.len();
        if let Some((_, OwnedValue::Str(text))) =
            properties.get_mut(usize::from(which) % len.max(1))
        {
            // Up to about 100 KB: past the limit, but cheap enough to run fast.
            let times = usize::from(times).min(100_000 / text.len().max(1));
            *text = text.repeat(times);
        }
    }
    let call = &call;
    match (call.build(&encoder), call.expected_error(&encoder)) {
        (Ok(request), None) => {
            assert_eq!(request.method(), Method::GET);
            assert!(request.headers().is_empty());
            let uri = request.uri();
            assert_eq!(uri.scheme_str(), Some(encoder.endpoint().scheme().as_str()));
            assert_eq!(
                uri.authority().map(|a| a.as_str()),
                Some(encoder.endpoint().host())
            );
            assert_eq!(uri.path(), call.expected_path());
            assert_eq!(
                decode_query(uri.query().unwrap_or_default()),
                call.expected_pairs(&input.key)
            );
            let text = uri.to_string();
            assert_eq!(text, call.expected_uri(&encoder));
            // Logged form: the key's value, and nothing else, becomes `***`.
            let query = uri.query().unwrap_or_default();
            let key_end = query.find('&').unwrap_or(query.len());
            if !uri.path().contains("_k=") {
                let hidden = text.replacen(&query[..key_end], "_k=***", 1);
                assert_eq!(redacted(&request).to_string(), format!("GET {hidden}"));
            }
        }
        (got, want) => assert_eq!(got.err(), want, "{call:?}"),
    }
});
