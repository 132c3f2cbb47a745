//! Conditional reads of one S3 object: the only S3 call the press path makes. A trait, so the
//! hot-swap logic can be tested with a fake store as well as against an emulator.

use std::future::Future;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::location::S3Uri;
use crate::sdk_error::sdk_error_text;

/// What a conditional GET returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// `304 Not Modified`: the object still has the ETag that was sent.
    NotModified,
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
    /// One GET of `uri`; [`Fetched::NotModified`] only when `if_none_match` still matches.
    fn get_object(
        &self,
        uri: &S3Uri,
        if_none_match: Option<&str>,
    ) -> impl Future<Output = Result<Fetched, FetchError>> + Send;
}

impl ObjectStore for aws_sdk_s3::Client {
    async fn get_object(
        &self,
        uri: &S3Uri,
        if_none_match: Option<&str>,
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
        let etag = output.e_tag().map(str::to_string);
        let version_id = output.version_id().map(str::to_string);
        // A connection dropped mid-body is as transient as a 503.
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| FetchError::Transient {
                uri: uri.to_string(),
                reason: format!("reading the body failed: {}", DisplayErrorContext(&e)),
            })?
            .into_bytes()
            .to_vec();
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
        304 => Ok(Fetched::NotModified),
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
