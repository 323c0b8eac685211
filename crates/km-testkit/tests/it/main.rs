//! Integration tests: real sockets on 127.0.0.1, a raw HTTP/1.1 client.

mod client;
mod faults;
mod http;
mod lifecycle;
mod load;
mod tls;
