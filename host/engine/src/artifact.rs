//! Signed precompiled guests. Compiling a 10–20 MB interpreter guest takes seconds and hundreds
//! of MB, too much for a small Lambda's cold start; loading native code compiled ahead of time
//! takes a millisecond, but deserializing native code is `unsafe`: tampered bytes would run
//! with the Lambda's role. So an artifact is only ever deserialized after its Ed25519
//! signature verifies against a trusted key and its signed header matches this host's
//! architecture, this engine's compilation settings and the guest's source bytes.
//!
//! Layout of an artifact file (`<guest>.<arch>.cwasm`):
//!
//! ```text
//! MAGIC (16 bytes) | header length (u32 LE) | header (JSON) | signature (64 bytes) | native code
//! ```
//!
//! The signature covers magic, length and header; the header carries the BLAKE3 hash and size
//! of the native code, so every byte is covered. BLAKE3 rather than SHA-256 because the native
//! code of an interpreter guest is ~40 MB and hashing it is on the cold-start path: ~26 ms with
//! SHA-256 on this machine, a few ms with BLAKE3.

use std::hash::{Hash, Hasher};

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifact_error::ArtifactError;
use crate::keys::{ArtifactSigner, TrustedKeys};

const MAGIC: &[u8; 16] = b"clickrules-cwasm";
/// 2: the header binds the guest's location and a signing sequence (format 1 did not, so an
/// old artifact put back beside an old `.wasm` ran old code).
const FORMAT: u32 = 2;
/// Headers are a few hundred bytes; anything longer is not ours.
const MAX_HEADER_BYTES: usize = 4096;
const SIGNATURE_BYTES: usize = 64;

/// What an artifact says about itself; all of it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactHeader {
    /// Layout version.
    pub format: u32,
    /// Target architecture ([`Arch::as_str`](crate::Arch::as_str)).
    pub arch: String,
    /// Engine compatibility hash: wasmtime version, target, compiler flags and the settings
    /// that shape generated code.
    pub engine: String,
    /// SHA-256 of the `.wasm` it was compiled from.
    pub source_sha256: String,
    /// Size of that `.wasm`.
    pub source_size: u64,
    /// Where the guest is deployed (`s3://bucket/key`, or a path), as the host names it.
    pub location: String,
    /// Signing sequence: milliseconds since the Unix epoch when signed. A host refuses an
    /// artifact older than one it already loaded for the same location.
    pub sequence: u64,
    /// BLAKE3 hash of the native code that follows the signature.
    pub native_blake3: String,
    /// Its size.
    pub native_size: u64,
    /// Which key signed it ([`crate::PublicKey::key_id`]).
    pub key_id: String,
}

/// What an artifact is signed for: where the guest is deployed and when it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactBinding {
    /// The guest's location, exactly as the deployment names it (`CLICKRULES_GUEST`).
    pub location: String,
    /// The signing sequence; [`ArtifactBinding::now`] uses the current time in milliseconds.
    pub sequence: u64,
}

impl ArtifactBinding {
    /// A binding to `location`, sequenced by the current time.
    pub fn now(location: impl Into<String>) -> Self {
        let sequence = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Self {
            location: location.into(),
            sequence,
        }
    }
}

/// What the host expects of an artifact it loads for a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArtifactExpectation<'a> {
    /// SHA-256 of the guest's `.wasm`, lowercase hex.
    pub source_sha256: &'a str,
    /// Where the guest is loaded from, as the deployment names it.
    pub location: &'a str,
}

/// Builds the signed file around `native`.
pub(crate) fn seal(mut header: ArtifactHeader, native: &[u8], signer: &ArtifactSigner) -> Vec<u8> {
    header.format = FORMAT;
    header.native_blake3 = blake3::hash(native).to_hex().to_string();
    header.native_size = native.len() as u64;
    header.key_id = signer.public_key().key_id();
    let json = serde_json::to_vec(&header).expect("a header of strings and integers serializes");

    let mut out = Vec::with_capacity(MAGIC.len() + 4 + json.len() + SIGNATURE_BYTES + native.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&json);
    let signature = signer.sign(&out);
    out.extend_from_slice(&signature.to_bytes());
    out.extend_from_slice(native);
    out
}

/// Checks the envelope, the signature and the native code's hash. Returns the header and the
/// native code, which may then be compared with the host and deserialized.
pub(crate) fn open<'a>(
    bytes: &'a [u8],
    keys: &TrustedKeys,
) -> Result<(ArtifactHeader, &'a [u8]), ArtifactError> {
    let malformed = |reason: &str| ArtifactError::Malformed {
        reason: reason.to_string(),
    };
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| malformed("it does not start with the clickrules-cwasm magic"))?;
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed("it ends inside the header length"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > MAX_HEADER_BYTES {
        return Err(malformed("its header is longer than any clickrules header"));
    }
    let (json, rest) = rest
        .split_at_checked(len)
        .ok_or_else(|| malformed("it ends inside the header"))?;
    let (signature, native) = rest
        .split_first_chunk::<SIGNATURE_BYTES>()
        .ok_or_else(|| malformed("it ends inside the signature"))?;
    let header: ArtifactHeader =
        serde_json::from_slice(json).map_err(|e| ArtifactError::Malformed {
            reason: format!("its header does not parse: {e}"),
        })?;

    // Nothing in the header is believed until the signature verifies; the key id only picks
    // which trusted key to check.
    let key = keys
        .by_id(&header.key_id)
        .ok_or_else(|| ArtifactError::UnknownKey {
            key_id: header.key_id.clone(),
        })?;
    let signed = &bytes[..MAGIC.len() + 4 + len];
    if !key.verify(signed, &Signature::from_bytes(signature)) {
        return Err(ArtifactError::BadSignature {
            key_id: header.key_id,
        });
    }
    if header.format != FORMAT {
        return Err(ArtifactError::Malformed {
            reason: format!("format {} (this host reads format {FORMAT})", header.format),
        });
    }
    let actual = blake3::hash(native).to_hex().to_string();
    if native.len() as u64 != header.native_size || actual != header.native_blake3 {
        return Err(ArtifactError::Corrupt {
            signed: header.native_blake3,
            actual,
        });
    }
    Ok((header, native))
}

/// The engine compatibility hash of a compiling engine, as lowercase hex SHA-256.
pub(crate) fn engine_hash(engine: &wasmtime::Engine) -> String {
    struct Sha256Hasher(Sha256);
    impl Hasher for Sha256Hasher {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            // Only the full digest is used.
            0
        }
    }
    let mut hasher = Sha256Hasher(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut hasher);
    hex::encode(hasher.0.finalize())
}

#[cfg(test)]
mod tests;
