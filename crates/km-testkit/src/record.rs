//! What the server remembers about each request.

use std::time::{Instant, SystemTime};

use hyper::http::request::Parts;

use crate::Fault;

/// One request as the server received it.
///
/// Obtained from [`TestServer::requests`](crate::TestServer::requests) or
/// [`TestServer::subscribe`](crate::TestServer::subscribe).
///
/// ```
/// use std::io::{Read, Write};
/// use std::net::TcpStream;
/// use std::time::Duration;
///
/// let server = km_testkit::TestServer::start();
/// let mut tcp = TcpStream::connect(server.addr()).unwrap();
/// tcp.write_all(b"GET /e?_k=key&_n=Signed+Up&city=S%C3%A3o%20Paulo HTTP/1.1\r\n\
///                 Host: trk.example\r\nConnection: close\r\n\r\n").unwrap();
/// let mut response = Vec::new();
/// tcp.read_to_end(&mut response).unwrap();
///
/// assert!(server.wait_for_requests(1, Duration::from_secs(5)));
/// let request = &server.requests()[0];
/// assert_eq!(request.method, "GET");
/// assert_eq!(request.path, "/e");
/// assert_eq!(request.pair("_n"), Some("Signed Up"));
/// assert_eq!(request.pair("city"), Some("São Paulo"));
/// assert_eq!(request.header("HOST"), Some("trk.example"));
/// assert_eq!(request.fault, None);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The id of the connection the request came on: the first connection
    /// the server accepted has id 1, the next 2, and so on.
    pub connection: usize,
    /// The method, such as `"GET"`.
    pub method: String,
    /// The request target as received: origin-form (`/e?_k=..`),
    /// absolute-form (`http://trk.example/e?_k=..`, sent by clients that use
    /// this server as their HTTP proxy) or authority-form (`host:443`, for
    /// `CONNECT`).
    pub target: String,
    /// The path of the target, without the query (empty for authority-form).
    pub path: String,
    /// The query string decoded with [`form_urlencoded::parse`] into
    /// name/value pairs, in order (`+` and `%XX` decoded).
    pub query: Vec<(String, String)>,
    /// The headers in the order received, names in lower case, values
    /// decoded as UTF-8 (lossily).
    pub headers: Vec<(String, String)>,
    /// The request body (empty for the usual tracking `GET`). A request
    /// whose body cannot be read (more than 1 MiB, or malformed chunked
    /// encoding) is not recorded: its connection is closed instead.
    pub body: Vec<u8>,
    /// When the request was received, on the monotonic clock.
    pub received_at: Instant,
    /// When the request was received, on the wall clock.
    pub timestamp: SystemTime,
    /// The fault applied to this request, if any.
    pub fault: Option<Fault>,
}

impl RecordedRequest {
    pub(crate) fn new(
        connection: usize,
        parts: &Parts,
        body: Vec<u8>,
        fault: Option<Fault>,
    ) -> Self {
        let uri = &parts.uri;
        RecordedRequest {
            connection,
            method: parts.method.as_str().to_owned(),
            target: uri.to_string(),
            path: uri.path().to_owned(),
            query: uri
                .query()
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            received_at: Instant::now(),
            timestamp: SystemTime::now(),
            fault,
        }
    }

    /// The value of the first query pair named `name`, if any.
    pub fn pair(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All decoded query pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// The value of the first header named `name` (compared ignoring ASCII
    /// case), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
