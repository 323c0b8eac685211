//! A real tracking server on `127.0.0.1`, for testing KISSmetrics clients.
//!
//! [`TestServer`] is an HTTP/1.1 server (hyper, on its own thread and tokio
//! runtime) bound to a loopback port. It behaves like the KISSmetrics
//! tracking service: every request is answered `200 OK` with the 43-byte
//! transparent 1x1 [`GIF`] (`Content-Type: image/gif`) on a keep-alive
//! connection. Unlike the real service it
//!
//! * records every request ([`RecordedRequest`]: method, target, path,
//!   decoded query pairs, headers, body, connection id, time, fault), which
//!   tests read with [`TestServer::requests`], wait for with
//!   [`TestServer::wait_for_requests`] or follow live with
//!   [`TestServer::subscribe`];
//! * injects faults on demand: a queue of [`Fault`]s for the next requests
//!   or reproducible random [`FaultRates`] (error statuses with
//!   `Retry-After`, stalls, connections closed before or in the middle of
//!   the response);
//! * speaks https with a certificate made at start and signed by a
//!   throw-away CA that clients under test can trust
//!   ([`Builder::https`], [`TestServer::ca_cert_pem`]);
//! * serves as a plain-http forward proxy target: a request with an
//!   absolute-form target (`GET http://trk.example/e?.. HTTP/1.1`) is
//!   answered like any other and recorded with that target. `CONNECT`
//!   (what clients send to reach an https origin through a proxy) is
//!   recorded and answered `405 Method Not Allowed`: no tunnel is opened.
//!
//! Nothing leaves the machine: the server only binds `127.0.0.1`.
//!
//! # Limits
//!
//! * HTTP/1.1 (and 1.0) only; over https the server offers ALPN `http/1.1`.
//! * A request hyper cannot parse (bad request line or headers) is answered
//!   `400 Bad Request` (or its connection is closed) and not recorded; a
//!   request whose body exceeds 1 MiB has its connection closed and is not
//!   recorded either. The server carries on in both cases.
//! * Recorded requests stay in memory until [`TestServer::clear`] or drop.
//! * One thread with a single-threaded tokio runtime serves all
//!   connections. On a 2-core machine it answered about 60,000 requests/s
//!   over 64 keep-alive connections from blocking clients in the same
//!   process (release build), more than a two-worker runtime managed.
//!
//! It works the same from blocking tests and from async ones (including
//! inside `#[tokio::test]`): the server never touches the caller's runtime.
//! Dropping the [`TestServer`] stops it: the accept loop ends, open
//! connections are closed, and the thread is joined before `drop` returns.
//!
//! # Example
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::TcpStream;
//! use std::time::Duration;
//! use km_testkit::{Fault, TestServer};
//!
//! let server = TestServer::start();
//! server.push_fault(Fault::too_many_requests("3"));
//!
//! // Any HTTP client works; here, a raw one.
//! let get = |path: &str| {
//!     let mut tcp = TcpStream::connect(server.addr()).unwrap();
//!     let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
//!     tcp.write_all(head.as_bytes()).unwrap();
//!     let mut response = Vec::new();
//!     tcp.read_to_end(&mut response).unwrap();
//!     response
//! };
//! assert!(get("/e?_n=first").starts_with(b"HTTP/1.1 429 Too Many Requests\r\n"));
//! let ok = get("/e?_n=second");
//! assert!(ok.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! assert!(ok.ends_with(km_testkit::GIF));
//!
//! assert!(server.wait_for_requests(2, Duration::from_secs(5)));
//! let requests = server.requests();
//! assert_eq!(requests[0].fault, Some(Fault::too_many_requests("3")));
//! assert_eq!(requests[1].pair("_n"), Some("second"));
//! assert_eq!(server.connections(), 2);
//! ```
//!
//! In an async test nothing changes, because the server has its own runtime
//! on its own thread. The calls that wait
//! ([`TestServer::wait_for_requests`], dropping the server) block the
//! calling thread for at most their timeout or a few milliseconds, which is
//! fine in a test:
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Inside `#[tokio::test] async fn ...`:
//! let server = km_testkit::TestServer::builder().https().start().unwrap();
//! let trusted = server.ca_cert_der().unwrap(); // give this to the client under test
//! assert!(!trusted.is_empty());
//! // ... the client sends to server.url("/e?_k=key&_n=Signed%20Up") ...
//! assert!(!server.wait_for_requests(1, std::time::Duration::from_millis(10)));
//! drop(server);
//! # });
//! ```

