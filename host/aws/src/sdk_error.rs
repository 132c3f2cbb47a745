//! SDK failures in words a person can act on.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// The service's own error code and message with the HTTP status, or, for a call that never got
/// an answer (timeout, connection, TLS), the chain of causes. Not the SDK's `Debug` or
/// `DisplayErrorContext` of a service error: that prints the whole HTTP response (headers, body,
/// internals), kilobytes that change on every call.
pub fn sdk_error_text<E>(e: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            match (e.code(), e.message()) {
                (Some(code), Some(message)) => format!("{code}: {message} (HTTP {status})"),
                (Some(code), None) => format!("{code} (HTTP {status})"),
                (None, Some(message)) => format!("{message} (HTTP {status})"),
                (None, None) => format!("HTTP {status} with no error code or message"),
            }
        }
        _ => DisplayErrorContext(e).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::config::http::HttpResponse;
    use aws_sdk_s3::error::ErrorMetadata;
    use aws_sdk_s3::operation::get_object::GetObjectError;
    use aws_sdk_s3::primitives::SdkBody;

    use super::*;

    fn service_error(status: u16, meta: ErrorMetadata) -> SdkError<GetObjectError> {
        let raw = HttpResponse::new(status.try_into().unwrap(), SdkBody::from("<xml/>"));
        SdkError::service_error(GetObjectError::generic(meta), raw)
    }

    #[test]
    fn service_errors_are_code_message_and_status() {
        let meta = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("Access Denied")
            .build();
        assert_eq!(
            sdk_error_text(&service_error(403, meta)),
            "AccessDenied: Access Denied (HTTP 403)"
        );
        assert_eq!(
            sdk_error_text(&service_error(405, ErrorMetadata::builder().build())),
            "HTTP 405 with no error code or message"
        );
    }
}
