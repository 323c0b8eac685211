//! The server thread: a tokio runtime, an accept loop and hyper's HTTP/1.1
//! connections, all sharing one [`Shared`] with the [`TestServer`](crate::TestServer)
//! handle.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

use crate::fault::FaultPlan;
use crate::{Fault, RecordedRequest, GIF, MID_RESPONSE_BYTES};

/// Bodies larger than this are refused by closing the connection.
const MAX_BODY: usize = 1 << 20;

/// How long [`Fault::CloseMidResponse`] waits between sending the first body
/// bytes and closing, so that those bytes are flushed to the client.
const MID_RESPONSE_PAUSE: Duration = Duration::from_millis(50);

/// State shared by the handle and the server thread.
pub(crate) struct Shared {
    log: Mutex<Log>,
    arrived: Condvar,
    faults: Mutex<FaultPlan>,
    connections: AtomicUsize,
}

/// Recorded requests and the subscribers to new ones.
#[derive(Default)]
pub(crate) struct Log {
    pub(crate) requests: Vec<RecordedRequest>,
    pub(crate) subscribers: Vec<mpsc::Sender<RecordedRequest>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(seed: u64) -> Self {
        Shared {
            log: Mutex::new(Log::default()),
            arrived: Condvar::new(),
            faults: Mutex::new(FaultPlan::new(seed)),
            connections: AtomicUsize::new(0),
        }
    }

    pub(crate) fn log(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultPlan> {
        lock(&self.faults)
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Waits until at least `n` requests are recorded or `timeout` passes.
    pub(crate) fn wait_for(&self, n: usize, timeout: Duration) -> bool {
        let log = self.log();
        let (log, _) = self
            .arrived
            .wait_timeout_while(log, timeout, |log| log.requests.len() < n)
            .unwrap_or_else(PoisonError::into_inner);
        log.requests.len() >= n
    }

    fn record(&self, request: RecordedRequest) {
        let mut log = self.log();
        log.subscribers
            .retain(|subscriber| subscriber.send(request.clone()).is_ok());
        log.requests.push(request);
        drop(log);
        self.arrived.notify_all();
    }
}

/// The running server thread.
pub(crate) struct Running {
    pub(crate) shutdown: oneshot::Sender<()>,
    pub(crate) thread: JoinHandle<()>,
}

/// Starts the server thread on an already bound listener.
pub(crate) fn spawn(
    listener: std::net::TcpListener,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    shared: Arc<Shared>,
) -> io::Result<Running> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()?;
    listener.set_nonblocking(true)?;
    let listener = {
        let _context = runtime.enter();
        TcpListener::from_std(listener)?
    };
    let tls = tls.map(TlsAcceptor::from);
    let (shutdown, stop) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name(format!("km-testkit {addr}"))
        .spawn(move || {
            runtime.block_on(accept_loop(listener, tls, shared, stop));
            // Dropping the runtime drops every connection task, which closes
            // their sockets, including idle keep-alive ones.
            drop(runtime);
        })?;
    Ok(Running { shutdown, thread })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let id = shared.connections.fetch_add(1, Ordering::Relaxed) + 1;
                tokio::spawn(serve_connection(
                    stream,
                    id,
                    tls.clone(),
                    Arc::clone(&shared),
                ));
            }
            Err(e) => {
                // Typically out of file descriptors: back off instead of spinning.
                tracing::debug!("km-testkit: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    id: usize,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("km-testkit: connection {id}: set_nodelay failed: {e}");
    }
    let service = service_fn(move |request| respond(Arc::clone(&shared), id, request));
    let http = http1::Builder::new();
    let result = match tls {
        None => http.serve_connection(TokioIo::new(stream), service).await,
        Some(acceptor) => match acceptor.accept(stream).await {
            Ok(stream) => http.serve_connection(TokioIo::new(stream), service).await,
            Err(e) => {
                tracing::debug!("km-testkit: connection {id}: TLS handshake failed: {e}");
                return;
            }
        },
    };
    if let Err(e) = result {
        tracing::debug!("km-testkit: connection {id} ended: {e}");
    }
}

type Body = Either<Full<Bytes>, Channel<Bytes, io::Error>>;

/// Reads, records and answers one request, applying its fault if any.
///
/// An `Err` makes hyper close the connection without writing anything more.
async fn respond(
    shared: Arc<Shared>,
    connection: usize,
    request: Request<Incoming>,
) -> Result<Response<Body>, io::Error> {
    let (parts, body) = request.into_parts();
    let body = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(io::Error::other)?
        .to_bytes();
    let fault = shared.faults().next();
    shared.record(RecordedRequest::new(
        connection,
        &parts,
        body.to_vec(),
        fault.clone(),
    ));
    match fault {
        None => Ok(normal(&parts.method)),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            Ok(normal(&parts.method))
        }
        Some(Fault::Status {
            status,
            retry_after,
        }) => {
            let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if let Some(value) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                response.headers_mut().insert(RETRY_AFTER, value);
            }
            Ok(response)
        }
        Some(Fault::CloseBeforeResponse) => Err(io::Error::other(
            "fault injected: connection closed before the response",
        )),
        Some(Fault::CloseMidResponse) => Ok(cut_short()),
    }
}

/// The normal answer: the GIF, or 405 for `CONNECT` (no tunnelling).
fn normal(method: &Method) -> Response<Body> {
    if method == Method::CONNECT {
        let mut response = Response::new(Either::Left(Full::new(Bytes::new())));
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD, POST"));
        return response;
    }
    let mut response = Response::new(Either::Left(Full::new(Bytes::from_static(GIF))));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    response
}

/// A `200 OK` announcing the whole GIF that sends only its first bytes, then
/// fails the body, which makes hyper drop the connection.
fn cut_short() -> Response<Body> {
    let (mut sender, body) = Channel::new(1);
    tokio::spawn(async move {
        let head = Bytes::from_static(&GIF[..MID_RESPONSE_BYTES]);
        if sender.send_data(head).await.is_ok() {
            tokio::time::sleep(MID_RESPONSE_PAUSE).await;
            sender.abort(io::Error::other(
                "fault injected: connection closed mid-response",
            ));
        }
    });
    let mut response = Response::new(Either::Right(body));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(GIF.len()));
    response
}