#![doc(test(attr(deny(warnings))))]

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::{mpsc, Arc};
use std::time::Duration;

mod fault;
mod record;
mod server;
mod tls;

pub use fault::{Fault, FaultRates};
pub use record::RecordedRequest;

use server::{Running, Shared};

/// The body of every normal answer: a transparent 1x1 GIF, 43 bytes, as the
/// KISSmetrics tracking service sends.
pub const GIF: &[u8; 43] = &[
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x00, 0x00, 0x00, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

/// How many bytes of the [`GIF`] a [`Fault::CloseMidResponse`] sends before
/// closing the connection.
pub const MID_RESPONSE_BYTES: usize = 10;

/// The seed of the fault-rate random sequence unless [`Builder::seed`] says
/// otherwise.
pub const DEFAULT_SEED: u64 = 0x6b6d_7465_7374;

/// Options for starting a [`TestServer`]; see [`TestServer::builder`].
///
/// ```
/// let server = km_testkit::TestServer::builder()
///     .https()
///     .seed(7)
///     .port(0)
///     .start()
///     .expect("server starts");
/// assert!(server.base_url().starts_with("https://127.0.0.1:"));
/// assert!(server.ca_cert_pem().unwrap().starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `start` is called"]
pub struct Builder {
    https: bool,
    seed: u64,
    port: u16,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            https: false,
            seed: DEFAULT_SEED,
            port: 0,
        }
    }
}

impl Builder {
    /// Serves https instead of http. At start the server generates a CA
    /// certificate and a certificate for `localhost` and `127.0.0.1` signed
    /// by it; clients must trust [`TestServer::ca_cert_pem`] or
    /// [`TestServer::ca_cert_der`]. Only HTTP/1.1 is offered (ALPN
    /// `http/1.1`).
    pub fn https(mut self) -> Self {
        self.https = true;
        self
    }

    /// Seeds the random sequence used by [`TestServer::set_fault_rates`]
    /// (default [`DEFAULT_SEED`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Listens on this port of `127.0.0.1`; 0 (the default) lets the system
    /// pick a free one.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds the port and starts the server thread. The address is bound
    /// before this returns, so clients may connect at once.
    ///
    /// # Errors
    ///
    /// Fails if the port cannot be bound (it is taken, or privileged), or
    /// the runtime, thread or certificates cannot be created.
    pub fn start(self) -> io::Result<TestServer> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port))?;
        let addr = listener.local_addr()?;
        let tls = if self.https {
            Some(tls::generate()?)
        } else {
            None
        };
        let shared = Arc::new(Shared::new(self.seed));
        let running = server::spawn(
            listener,
            addr,
            tls.as_ref().map(|tls| Arc::clone(&tls.config)),
            Arc::clone(&shared),
        )?;
        Ok(TestServer {
            addr,
            tls,
            shared,
            running: Some(running),
        })
    }
}

/// A tracking server running on `127.0.0.1` until dropped.
///
/// See the [crate documentation](crate) for what it does and an example.
///
/// ```
/// let server = km_testkit::TestServer::start();
/// let url = server.url("/e?_k=key");
/// assert_eq!(url, format!("http://127.0.0.1:{}/e?_k=key", server.addr().port()));
/// assert_eq!(server.request_count(), 0);
/// drop(server); // stops the server and joins its thread
/// ```
pub struct TestServer {
    addr: SocketAddr,
    tls: Option<tls::Tls>,
    shared: Arc<Shared>,
    running: Option<Running>,
}

impl TestServer {
    /// Starts an http server on a free port of `127.0.0.1`.
    ///
    /// # Panics
    ///
    /// Panics if the server cannot start (no free port, no threads); use
    /// [`TestServer::builder`] to get the error instead.
    pub fn start() -> TestServer {
        match Builder::default().start() {
            Ok(server) => server,
            Err(e) => panic!("km-testkit: cannot start the test server: {e}"),
        }
    }

