//! Middleware: refuses request bodies over a size limit with 413, whether they announce their
//! length or arrive chunked. (poem's `SizeLimit` answers 411 to any request without
//! `Content-Length` and does not bound chunked bodies.)

use poem::{Endpoint, Middleware, Request, error::ReadBodyError, http::header};

use super::error::ApiError;

/// Bodies over `.0` bytes are refused; requests without a body (a plain GET) pass untouched.
pub struct BodyLimit(pub usize);

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            limit: self.0,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    limit: usize,
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> poem::Result<Self::Output> {
        let too_large = || ApiError::PayloadTooLarge { limit: self.limit };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            // hyper guarantees the body is exactly this long.
            Some(length) if length > self.limit as u64 => return Err(too_large().into()),
            Some(_) => {}
            None if req.headers().contains_key(header::TRANSFER_ENCODING) => {
                // Chunked: read at most `limit` bytes, then hand the buffered body on.
                let bytes =
                    req.take_body().into_bytes_limit(self.limit).await.map_err(
                        |err| match err {
                            ReadBodyError::PayloadTooLarge => too_large(),
                            other => ApiError::MalformedJson(other.to_string()),
                        },
                    )?;
                req.set_body(bytes);
            }
            None => {}
        }
        self.inner.call(req).await
    }
}
