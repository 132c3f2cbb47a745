//! Why a signed artifact was not made or not loaded.

use crate::arch::Arch;
use crate::error::LoadError;

/// Why an artifact was not made or not loaded. Every variant but `Compile` and `Load` is
/// decided before a single byte of native code is deserialized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// Not an artifact, truncated, or a header that does not parse.
    #[error("not a clickrules artifact: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
    /// Signed by a key the host does not trust.
    #[error("the artifact is signed by key {key_id}, which is not among the trusted keys")]
    UnknownKey {
        /// The key id the artifact names.
        key_id: String,
    },
    /// The signature does not verify: the artifact was altered or signed by someone else.
    #[error("the artifact's signature does not verify against trusted key {key_id}")]
    BadSignature {
        /// The key id the artifact names.
        key_id: String,
    },
    /// The native code in the artifact is not what the signed header describes.
    #[error(
        "the artifact's native code does not match its signed hash (BLAKE3 {actual}, signed {signed})"
    )]
    Corrupt {
        /// BLAKE3 in the signed header.
        signed: String,
        /// BLAKE3 of the bytes present.
        actual: String,
    },
    /// Compiled for another CPU.
    #[error("the artifact is compiled for {artifact}; this host is {host}")]
    WrongArch {
        /// The artifact's architecture.
        artifact: String,
        /// This host's.
        host: String,
    },
    /// Compiled by another wasmtime version or with other settings.
    #[error(
        "the artifact was compiled for engine {artifact}, this host runs engine {host} (another \
         clickrules or wasmtime version); precompile it again with this version"
    )]
    WrongEngine {
        /// The artifact's engine compatibility hash.
        artifact: String,
        /// This host's.
        host: String,
    },
    /// Signed for a guest at another location (an artifact copied from elsewhere).
    #[error("the artifact was signed for the guest at {artifact}, not {expected}")]
    WrongLocation {
        /// The location in the signed header.
        artifact: String,
        /// Where this guest is loaded from.
        expected: String,
    },
    /// Older than an artifact this host already loaded for the same location: an old guest put
    /// back. A deliberate rollback re-signs the old guest, which gives it a new sequence.
    #[error(
        "the artifact for {location} has sequence {sequence}, older than {newest} already loaded \
         here: an older guest was put back; roll back with `clickrules rollback` (it re-signs)"
    )]
    Replayed {
        /// The guest's location.
        location: String,
        /// The artifact's sequence.
        sequence: u64,
        /// The newest sequence loaded for that location.
        newest: u64,
    },
    /// Compiled from other source bytes than the guest it is presented for.
    #[error("the artifact was compiled from guest sha256 {artifact}, not {expected}")]
    WrongSource {
        /// The source SHA-256 in the artifact.
        artifact: String,
        /// The guest's SHA-256.
        expected: String,
    },
    /// This host's platform runs no Lambda architecture.
    #[error("signed artifacts are made for Lambda (Linux on arm64 or x86_64); this host is not")]
    UnsupportedHost,
    /// Compiling for the target failed.
    #[error("could not precompile the guest for {arch}: {message}")]
    Compile {
        /// The target.
        arch: Arch,
        /// wasmtime's explanation.
        message: String,
    },
    /// The guest bytes or the verified artifact cannot be run.
    #[error(transparent)]
    Load(#[from] LoadError),
}

impl ArtifactError {
    /// A stable name for the variant, for records and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ArtifactError::Malformed { .. } => "malformed",
            ArtifactError::UnknownKey { .. } => "unknown_key",
            ArtifactError::BadSignature { .. } => "bad_signature",
            ArtifactError::Corrupt { .. } => "corrupt",
            ArtifactError::WrongArch { .. } => "wrong_arch",
            ArtifactError::WrongEngine { .. } => "wrong_engine",
            ArtifactError::WrongSource { .. } => "wrong_source",
            ArtifactError::WrongLocation { .. } => "wrong_location",
            ArtifactError::Replayed { .. } => "replayed",
            ArtifactError::UnsupportedHost => "unsupported_host",
            ArtifactError::Compile { .. } => "compile",
            ArtifactError::Load(_) => "load",
        }
    }
}
