//! A minimal blocking HTTP/1.1 client over any byte stream, enough to talk
//! to the test server without an HTTP client crate.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Generous bound on every socket read and write in the tests.
pub(crate) const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// Generous bound for waiting on the server.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A parsed response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A TCP connection with read and write timeouts set.
pub(crate) fn connect(addr: SocketAddr) -> TcpStream {
    let tcp = TcpStream::connect(addr).expect("connect to the test server");
    tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    tcp
}

/// One keep-alive connection.
pub(crate) struct Client<S: Read + Write> {
    conn: BufReader<S>,
}

impl Client<TcpStream> {
    pub(crate) fn tcp(addr: SocketAddr) -> Self {
        Client::new(connect(addr))
    }
}

impl<S: Read + Write> Client<S> {
    pub(crate) fn new(stream: S) -> Self {
        Client {
            conn: BufReader::new(stream),
        }
    }

    /// Writes raw bytes.
    pub(crate) fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        let stream = self.conn.get_mut();
        stream.write_all(bytes)?;
        stream.flush()
    }

    /// Sends `METHOD target` with a Host header and reads the response.
    pub(crate) fn request(&mut self, method: &str, target: &str) -> io::Result<Response> {
        self.send_raw(
            format!("{method} {target} HTTP/1.1\r\nHost: trk.example\r\n\r\n").as_bytes(),
        )?;
        self.read_response(method == "HEAD")
    }

    /// `GET target`.
    pub(crate) fn get(&mut self, target: &str) -> io::Result<Response> {
        self.request("GET", target)
    }

    /// Reads a response head and a Content-Length-framed body.
    pub(crate) fn read_response(&mut self, head_only: bool) -> io::Result<Response> {
        let (status, headers) = self.read_head()?;
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let length = match response.header("content-length") {
            Some(v) if !head_only => v
                .parse::<usize>()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?,
            _ => 0,
        };
        response.body = vec![0; length];
        self.conn.read_exact(&mut response.body)?;
        Ok(response)
    }

    /// Reads a status line and headers.
    pub(crate) fn read_head(&mut self) -> io::Result<(u16, Vec<(String, String)>)> {
        let status_line = self.read_line()?;
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("status line {status_line:?}"),
                )
            })?;
        let mut headers = Vec::new();
        for _ in 0..100 {
            let line = self.read_line()?;
            if line.is_empty() {
                return Ok((status, headers));
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "header line"))?;
            headers.push((name.trim().to_owned(), value.trim().to_owned()));
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many headers",
        ))
    }

    fn read_line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.conn.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads whatever arrives until the peer closes (or resets) the
    /// connection, at most `limit` bytes.
    pub(crate) fn read_to_close(&mut self, limit: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let mut chunk = [0; 256];
        while got.len() < limit {
            match self.conn.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
        got
    }

    pub(crate) fn stream(&mut self) -> &mut S {
        self.conn.get_mut()
    }
}

/// `GET target` on a fresh connection.
pub(crate) fn get(addr: SocketAddr, target: &str) -> io::Result<Response> {
    Client::tcp(addr).get(target)
}
