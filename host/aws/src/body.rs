//! Reading a GetObject body into one buffer, never more than the limit for its kind.
//!
//! `ByteStream::collect` followed by `into_bytes().to_vec()` held the object twice (the
//! aggregated chunks, then the copy) and read whatever size S3 sent before the engine's size
//! check saw it: a 100 MiB object cost ~232 MB on every press.

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;

use crate::location::S3Uri;
use crate::object_store::FetchError;

/// Reads `body` into a buffer allocated once from `declared` (the `Content-Length`, already
/// checked against `max`). The limit is enforced again while reading: a length can be absent
/// (chunked encoding) or wrong.
pub(crate) async fn read_bounded(
    uri: &S3Uri,
    mut body: ByteStream,
    declared: Option<u64>,
    max: u64,
) -> Result<Vec<u8>, FetchError> {
    let transient = |reason: String| FetchError::Transient {
        uri: uri.to_string(),
        reason,
    };
    // `declared <= max`, and `max` fits in memory by construction; on a 32-bit target a length
    // past `usize` simply starts empty and the limit below still holds.
    let capacity = declared.and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    let mut bytes = Vec::with_capacity(capacity);
    loop {
        let chunk = match body.try_next().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            // A connection dropped mid-body is as transient as a 503.
            Err(e) => {
                return Err(transient(format!(
                    "reading the body failed after {} bytes: {}",
                    bytes.len(),
                    DisplayErrorContext(&e)
                )));
            }
        };
        let received = bytes.len() as u64 + chunk.len() as u64;
        if received > max {
            return Err(FetchError::TooLarge {
                uri: uri.to_string(),
                size: received,
                max,
            });
        }
        if let Some(declared) = declared
            && received > declared
        {
            return Err(transient(format!(
                "S3 sent more than the {declared} bytes its Content-Length announced"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    if let Some(declared) = declared
        && (bytes.len() as u64) < declared
    {
        return Err(transient(format!(
            "the body ended after {} of {declared} bytes",
            bytes.len()
        )));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri() -> S3Uri {
        S3Uri::parse("s3://guests/rule.wasm").unwrap()
    }

    fn read(body: &[u8], declared: Option<u64>, max: u64) -> Result<Vec<u8>, FetchError> {
        let stream = ByteStream::from(body.to_vec());
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_bounded(&uri(), stream, declared, max))
    }

    #[test]
    fn a_body_within_the_limit_is_read_into_one_buffer_of_its_length() {
        let bytes = read(b"\0asm body", Some(9), 9).unwrap();
        assert_eq!(bytes, b"\0asm body");
        assert_eq!(
            bytes.capacity(),
            9,
            "allocated once, at the declared length"
        );
        assert_eq!(read(b"\0asm body", None, 9).unwrap(), b"\0asm body");
    }

    #[test]
    fn a_body_over_the_limit_without_a_length_is_refused_while_reading() {
        let result = read(&[0; 10], None, 9);
        assert_eq!(
            result,
            Err(FetchError::TooLarge {
                uri: uri().to_string(),
                size: 10,
                max: 9
            })
        );
    }

    #[test]
    fn a_body_longer_or_shorter_than_its_length_is_transient() {
        let longer = read(&[0; 8], Some(4), 100);
        assert!(
            matches!(longer, Err(FetchError::Transient { .. })),
            "{longer:?}"
        );
        let shorter = read(&[0; 4], Some(8), 100);
        assert!(
            matches!(shorter, Err(FetchError::Transient { .. })),
            "{shorter:?}"
        );
    }
}
