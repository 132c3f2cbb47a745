//! Why a request is refused: one variant per check, each with its HTTP status and a stable kind.
//!
//! The `Display` text is for the record and the log and may be precise; what the sender sees
//! is [`WebhookError::public_message`], which says nothing about why authentication failed.

use crate::secrets::SecretError;

/// Why a request was not turned into a press.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The raw event is not a Lambda Function URL request (payload format 2.0).
    #[error("event is not a Lambda Function URL request (payload format 2.0): {message}")]
    NotAFunctionUrlEvent {
        /// What was wrong with it.
        message: String,
    },
    /// The source exists but this deployment has not enabled it.
    #[error("the {origin} source is not enabled in this deployment")]
    SourceDisabled {
        /// `flic` or `webhook`.
        origin: &'static str,
    },
    /// Not a `POST`.
    #[error("method {method} is not allowed; a button press is a POST")]
    MethodNotAllowed {
        /// The method used, quoted and cut short.
        method: String,
    },
    /// The body is not declared as JSON, or is compressed.
    #[error("{header} {found} is not supported; send an uncompressed application/json body")]
    UnsupportedMediaType {
        /// `content-type` or `content-encoding`.
        header: &'static str,
        /// The value sent, quoted and cut short, or `(none)`.
        found: String,
    },
    /// The body, decoded, is over the limit.
    #[error("the body is {size} bytes or more, over the limit of {limit} bytes")]
    BodyTooLarge {
        /// How many bytes it has (at least; a base64 body is refused before decoding).
        size: usize,
        /// [`crate::MAX_BODY_BYTES`].
        limit: usize,
    },
    /// No body, or an empty one.
    #[error("the request has no body; a {origin} press is a JSON object")]
    MissingBody {
        /// The source the path names, or `button` at `/`.
        origin: &'static str,
    },
    /// `isBase64Encoded` is set but the body is not base64.
    #[error("the body is marked base64-encoded but is not valid base64: {message}")]
    BadBase64 {
        /// The decoder's explanation.
        message: String,
    },
    /// Not JSON, JSON with a key twice, or not the object the source expects.
    #[error("the {origin} body is not valid: {message}")]
    BadJson {
        /// The source the path names, or `button` at `/` (where the body decides).
        origin: &'static str,
        /// The parser's explanation, or what shape was expected.
        message: String,
    },
    /// A required field of the body is absent.
    #[error("the {origin} body is missing {field}")]
    MissingField {
        /// `flic` or `webhook`.
        origin: &'static str,
        /// The field's name.
        field: &'static str,
    },
    /// A field of the body, or a claim of an authentic token, is present but unusable.
    #[error("the {origin} {field} is {value}; expected {expected}")]
    InvalidField {
        /// `flic` or `webhook`.
        origin: &'static str,
        /// The field or claim.
        field: &'static str,
        /// The value found, quoted and cut short.
        value: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A click type the source does not document.
    #[error(
        "the {origin} click type {value} is not one this source documents; the accepted values are {accepted}"
    )]
    UnsupportedClick {
        /// `flic` or `webhook`.
        origin: &'static str,
        /// The value found, quoted and cut short.
        value: String,
        /// The accepted values, comma-separated.
        accepted: &'static str,
    },
    /// A header other than the authentication headers is unusable (`Idempotency-Key`).
    #[error("the header {name} is {value}; expected {expected}")]
    InvalidHeader {
        /// The header's name.
        name: &'static str,
        /// The value found, quoted and cut short.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// Authentication failed. The reason is for the record only; the response says nothing.
    #[error("the {origin} request is not authentic: {reason}")]
    Unauthorized {
        /// `flic` or `webhook`.
        origin: &'static str,
        /// Exactly what failed.
        reason: AuthFailure,
    },
    /// The secret or key could not be read.
    #[error("the {origin} secret could not be read: {error}")]
    Secret {
        /// `flic` or `webhook`.
        origin: &'static str,
        /// What the store said.
        error: SecretError,
    },
    /// The secret or key was read but is unusable: a deployment problem.
    #[error("the {origin} secret or key is unusable: {message}")]
    Misconfigured {
        /// `flic` or `webhook`.
        origin: &'static str,
        /// What is wrong with it (never its value).
        message: String,
    },
}