    /// Options for starting a server: https, seed, port.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// The address the server listens on (`127.0.0.1` and its port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `"127.0.0.1:PORT"`, e.g. for a client's proxy setting.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// `"http://127.0.0.1:PORT"` or `"https://127.0.0.1:PORT"`, without a
    /// trailing slash.
    pub fn base_url(&self) -> String {
        let scheme = if self.is_https() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// [`base_url`](Self::base_url) followed by `path_and_query`, which
    /// should start with `/`.
    pub fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base_url())
    }

    /// Whether the server speaks https.
    pub fn is_https(&self) -> bool {
        self.tls.is_some()
    }

    /// The CA certificate (PEM) that signed the server's certificate, for
    /// clients to trust; `None` for an http server.
    pub fn ca_cert_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|tls| tls.ca_pem.as_str())
    }

    /// The same CA certificate in DER; `None` for an http server.
    pub fn ca_cert_der(&self) -> Option<&[u8]> {
        self.tls.as_ref().map(|tls| tls.ca_der.as_slice())
    }

    /// Queues a fault for the next request that is not already taken by an
    /// earlier queued fault. Queued faults are applied in order, one per
    /// request, before any [`FaultRates`] are consulted.
    ///
    /// # Panics
    ///
    /// Panics on a [`Fault::Status`] the server could not send: a status
    /// outside 200..=999, or a `Retry-After` value that is not a valid
    /// header value.
    pub fn push_fault(&self, fault: Fault) {
        fault.validate();
        self.shared.faults().push(fault);
    }

    /// Sets the probabilities of faults for requests no queued fault applies
    /// to, and restarts the random sequence from the seed. Pass
    /// `FaultRates::default()` to stop random faults.
    ///
    /// # Panics
    ///
    /// Panics if a probability is outside `[0, 1]`, they add up to more than
    /// 1, or the status fault could not be sent (see
    /// [`push_fault`](Self::push_fault)).
    pub fn set_fault_rates(&self, rates: FaultRates) {
        rates.validate();
        self.shared.faults().set_rates(rates);
    }

    /// Drops all queued faults and sets all fault rates to zero.
    pub fn clear_faults(&self) {
        self.shared.faults().clear();
    }

    /// A copy of the requests recorded so far (since the last
    /// [`clear`](Self::clear)), in the order they were received.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log().requests.clone()
    }

    /// How many requests are recorded (since the last [`clear`](Self::clear)).
    pub fn request_count(&self) -> usize {
        self.shared.log().requests.len()
    }

    /// Forgets the recorded requests. Connection counts and faults are kept.
    ///
    /// Recorded requests stay in memory until cleared or the server is
    /// dropped; a long benchmark may want to clear now and then.
    pub fn clear(&self) {
        self.shared.log().requests.clear();
    }

    /// How many connections the server has accepted (including https ones
    /// whose handshake then failed). Connection ids run from 1 to this.
    pub fn connections(&self) -> usize {
        self.shared.connections()
    }

    /// Waits until at least `n` requests are recorded, at most `timeout`.
    /// Returns whether they were. A request counts as soon as it is read,
    /// before any delay or other fault is applied to it.
    pub fn wait_for_requests(&self, n: usize, timeout: Duration) -> bool {
        self.shared.wait_for(n, timeout)
    }

    /// A channel that receives every request recorded from now on. The
    /// channel disconnects when the server is dropped; dropping the receiver
    /// unsubscribes.
    ///
    /// ```
    /// use std::io::Write;
    /// use std::net::TcpStream;
    /// use std::time::Duration;
    ///
    /// let server = km_testkit::TestServer::start();
    /// let requests = server.subscribe();
    /// let mut tcp = TcpStream::connect(server.addr()).unwrap();
    /// tcp.write_all(b"GET /e?_n=Viewed HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    /// let request = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    /// assert_eq!(request.pair("_n"), Some("Viewed"));
    /// ```
    pub fn subscribe(&self) -> mpsc::Receiver<RecordedRequest> {
        let (sender, receiver) = mpsc::channel();
        self.shared.log().subscribers.push(sender);
        receiver
    }
}

impl fmt::Debug for TestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestServer")
            .field("base_url", &self.base_url())
            .field("connections", &self.connections())
            .field("requests", &self.request_count())
            .finish()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            // The receiver lives as long as the accept loop; if it is gone
            // the loop has already ended.
            let _ = running.shutdown.send(());
            // The thread catches nothing that could panic; a join error
            // would mean a bug in this crate, not worth a panic in drop.
            let _ = running.thread.join();
        }
    }
}
