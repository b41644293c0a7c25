//! Closing a connection without answering: what a fault rule's `{"network":"close"}` and
//! `{"commit_then":"close"}` actions need (`/_b24/faults`).
//!
//! Each accepted TCP stream is wrapped by [`CutAcceptor`], which also puts a [`Cut`] handle for
//! that connection into every request's extensions. A handler that calls [`Cut::cut`] still
//! returns a response, but from then on the stream refuses every write and read: hyper's attempt
//! to send the answer fails before a byte reaches the socket, hyper drops the connection, and
//! the socket is closed. The client sees the connection end with no status line. Under TLS the
//! wrapper sits below the TLS layer, so not even a TLS record goes out.

use axum::http::Request;
use axum_server::accept::Accept;
use std::future::{ready, Ready};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The handle that closes one connection without an answer.
#[derive(Debug, Clone, Default)]
pub struct Cut(Arc<AtomicBool>);

impl Cut {
    /// Nothing more is written to or read from the connection; it closes once hyper gives it up
    /// (right after the handler returns, when it tries to write the answer).
    pub fn cut(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn is_cut(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Wraps each accepted stream in a [`CutStream`] and gives its requests the [`Cut`] handle.
#[derive(Debug, Clone, Copy, Default)]
pub struct CutAcceptor;

impl<S> Accept<TcpStream, S> for CutAcceptor {
    type Stream = CutStream<TcpStream>;
    type Service = CutService<S>;
    type Future = Ready<io::Result<(Self::Stream, Self::Service)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let cut = Cut::default();
        ready(Ok((
            CutStream {
                inner: stream,
                cut: cut.clone(),
            },
            CutService {
                inner: service,
                cut,
            },
        )))
    }
}

/// A connection's stream that fails every operation once its [`Cut`] is used.
#[derive(Debug)]
pub struct CutStream<T> {
    inner: T,
    cut: Cut,
}

fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "closed without an answer by a fault rule",
    )
}

impl<T: AsyncRead + Unpin> AsyncRead for CutStream<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(gone()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for CutStream<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(gone()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(gone()));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(gone()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.cut.is_cut() {
            return Poll::Ready(Err(gone()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A connection's service: the inner one, with the connection's [`Cut`] in every request.
#[derive(Debug, Clone)]
pub struct CutService<S> {
    inner: S,
    cut: Cut,
}

impl<S, B> tower::Service<Request<B>> for CutService<S>
where
    S: tower::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.cut.clone());
        self.inner.call(request)
    }
}