/// Exactly why a request is not authentic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthFailure {
    /// A required authentication header is absent.
    #[error("the {name} header is missing")]
    MissingHeader {
        /// Its name.
        name: &'static str,
    },
    /// An authentication header appears more than once.
    #[error("the {name} header appears more than once")]
    RepeatedHeader {
        /// Its name.
        name: &'static str,
    },
    /// The timestamp header is not whole Unix seconds.
    #[error("the timestamp {value} is not whole Unix seconds")]
    MalformedTimestamp {
        /// The value, quoted and cut short.
        value: String,
    },
    /// The signature header is not `sha256=` and 64 lowercase hex digits.
    #[error("the signature header is malformed: {why}")]
    MalformedSignature {
        /// What is wrong with it.
        why: &'static str,
    },
    /// The HMAC does not match: a wrong secret, or an altered body, timestamp or key.
    #[error(
        "the HMAC-SHA256 signature does not match (wrong secret, or the body, timestamp or idempotency key was altered)"
    )]
    SignatureMismatch,
    /// The signed timestamp is outside the replay window.
    #[error("the timestamp {timestamp} is {}s from now ({now_s}), outside the {tolerance_s}s window", timestamp.abs_diff(*now_s))]
    StaleTimestamp {
        /// The signed timestamp, Unix seconds.
        timestamp: u64,
        /// The host's clock, Unix seconds.
        now_s: u64,
        /// The window allowed either way.
        tolerance_s: u64,
    },
    /// The token is not a compact JWS with readable header.
    #[error("the token is malformed: {why}")]
    MalformedToken {
        /// What is wrong with it.
        why: String,
    },
    /// The token's header names an algorithm other than ES256 (`none`, `HS256`, ...).
    #[error("the token's algorithm {alg} is refused; only ES256 is accepted")]
    AlgorithmRefused {
        /// The `alg` found, quoted and cut short.
        alg: String,
    },
    /// The header lists critical extensions, none of which are understood.
    #[error("the token's header has critical extensions (crit), which are not supported")]
    CriticalHeader,
    /// An ES256 signature is 64 bytes (r || s).
    #[error("the token's signature is {len} bytes; an ES256 signature is 64")]
    BadSignatureLength {
        /// The decoded length.
        len: usize,
    },
    /// The signature does not verify: another key, or an altered token.
    #[error(
        "the token's ES256 signature does not verify against the key {key} (another key, or an altered token)"
    )]
    BadSignature {
        /// The key's fingerprint.
        key: String,
    },
    /// The token has no usable `exp`; without one it could be replayed forever.
    #[error("the token has no expiry (exp) as a NumericDate")]
    MissingExpiry,
    /// The token expired longer ago than the skew allows.
    #[error("the token expired at {exp} ({}s before now, {now_s}; {skew_s}s of skew allowed)", now_s.saturating_sub(*exp))]
    Expired {
        /// Its `exp`, Unix seconds.
        exp: u64,
        /// The host's clock, Unix seconds.
        now_s: u64,
        /// The skew allowed.
        skew_s: u64,
    },
    /// The token's `nbf` is later than now plus the skew.
    #[error("the token is not valid before {nbf} (now {now_s}; {skew_s}s of skew allowed)")]
    NotYetValid {
        /// Its `nbf`, Unix seconds.
        nbf: u64,
        /// The host's clock, Unix seconds.
        now_s: u64,
        /// The skew allowed.
        skew_s: u64,
    },
    /// An authentic token for a button this deployment does not serve: any Flic customer can
    /// have Flic sign tokens, so the signature alone says nothing about whose button it is.
    #[error("the button {button_uuid} is not in the allowed buttons")]
    UnknownButton {
        /// The token's `buttonUuid`, quoted and cut short.
        button_uuid: String,
    },
}

impl WebhookError {
    /// The HTTP status the request is answered with.
    pub fn status(&self) -> u16 {
        match self {
            WebhookError::SourceDisabled { .. } => 404,
            WebhookError::MethodNotAllowed { .. } => 405,
            WebhookError::UnsupportedMediaType { .. } => 415,
            WebhookError::BodyTooLarge { .. } => 413,
            WebhookError::Unauthorized { .. } => 401,
            WebhookError::Secret { error, .. } if error.is_retryable() => 503,
            WebhookError::Secret { .. } | WebhookError::Misconfigured { .. } => 500,
            WebhookError::NotAFunctionUrlEvent { .. }
            | WebhookError::MissingBody { .. }
            | WebhookError::BadBase64 { .. }
            | WebhookError::BadJson { .. }
            | WebhookError::MissingField { .. }
            | WebhookError::InvalidField { .. }
            | WebhookError::UnsupportedClick { .. }
            | WebhookError::InvalidHeader { .. } => 400,
        }
    }

