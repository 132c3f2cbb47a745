//! Ed25519 keys for signed precompiled guests. The signing key stays with whoever uploads
//! guests (a PKCS#8 PEM file, as `openssl genpkey -algorithm ed25519` writes); the Lambda holds
//! only public keys, as base64 in its configuration.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Why a key could not be read or made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM text is not an Ed25519 PKCS#8 private key.
    #[error(
        "not an Ed25519 private key in PKCS#8 PEM form (as `clickrules key new` or \
         `openssl genpkey -algorithm ed25519` write): {message}"
    )]
    BadPrivateKey {
        /// The decoder's explanation.
        message: String,
    },
    /// A public key that is not 32 bytes of base64 forming a valid Ed25519 point.
    #[error("`{text}` is not an Ed25519 public key (32 bytes, base64): {reason}")]
    BadPublicKey {
        /// What was given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An empty list of trusted keys.
    #[error("no public keys given; expected one or more base64 Ed25519 keys, comma-separated")]
    NoKeys,
    /// The operating system's random source failed.
    #[error("could not read random bytes for a new key: {message}")]
    Random {
        /// The OS error.
        message: String,
    },
}

/// The key that signs artifacts. Its secret half is zeroed when dropped.
pub struct ArtifactSigner {
    key: SigningKey,
}

impl fmt::Debug for ArtifactSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArtifactSigner")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

impl ArtifactSigner {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random {
            message: e.to_string(),
        })?;
        let key = SigningKey::from_bytes(&seed);
        seed.fill(0);
        Ok(Self { key })
    }

    /// Reads a PKCS#8 PEM private key.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        SigningKey::from_pkcs8_pem(pem)
            .map(|key| Self { key })
            .map_err(|e| KeyError::BadPrivateKey {
                message: e.to_string(),
            })
    }

    /// The key as PKCS#8 PEM, for writing to a file only its owner can read.
    pub fn to_pem(&self) -> Result<String, KeyError> {
        self.key
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| KeyError::BadPrivateKey {
                message: e.to_string(),
            })
    }

    /// The public half, for `CLICKRULES_TRUSTED_KEYS`.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.key.verifying_key())
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

/// An Ed25519 public key; displayed and parsed as base64 of its 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    /// A short, stable name for the key (the first 16 hex digits of its SHA-256), written into
    /// each artifact so the host knows which trusted key to check it against.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    pub(crate) fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        // Strict verification rejects the malleable and small-order edge cases plain
        // RFC 8032 verification lets through.
        self.0.verify_strict(message, signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&BASE64.encode(self.0.as_bytes()))
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;

    fn from_str(text: &str) -> Result<Self, KeyError> {
        let bad = |reason: String| KeyError::BadPublicKey {
            text: text.to_string(),
            reason,
        };
        let bytes = BASE64.decode(text.trim()).map_err(|e| bad(e.to_string()))?;
        let bytes: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| bad(format!("it decodes to {} bytes", bytes.len())))?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|e| bad(e.to_string()))
    }
}

/// The public keys a host accepts artifacts from. More than one during a key rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    /// Keys from a list; at least one.
    pub fn new(keys: Vec<PublicKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        Ok(Self(keys))
    }

    /// The keys.
    pub fn keys(&self) -> &[PublicKey] {
        &self.0
    }

    pub(crate) fn by_id(&self, key_id: &str) -> Option<&PublicKey> {
        self.0.iter().find(|k| k.key_id() == key_id)
    }
}

impl FromStr for TrustedKeys {
    type Err = KeyError;

    /// Comma-separated base64 keys, as in `CLICKRULES_TRUSTED_KEYS`.
    fn from_str(text: &str) -> Result<Self, KeyError> {
        let keys = text
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(PublicKey::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key() {
        let signer = ArtifactSigner::generate().unwrap();
        let pem = signer.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = ArtifactSigner::from_pem(&pem).unwrap();
        assert_eq!(again.public_key(), signer.public_key());
    }

    #[test]
    fn public_keys_parse_from_their_display_form() {
        let a = ArtifactSigner::generate().unwrap().public_key();
        let b = ArtifactSigner::generate().unwrap().public_key();
        let keys: TrustedKeys = format!("{a}, {b}").parse().unwrap();
        assert_eq!(keys.keys(), [a, b]);
        assert_eq!(keys.by_id(&b.key_id()), Some(&b));
        assert_ne!(a.key_id(), b.key_id());
    }

    #[test]
    fn bad_keys_are_named() {
        assert!(matches!(
            "not base64!".parse::<PublicKey>(),
            Err(KeyError::BadPublicKey { .. })
        ));
        assert!(matches!(
            BASE64.encode([7u8; 16]).parse::<PublicKey>(),
            Err(KeyError::BadPublicKey { .. })
        ));
        assert!(matches!(
            " , ".parse::<TrustedKeys>(),
            Err(KeyError::NoKeys)
        ));
        assert!(matches!(
            ArtifactSigner::from_pem(
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            Err(KeyError::BadPrivateKey { .. })
        ));
    }
}
