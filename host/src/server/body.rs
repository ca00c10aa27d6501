//! Reads a request body whole, up to the configured limit: a body that
//! declares more is refused before a byte of it is read (and before a
//! `100 Continue` invites it); one that streams more is cut where it passes.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use bytes::Bytes;
use http_body::Body as _;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::error::ApiError;

/// A sender that has not finished its body by then is not coming back.
const BODY_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    read_within(body, limit)
        .await
        // The rest of the body is never read, so the connection cannot carry
        // another request: say so, or a client may send its next one on it
        // and see the connection close under it.
        .map_err(|e| match e.status {
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::REQUEST_TIMEOUT => {
                e.with_header(header::CONNECTION, HeaderValue::from_static("close"))
            }
            _ => e,
        })
}

async fn read_within(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    // hyper's size hint is the declared `Content-Length`.
    let declared = body.size_hint().lower();
    if declared > limit as u64 {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body of {declared} bytes exceeds the {limit}-byte limit"),
        ));
    }
    let read = tokio::time::timeout(BODY_TIMEOUT, Limited::new(body, limit).collect()).await;
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Err(_) => Err(ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("body not received within {} s", BODY_TIMEOUT.as_secs()),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("body exceeds the {limit}-byte limit"),
        )),
        Ok(Err(e)) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("could not read the body: {e}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use http_body::Frame;

    use super::*;

    /// A chunked body: no declared length.
    struct Chunks(usize);

    impl http_body::Body for Chunks {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
            if self.0 == 0 {
                return Poll::Ready(None);
            }
            self.0 -= 1;
            Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&[7; 100])))))
        }
    }

    fn status(read: Result<Bytes, ApiError>) -> Option<StatusCode> {
        read.err().map(|e| e.status)
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413_declared_or_streamed() {
        let declared = read_limited(Body::from(vec![0u8; 1001]), 1000).await;
        assert_eq!(status(declared), Some(StatusCode::PAYLOAD_TOO_LARGE));
        let streamed = read_limited(Body::new(Chunks(11)), 1000).await;
        assert_eq!(status(streamed), Some(StatusCode::PAYLOAD_TOO_LARGE));
        let fits = read_limited(Body::new(Chunks(10)), 1000).await;
        assert_eq!(fits.map(|b| b.len()).ok(), Some(1000));
    }

    #[tokio::test]
    async fn a_refused_body_closes_the_connection() {
        let refused = read_limited(Body::from(vec![0u8; 1001]), 1000).await;
        let headers = refused.err().map(|e| e.headers).unwrap_or_default();
        assert!(
            headers
                .iter()
                .any(|(name, value)| name == header::CONNECTION && value == "close"),
            "{headers:?}"
        );
    }
}
