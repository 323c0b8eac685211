//! `compat::parse_host` on arbitrary strings: never panics, and its answer
//! follows the reference's rule (exactly one `:` outside brackets, port `80`
//! means http and `443` https, the port is dropped from the endpoint).
#![no_main]

use kissmetrics::compat::{parse_host, HostError};
use kissmetrics::Scheme;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|host: &str| {
    match parse_host(host) {
        Ok(endpoint) => {
            let (name, port) = host.rsplit_once(':').expect("an accepted host has a port");
            let scheme = match port {
                "80" => Scheme::Http,
                "443" => Scheme::Https,
                other => panic!("accepted port {other:?} in {host:?}"),
            };
            assert_eq!(endpoint.scheme(), scheme, "{host:?}");
            assert_eq!(endpoint.host(), name, "{host:?}");
            assert!(!name.is_empty());
        }
        Err(HostError::Empty) => assert!(host.is_empty()),
        Err(HostError::UnsupportedPort { port, .. }) => {
            assert!(port != "80" && port != "443", "{host:?}");
        }
        Err(HostError::MissingPort { .. }) => assert!(!host.contains(':') || host.ends_with(']')),
        Err(_) => {}
    }
});
