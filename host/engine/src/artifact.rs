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

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::LoadError;
use crate::keys::{ArtifactSigner, TrustedKeys};

const MAGIC: &[u8; 16] = b"clickrules-cwasm";
/// 2: the header binds the guest's location and a signing sequence (format 1 did not, so an
/// old artifact put back beside an old `.wasm` ran old code).
const FORMAT: u32 = 2;
/// Headers are a few hundred bytes; anything longer is not ours.
const MAX_HEADER_BYTES: usize = 4096;
const SIGNATURE_BYTES: usize = 64;

/// A CPU architecture Lambda runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// Graviton (`arm64` in Lambda's terms).
    Aarch64,
    /// Intel and AMD.
    X86_64,
}

impl Arch {
    /// Both Lambda architectures.
    pub const ALL: [Arch; 2] = [Arch::Aarch64, Arch::X86_64];

    /// The name used in artifact file names and headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64",
            Arch::X86_64 => "x86_64",
        }
    }

    /// The Linux target the Lambda binary is built for.
    pub fn triple(self) -> &'static str {
        match self {
            Arch::Aarch64 => "aarch64-unknown-linux-gnu",
            Arch::X86_64 => "x86_64-unknown-linux-gnu",
        }
    }

    /// This process's architecture, if it is Linux on one Lambda offers; artifacts target
    /// Lambda and are not loaded anywhere else.
    pub fn host() -> Option<Arch> {
        if !cfg!(target_os = "linux") {
            return None;
        }
        if cfg!(target_arch = "aarch64") {
            Some(Arch::Aarch64)
        } else if cfg!(target_arch = "x86_64") {
            Some(Arch::X86_64)
        } else {
            None
        }
    }

    /// Where the artifact for a guest lives: beside it, `<guest>.<arch>.cwasm`.
    pub fn artifact_name(self, guest: &str) -> String {
        format!("{guest}.{}.cwasm", self.as_str())
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An architecture name that is neither arm64 nor x86_64.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown architecture `{0}`; expected arm64 (aarch64) or x86_64")]
pub struct UnknownArch(pub String);

impl FromStr for Arch {
    type Err = UnknownArch;

    fn from_str(s: &str) -> Result<Self, UnknownArch> {
        match s.trim().to_ascii_lowercase().as_str() {
            "arm64" | "aarch64" => Ok(Arch::Aarch64),
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            _ => Err(UnknownArch(s.to_string())),
        }
    }
}

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
         here: an older guest was put back; roll back with `clickrules upload` (it re-signs)"
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

/// What an artifact says about itself; all of it is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactHeader {
    /// Layout version.
    pub format: u32,
    /// Target architecture ([`Arch::as_str`]).
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
mod tests {
    use super::*;

    fn header() -> ArtifactHeader {
        ArtifactHeader {
            format: 0,
            arch: "x86_64".into(),
            engine: "e".repeat(64),
            source_sha256: "s".repeat(64),
            source_size: 10,
            location: "s3://guests/rule.wasm".into(),
            sequence: 1,
            native_blake3: String::new(),
            native_size: 0,
            key_id: String::new(),
        }
    }

    fn keys(signer: &ArtifactSigner) -> TrustedKeys {
        TrustedKeys::new(vec![signer.public_key()]).unwrap()
    }

    #[test]
    fn a_sealed_artifact_opens_with_its_key() {
        let signer = ArtifactSigner::generate().unwrap();
        let sealed = seal(header(), b"native code", &signer);
        let (h, native) = open(&sealed, &keys(&signer)).unwrap();
        assert_eq!(native, b"native code");
        assert_eq!(h.key_id, signer.public_key().key_id());
        assert_eq!(h.native_size, 11);
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let signer = ArtifactSigner::generate().unwrap();
        let sealed = seal(header(), b"native code", &signer);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            assert!(
                open(&bad, &keys(&signer)).is_err(),
                "flip at byte {i} accepted"
            );
        }
    }

    #[test]
    fn another_key_is_unknown_and_a_forged_key_id_fails_the_signature() {
        let signer = ArtifactSigner::generate().unwrap();
        let other = ArtifactSigner::generate().unwrap();
        let sealed = seal(header(), b"x", &signer);
        assert!(matches!(
            open(&sealed, &keys(&other)),
            Err(ArtifactError::UnknownKey { .. })
        ));

        // Re-signed by another key while claiming the trusted key's id.
        let mut sealed = seal(header(), b"x", &other);
        let json_start = MAGIC.len() + 4;
        let len = u32::from_le_bytes(sealed[16..20].try_into().unwrap()) as usize;
        let mut h: ArtifactHeader =
            serde_json::from_slice(&sealed[json_start..json_start + len]).unwrap();
        h.key_id = signer.public_key().key_id();
        let json = serde_json::to_vec(&h).unwrap();
        assert_eq!(json.len(), len, "same-length key ids keep the layout");
        sealed[json_start..json_start + len].copy_from_slice(&json);
        assert!(matches!(
            open(&sealed, &keys(&signer)),
            Err(ArtifactError::BadSignature { .. })
        ));
    }

    #[test]
    fn truncations_are_malformed_not_panics() {
        let signer = ArtifactSigner::generate().unwrap();
        let sealed = seal(header(), b"native", &signer);
        for n in 0..sealed.len() {
            assert!(open(&sealed[..n], &keys(&signer)).is_err());
        }
        assert!(matches!(
            open(b"\0asm\x0d\0\x01\0", &keys(&signer)),
            Err(ArtifactError::Malformed { .. })
        ));
    }

    /// A validly signed artifact claiming `arch` and `engine`, whose "native code" is junk:
    /// if any check let it through to `deserialize`, the error would be a load error instead.
    fn signed_junk(signer: &ArtifactSigner, arch: &str, engine: String) -> Vec<u8> {
        let mut h = header();
        h.arch = arch.to_string();
        h.engine = engine;
        seal(h, b"\x7fELF junk that is not wasmtime output", signer)
    }

    #[test]
    fn the_engine_checks_arch_engine_and_source_before_deserializing() {
        let engine = crate::Engine::new(crate::EngineConfig::default()).unwrap();
        let Some(host) = Arch::host() else {
            return; // Artifacts are refused outright elsewhere; see `UnsupportedHost`.
        };
        let signer = ArtifactSigner::generate().unwrap();
        let keys = keys(&signer);
        let hash = engine.engine_hash().unwrap();
        assert_eq!(hash.len(), 64);

        let other = Arch::ALL.into_iter().find(|a| *a != host).unwrap();
        let wrong_arch = signed_junk(&signer, other.as_str(), hash.clone());
        let any = ArtifactExpectation {
            source_sha256: "s".repeat(64).leak(),
            location: "s3://guests/rule.wasm",
        };
        assert!(matches!(
            engine.load_artifact(&wrong_arch, &any, &keys),
            Err(ArtifactError::WrongArch { .. })
        ));

        let wrong_engine = signed_junk(&signer, host.as_str(), "0".repeat(64));
        assert!(matches!(
            engine.load_artifact(&wrong_engine, &any, &keys),
            Err(ArtifactError::WrongEngine { .. })
        ));

        let right = signed_junk(&signer, host.as_str(), hash);
        let expect = |sha: &'static str| ArtifactExpectation {
            source_sha256: sha,
            location: "s3://guests/rule.wasm",
        };
        let s = "s".repeat(64).leak();
        let t = "t".repeat(64).leak();
        assert!(matches!(
            engine.load_artifact(&right, &expect(t), &keys),
            Err(ArtifactError::WrongSource { .. })
        ));
        let elsewhere = ArtifactExpectation {
            source_sha256: s,
            location: "s3://other/rule.wasm",
        };
        assert!(matches!(
            engine.load_artifact(&right, &elsewhere, &keys),
            Err(ArtifactError::WrongLocation { .. })
        ));
        engine.raise_artifact_floor("s3://guests/rule.wasm", 2);
        assert!(matches!(
            engine.load_artifact(&right, &expect(s), &keys),
            Err(ArtifactError::Replayed {
                sequence: 1,
                newest: 2,
                ..
            })
        ));
        let fresh = crate::Engine::new(crate::EngineConfig::default()).unwrap();
        // Everything matches: now, and only now, wasmtime sees the bytes and rejects them.
        assert!(matches!(
            fresh.load_artifact(&right, &expect(s), &keys),
            Err(ArtifactError::Load(LoadError::Invalid { .. }))
        ));
    }

    #[test]
    fn arch_names_parse() {
        assert_eq!("arm64".parse::<Arch>(), Ok(Arch::Aarch64));
        assert_eq!("x86_64".parse::<Arch>(), Ok(Arch::X86_64));
        assert!("riscv64".parse::<Arch>().is_err());
        assert_eq!(
            Arch::Aarch64.artifact_name("rule.wasm"),
            "rule.wasm.aarch64.cwasm"
        );
    }
}
