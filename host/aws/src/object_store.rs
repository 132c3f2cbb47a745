//! Conditional reads of one S3 object: the only S3 call the press path makes. A trait, so the
//! hot-swap logic can be tested with a fake store as well as against an emulator.

use std::future::Future;

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

use crate::body::read_bounded;
use crate::location::S3Uri;
use crate::sdk_error::sdk_error_text;

/// The most of a guest's `.wasm` read from S3: the engine's own limit, so an object the engine
/// would refuse is refused before its body is downloaded.
pub const MAX_GUEST_OBJECT_BYTES: u64 = clickrules_engine::MAX_GUEST_BYTES as u64;

/// The most of a signed artifact (`.cwasm`) read from S3: 256 MiB. An artifact is the guest's
/// native code, 3-4x its `.wasm` for the interpreter guests measured (JavaScript 11.5 MiB →
/// 41.3 MiB, Python 17.4 MiB → 37.7 MiB; `BENCHMARKS.md`), so a guest near the engine's 64 MiB
/// `.wasm` limit may have an artifact of ~230 MiB. Anything larger is not one of ours.
pub const MAX_ARTIFACT_BYTES: u64 = 256 << 20;

/// What a conditional GET returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// `304 Not Modified`: the object still has the ETag that was sent.
    NotModified {
        /// The version id S3 named in the 304 (`x-amz-version-id`), in a versioned bucket.
        /// Re-uploading the same bytes makes a new version with the same ETag, so this can
        /// differ from the version last downloaded.
        version_id: Option<String>,
    },
    /// The object (new, or fetched unconditionally).
    Object(S3Object),
}

/// The bytes of an object and the identity S3 gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// The object's content.
    pub bytes: Vec<u8>,
    /// Its ETag, quotes included, exactly as S3 sent it (and as `If-None-Match` wants it back).
    pub etag: Option<String>,
    /// Its version id, when the bucket is versioned.
    pub version_id: Option<String>,
}

/// Why an object could not be read. Only [`FetchError::Transient`] may be outlasted by running
/// the guest already cached; the others mean the configured guest is not there to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// No such bucket or key.
    #[error("the guest {uri} does not exist ({code})")]
    NotFound {
        /// The object.
        uri: String,
        /// S3's error code, e.g. `NoSuchKey` or `NoSuchBucket`.
        code: String,
    },
    /// The function's role may not read the object.
    #[error("access to the guest {uri} was denied; allow s3:GetObject on it: {message}")]
    AccessDenied {
        /// The object.
        uri: String,
        /// S3's explanation.
        message: String,
    },
    /// A 5xx, throttling, a timeout or a broken connection: retrying may succeed.
    #[error("S3 could not serve the guest {uri} right now: {reason}")]
    Transient {
        /// The object.
        uri: String,
        /// What went wrong.
        reason: String,
    },
    /// Larger than objects of its kind may be: refused from its `Content-Length` before the
    /// body is read, or while reading when S3 sent none.
    #[error(
        "the object {uri} is too large: {size} bytes or more, and at most {max} are read for it"
    )]
    TooLarge {
        /// The object.
        uri: String,
        /// Its `Content-Length`, or the bytes that had arrived when the limit was passed.
        size: u64,
        /// The limit for its kind ([`MAX_GUEST_OBJECT_BYTES`] or [`MAX_ARTIFACT_BYTES`]).
        max: u64,
    },
    /// Any other refusal (a bad request, a redirect to another region, ...).
    #[error("S3 refused the request for the guest {uri} (HTTP {status}): {message}")]
    Rejected {
        /// The object.
        uri: String,
        /// HTTP status, 0 when the request never reached S3.
        status: u16,
        /// S3's or the SDK's explanation.
        message: String,
    },
}

/// Reads an object, sending `If-None-Match` when an ETag is given.
pub trait ObjectStore: Send + Sync {
    /// One GET of `uri`; [`Fetched::NotModified`] only when `if_none_match` still matches. An
    /// object of more than `max_bytes` is [`FetchError::TooLarge`], found out before its body
    /// is read whenever S3 says its length.
    fn get_object(
        &self,
        uri: &S3Uri,
        if_none_match: Option<&str>,
        max_bytes: u64,
    ) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}

impl ObjectStore for aws_sdk_s3::Client {
    async fn get_object(
        &self,
        uri: &S3Uri,
        if_none_match: Option<&str>,
        max_bytes: u64,
    ) -> Result<Fetched, FetchError> {
        let response = self
            .get_object()
            .bucket(&uri.bucket)
            .key(&uri.key)
            .set_if_none_match(if_none_match.map(str::to_string))
            .send()
            .await;
        let output = match response {
            Ok(output) => output,
            Err(e) => return classify(uri, &e),
        };
        // A negative length is no length: the read below still enforces the limit.
        let declared = output.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = declared
            && size > max_bytes
        {
            // Dropping the response closes the connection with the body unread.
            return Err(FetchError::TooLarge {
                uri: uri.to_string(),
                size,
                max: max_bytes,
            });
        }
        let etag = output.e_tag().map(str::to_string);
        let version_id = output.version_id().map(str::to_string);
        let bytes = read_bounded(uri, output.body, declared, max_bytes).await?;
        Ok(Fetched::Object(S3Object {
            bytes,
            etag,
            version_id,
        }))
    }
}

/// Sorts an SDK failure into what the caller may do about it. The SDK reports a 304 as an
/// error (it is not a 2xx), so that is recognised here too.
fn classify<E>(uri: &S3Uri, e: &SdkError<E>) -> Result<Fetched, FetchError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let uri = uri.to_string();
    let SdkError::ServiceError(context) = e else {
        let message = sdk_error_text(e);
        return match e {
            SdkError::ConstructionFailure(_) => Err(FetchError::Rejected {
                uri,
                status: 0,
                message,
            }),
            // Timeouts, connection failures, unparseable responses.
            _ => Err(FetchError::Transient {
                uri,
                reason: message,
            }),
        };
    };
    let status = context.raw().status().as_u16();
    let code = e.code().unwrap_or_default().to_string();
    // Built only when needed: a 304 is the common case on a warm press.
    let message = || sdk_error_text(e);
    match status {
        // The version id is the one thing a 304 can tell that the request did not know.
        304 => Ok(Fetched::NotModified {
            version_id: context
                .raw()
                .headers()
                .get("x-amz-version-id")
                .map(str::to_string),
        }),
        404 => Err(FetchError::NotFound {
            uri,
            code: if code.is_empty() {
                "NotFound".into()
            } else {
                code
            },
        }),
        403 => Err(FetchError::AccessDenied {
            uri,
            message: message(),
        }),
        429 | 500..=599 => Err(FetchError::Transient {
            uri,
            reason: message(),
        }),
        _ if code == "SlowDown" || code == "RequestTimeout" => Err(FetchError::Transient {
            uri,
            reason: message(),
        }),
        _ => Err(FetchError::Rejected {
            uri,
            status,
            message: message(),
        }),
    }
}
