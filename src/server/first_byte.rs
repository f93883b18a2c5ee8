//! A deadline for a connection's first byte.
//!
//! hyper's `header_read_timeout` only starts once the HTTP/1 parser runs, and hyper-util's
//! auto (h1/h2) builder first reads enough bytes to tell the protocols apart, with no timeout:
//! a client that connects and sends nothing would hold its connection (and a slot under the
//! connection cap) forever. This wrapper fails the first read with `TimedOut` when nothing
//! arrives in time; after the first byte it is a plain pass-through and hyper's own timeouts
//! take over.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

pub(crate) struct FirstByteDeadline<T> {
    inner: T,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<T> FirstByteDeadline<T> {
    pub(crate) fn new(inner: T, timeout: Duration) -> Self {
        FirstByteDeadline { inner, deadline: Some(Box::pin(tokio::time::sleep(timeout))) }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(res) => {
                if res.is_err() || buf.filled().len() > before {
                    this.deadline = None;
                }
                Poll::Ready(res)
            }
            Poll::Pending => {
                let expired = this.deadline.as_mut().is_some_and(|d| d.as_mut().poll(cx).is_ready());
                if expired {
                    this.deadline = None;
                    let msg = "no request within the header-read timeout";
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, msg)));
                }
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn silent_peer_times_out() {
        let (a, _b) = tokio::io::duplex(64);
        let mut r = FirstByteDeadline::new(a, Duration::from_secs(30));
        let mut buf = [0u8; 8];
        let err = r.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn after_the_first_byte_no_deadline() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut r = FirstByteDeadline::new(a, Duration::from_secs(30));
        b.write_all(b"G").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).await.unwrap(), 1);
        let late = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(120)).await;
            b.write_all(b"ET").await.unwrap();
            b
        });
        assert_eq!(r.read(&mut buf).await.unwrap(), 2);
        drop(late.await.unwrap());
    }
}
