//! The one listener: plain TCP, or TLS over it. TLS handshakes run in tasks of their own, so a
//! client that connects and stalls holds up nobody else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

/// A client that has not finished its TLS handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// A connection's byte stream, whichever the transport.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

type Accepted = (Box<dyn Connection>, SocketAddr);

/// The peer's address, as request handlers see it (`ConnectInfo<ClientAddr>`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, Incoming>> for ClientAddr {
    fn connect_info(stream: IncomingStream<'_, Incoming>) -> Self {
        Self(*stream.remote_addr())
    }
}

/// Connections for `axum::serve`.
pub struct Incoming {
    local: SocketAddr,
    source: Source,
}

enum Source {
    Plain(TcpListener),
    Tls(mpsc::Receiver<Accepted>),
}

impl Incoming {
    /// Plain HTTP.
    pub fn plain(listener: TcpListener) -> std::io::Result<Self> {
        Ok(Self {
            local: listener.local_addr()?,
            source: Source::Plain(listener),
        })
    }

    /// HTTPS: every connection completes a TLS handshake before the server sees it. The TCP
    /// listener closes once this value (and so the server) is done with it.
    pub fn tls(listener: TcpListener, config: Arc<rustls::ServerConfig>) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (ready, source) = mpsc::channel(READY_QUEUE);
        tokio::spawn(handshake_loop(listener, TlsAcceptor::from(config), ready));
        Ok(Self {
            local,
            source: Source::Tls(source),
        })
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Box<dyn Connection>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> Accepted {
        match &mut self.source {
            Source::Plain(listener) => loop {
                match TcpListener::accept(listener).await {
                    Ok((stream, peer)) => return (Box::new(stream), peer),
                    Err(e) => accept_failed(e).await,
                }
            },
            Source::Tls(ready) => match ready.recv().await {
                Some(accepted) => accepted,
                // The handshake loop ends only when this receiver is gone, so this is not reached;
                // should it be, no further connection comes.
                None => std::future::pending().await,
            },
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn handshake_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<Accepted>,
) {
    loop {
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
        tokio::spawn(handshake(acceptor.clone(), stream, peer, ready.clone()));
    }
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    ready: mpsc::Sender<Accepted>,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => {
            // Fails only when the server has stopped accepting; the connection is then dropped.
            let _ = ready.send((Box::new(tls), peer)).await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
    }
}

/// Errors of one connection (reset before accept) are nothing to wait for; others (out of file
/// descriptors) are logged and retried after a pause, as axum does for its own listener.
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