    /// A stable snake_case name for records and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookError::NotAFunctionUrlEvent { .. } => "not_a_function_url_event",
            WebhookError::SourceDisabled { .. } => "source_disabled",
            WebhookError::MethodNotAllowed { .. } => "method_not_allowed",
            WebhookError::UnsupportedMediaType { .. } => "unsupported_media_type",
            WebhookError::BodyTooLarge { .. } => "body_too_large",
            WebhookError::MissingBody { .. }
            | WebhookError::BadBase64 { .. }
            | WebhookError::BadJson { .. }
            | WebhookError::MissingField { .. }
            | WebhookError::InvalidField { .. }
            | WebhookError::UnsupportedClick { .. }
            | WebhookError::InvalidHeader { .. } => "bad_request",
            WebhookError::Unauthorized { .. } => "unauthorized",
            WebhookError::Secret { .. } => "secret_unavailable",
            WebhookError::Misconfigured { .. } => "misconfigured",
        }
    }

    /// Whether the request failed authentication (answered 401 with no detail).
    pub fn is_auth_failure(&self) -> bool {
        matches!(self, WebhookError::Unauthorized { .. })
    }

    /// Whether the same request may succeed later (the secret store was unavailable).
    pub fn is_retryable(&self) -> bool {
        matches!(self, WebhookError::Secret { error, .. } if error.is_retryable())
    }

    /// What the sender is told. A request problem is explained, since the sender can fix it;
    /// an authentication failure is only `unauthorized`, so a forger learns nothing about
    /// which check failed; a server problem names no secret or key.
    pub fn public_message(&self) -> String {
        match self {
            WebhookError::Unauthorized { .. } => "unauthorized".to_string(),
            WebhookError::Secret { .. } if self.is_retryable() => {
                "temporarily unavailable, try again".to_string()
            }
            WebhookError::Secret { .. } | WebhookError::Misconfigured { .. } => {
                "the webhook is misconfigured".to_string()
            }
            other => other.to_string(),
        }
    }

    /// The Function URL response for this error: its status and public message.
    pub fn response(
        &self,
    ) -> aws_lambda_events::event::lambda_function_urls::LambdaFunctionUrlResponse {
        crate::response::response(self.status(), &self.public_message(), None)
    }
}

/// Longest excerpt of a sender-supplied value quoted back in an error.
const MAX_QUOTED: usize = 64;

/// A sender-supplied value for an error message: debug-quoted (so control characters are
/// escaped), cut to 64 bytes.
pub(crate) fn quote(raw: &str) -> String {
    let mut end = raw.len().min(MAX_QUOTED);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    if end < raw.len() {
        format!("{:?}...", &raw[..end])
    } else {
        format!("{raw:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_escapes_and_cuts_at_a_char_boundary() {
        assert_eq!(quote("a\u{7}"), "\"a\\u{7}\"");
        let long = "é".repeat(40);
        let quoted = quote(&long);
        assert!(quoted.ends_with("..."));
        assert!(quoted.len() < 80);
    }

    #[test]
    fn auth_failures_say_nothing_publicly() {
        let e = WebhookError::Unauthorized {
            origin: "webhook",
            reason: AuthFailure::SignatureMismatch,
        };
        assert_eq!(e.status(), 401);
        assert_eq!(e.kind(), "unauthorized");
        assert!(e.is_auth_failure());
        assert_eq!(e.public_message(), "unauthorized");
        assert!(e.to_string().contains("does not match"));
    }

    #[test]
    fn secret_errors_are_server_errors_and_name_no_reference_publicly() {
        let unavailable = WebhookError::Secret {
            origin: "webhook",
            error: SecretError::Unavailable {
                reference: "ssm:/hook".into(),
                message: "timeout".into(),
            },
        };
        assert_eq!(unavailable.status(), 503);
        assert!(unavailable.is_retryable());
        assert!(!unavailable.public_message().contains("ssm"));
        let missing = WebhookError::Secret {
            origin: "webhook",
            error: SecretError::NotFound {
                reference: "ssm:/hook".into(),
            },
        };
        assert_eq!(missing.status(), 500);
        assert_eq!(missing.kind(), "secret_unavailable");
        assert!(!missing.is_retryable());
        assert!(!missing.public_message().contains("ssm"));
    }
}
