//! The outbox's segment decoder on arbitrary bytes: never panics, accounts
//! for every byte, and never loses an entry written whole before garbage or
//! a torn tail. The checks live beside the decoder
//! (`kissmetrics::outbox::fuzzing`, built with `--cfg fuzzing`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<u8>, Vec<Vec<u8>>)| {
    let (garbage, payloads) = input;
    kissmetrics::outbox::fuzzing::check(&garbage, &payloads);
});
