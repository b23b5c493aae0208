//! The one listener: plain TCP, or TLS over it, and the HTTP/1.1 connections served on it.
//!
//! Every connection holds a permit from a fixed pool from accept to close, so the number of
//! connections (TLS handshakes in progress included) is bounded; when the pool is empty, new
//! clients wait in the kernel's backlog. A connection on which no request is in flight and none
//! completed for a whole header timeout is closed (a client sending its headers too slowly, or an
//! idle keep-alive connection): one watchdog per connection checks that, instead of a timer per
//! request, which cost several per cent of Encrypt throughput. Headers are at most
//! `MAX_HEADER_BYTES`, and a TLS handshake must finish within `HANDSHAKE_TIMEOUT`, so slow
//! clients cannot hold connections forever.
//! Only HTTP/1.1 is served: the vendors' SDKs speak nothing else, and HTTP/2's own flow control
//! and stream limits would be one more surface to bound.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming as IncomingBody;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The most bytes of a request line and headers: the vendor allows 32 KB GET requests, whose
/// parameters are all in the request line.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;

/// The most header fields in one request.
const MAX_HEADERS: usize = 64;

/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// How connections are bounded.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
}

/// A connection's byte stream, whichever the transport.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

/// An accepted connection, with the permit it holds until it closes.
struct Accepted {
    io: Box<dyn Connection>,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
}

/// Where connections come from.
pub struct Incoming {
    source: Source,
    permits: Arc<Semaphore>,
}

enum Source {
    Plain(TcpListener),
    Tls(mpsc::Receiver<Accepted>),
}

impl Incoming {
    /// Plain HTTP.
    pub fn plain(listener: TcpListener, limits: ConnectionLimits) -> Self {
        Self {
            source: Source::Plain(listener),
            permits: Arc::new(Semaphore::new(limits.max_connections)),
        }
    }

    /// HTTPS: every connection completes a TLS handshake before the server sees it. The TCP
    /// listener closes once this value (and so the server) is done with it.
    pub fn tls(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        limits: ConnectionLimits,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(limits.max_connections));
        let (ready, source) = mpsc::channel(READY_QUEUE);
        tokio::spawn(handshake_loop(
            listener,
            TlsAcceptor::from(config),
            permits.clone(),
            ready,
        ));
        Self {
            source: Source::Tls(source),
            permits,
        }
    }

    async fn accept(&mut self) -> Accepted {
        match &mut self.source {
            Source::Plain(listener) => {
                let permit = acquire(&self.permits).await;
                loop {
                    match listener.accept().await {
                        Ok((stream, peer)) => {
                            return Accepted {
                                io: Box::new(stream),
                                peer,
                                permit,
                            };
                        }
                        Err(e) => accept_failed(e).await,
                    }
                }
            }
            Source::Tls(ready) => match ready.recv().await {
                Some(accepted) => accepted,
                // The handshake loop ends only when this receiver is gone, so this is not reached;
                // should it be, no further connection comes.
                None => std::future::pending().await,
            },
        }
    }
}

async fn acquire(permits: &Arc<Semaphore>) -> OwnedSemaphorePermit {
    permits
        .clone()
        .acquire_owned()
        .await
        .expect("the connection pool is never closed")
}

/// Serves HTTP/1.1 on every connection from `incoming` until `shutdown` completes, then lets the
/// open connections finish their requests (the caller bounds how long).
pub async fn serve(
    mut incoming: Incoming,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> GracefulShutdown {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.header_read_timeout(None)
        .max_header_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = incoming.accept() => accepted,
            () = &mut shutdown => break,
        };
        let peer = accepted.peer;
        let router = router.clone();
        let activity = Arc::new(Activity::default());
        let requests = activity.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<IncomingBody>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let in_flight = requests.begin();
            let answer = router.clone().oneshot(req.map(Body::new));
            async move {
                let answer = answer.await;
                drop(in_flight);
                answer
            }
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(accepted.io), service));
        let permit = accepted.permit;
        let timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            tokio::pin!(connection);
            let mut watchdog =
                tokio::time::interval_at(tokio::time::Instant::now() + timeout, timeout);
            let mut finished_before = 0;
            loop {
                tokio::select! {
                    ended = &mut connection => {
                        if let Err(e) = ended {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        break;
                    }
                    _ = watchdog.tick() => {
                        let (started, finished) = activity.counts();
                        if started == finished && finished == finished_before {
                            tracing::debug!(%peer, "closing a connection idle for the header timeout");
                            break;
                        }
                        finished_before = finished;
                    }
                }
            }
            drop(permit);
        });
    }
    graceful
}

/// Requests begun and finished on one connection.
#[derive(Default)]
struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
}

/// Counts a request as finished when dropped, however its handling ends.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::Release);
    }
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.started.fetch_add(1, Ordering::Release);
        InFlight(self.clone())
    }

    /// Finished is read before started, so a request that begins between the two reads shows
    /// as in flight rather than being missed.
    fn counts(&self) -> (u64, u64) {
        let finished = self.finished.load(Ordering::Acquire);
        (self.started.load(Ordering::Acquire), finished)
    }
}

async fn handshake_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    permits: Arc<Semaphore>,
    ready: mpsc::Sender<Accepted>,
) {
    loop {
        let permit = tokio::select! {
            _ = ready.closed() => return,
            permit = acquire(&permits) => permit,
        };
        let accepted = tokio::select! {
            _ = ready.closed() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_failed(e).await;
                continue;
            }
        };
        tokio::spawn(handshake(
            acceptor.clone(),
            stream,
            peer,
            permit,
            ready.clone(),
        ));
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    ready: mpsc::Sender<Accepted>,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            // Fails only when the server has stopped accepting; the connection is then dropped.
            let _ = ready
                .send(Accepted {
                    io: Box::new(tls),
                    peer,
                    permit,
                })
                .await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Errors of one connection (reset before accept) are nothing to wait for; others (out of file
/// descriptors) are logged and retried after a pause.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accepting a connection failed; retrying in a second");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
