//! What every answer body goes through before anyone decodes it: a size cap, so a huge or
//! endless answer cannot exhaust memory, and the removal of a leading UTF-8 byte order mark,
//! which some gateways and services put before JSON and text (serde_json and an integer
//! parser both refuse it, and one BOM must not cost a page or a count).

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The answer was larger than the cap (found among a body error's sources).
#[derive(Debug)]
pub(crate) struct BodyLimitExceeded(pub(crate) usize);

impl fmt::Display for BodyLimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the answer exceeded {} bytes", self.0)
    }
}

impl std::error::Error for BodyLimitExceeded {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `inner` with at most `limit` bytes and without a leading BOM.
pub(crate) struct Guarded<B> {
    inner: B,
    limit: usize,
    read: usize,
    /// The first bytes, held until there are enough to tell whether they are a BOM; `None`
    /// once that is decided.
    head: Option<BytesMut>,
}

impl<B> Guarded<B> {
    pub(crate) fn new(inner: B, limit: usize) -> Self {
        Self {
            inner,
            limit,
            read: 0,
            head: Some(BytesMut::new()),
        }
    }

    /// The held head without its BOM, once it can be decided (or the body ended).
    fn release_head(&mut self, ended: bool) -> Option<Bytes> {
        let head = self.head.as_mut()?;
        let decided = head.len() >= BOM.len() || !BOM.starts_with(head) || ended;
        if !decided {
            return None;
        }
        let mut head = self.head.take()?.freeze();
        if head.starts_with(BOM) {
            head.advance(BOM.len());
        }
        Some(head)
    }
}

impl<B> Body for Guarded<B>
where
    B: Body + Unpin,
    B::Data: Into<Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            let frame = match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => {
                    return Poll::Ready(
                        this.release_head(true)
                            .filter(|head| !head.is_empty())
                            .map(|head| Ok(Frame::data(head))),
                    );
                }
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error.into()))),
                Poll::Ready(Some(Ok(frame))) => frame,
            };
            let data = match frame.into_data() {
                Ok(data) => data.into(),
                Err(trailers) => {
                    let trailers = trailers.into_trailers().unwrap_or_default();
                    return Poll::Ready(Some(Ok(Frame::trailers(trailers))));
                }
            };
            this.read = this.read.saturating_add(data.len());
            if this.read > this.limit {
                return Poll::Ready(Some(Err(Box::new(BodyLimitExceeded(this.limit)))));
            }
            let data = match &mut this.head {
                None => data,
                // The common case, a first frame long enough to tell: decided in place,
                // without copying the frame.
                Some(head)
                    if head.is_empty() && (data.len() >= BOM.len() || !BOM.starts_with(&data)) =>
                {
                    this.head = None;
                    let mut data = data;
                    if data.starts_with(BOM) {
                        data.advance(BOM.len());
                    }
                    data
                }
                Some(head) => {
                    head.extend_from_slice(&data);
                    match this.release_head(false) {
                        Some(released) => released,
                        // Too few bytes yet to tell (a one-byte frame, say): read on.
                        None => continue,
                    }
                }
            };
            if !data.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream() && self.head.as_ref().is_none_or(|head| head.is_empty())
    }

    fn size_hint(&self) -> SizeHint {
        // A stripped BOM makes the body shorter than announced: promise no exact length.
        let mut hint = SizeHint::new();
        if let Some(upper) = self.inner.size_hint().upper() {
            hint.set_upper(upper);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that yields the given chunks one frame each.
    struct Chunks(std::collections::VecDeque<&'static [u8]>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|chunk| Ok(Frame::data(Bytes::from_static(chunk)))),
            )
        }
    }

    async fn collect(chunks: &[&'static [u8]], limit: usize) -> Result<Vec<u8>, BoxError> {
        let body = Guarded::new(Chunks(chunks.iter().copied().collect()), limit);
        Ok(body.collect().await?.to_bytes().to_vec())
    }

    #[tokio::test]
    async fn a_leading_bom_is_dropped_however_it_is_split() {
        assert_eq!(collect(&[b"\xEF\xBB\xBF42"], 100).await.unwrap(), b"42");
        assert_eq!(
            collect(&[b"\xEF", b"\xBB", b"\xBF", b"{}"], 100)
                .await
                .unwrap(),
            b"{}"
        );
        assert_eq!(collect(&[b"\xEF\xBB", b"\xBF"], 100).await.unwrap(), b"");
        assert_eq!(
            collect(&[b"\xEF\xBB"], 100).await.unwrap(),
            b"\xEF\xBB",
            "not a whole BOM"
        );
        assert_eq!(collect(&[b"4", b"2"], 100).await.unwrap(), b"42");
        assert_eq!(
            collect(&[b"{}\xEF\xBB\xBF"], 100).await.unwrap(),
            b"{}\xEF\xBB\xBF",
            "only a leading one"
        );
        assert_eq!(collect(&[], 100).await.unwrap(), b"");
    }

    #[tokio::test]
    async fn bodies_past_the_cap_fail_with_the_cap() {
        assert_eq!(collect(&[b"12345"], 5).await.unwrap(), b"12345");
        let error = collect(&[b"123", b"456"], 5).await.unwrap_err();
        assert!(
            error
                .downcast_ref::<BodyLimitExceeded>()
                .is_some_and(|e| e.0 == 5)
        );
    }
}
