//! The P-256 public key Flic signs webhook tokens with: the published one pinned here, or one
//! configured for a rotation, in any of the forms Flic publishes it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use ring::agreement;
use ring::rand::SystemRandom;
use sha2::{Digest, Sha256};

/// Where Flic documents its Cloud Buttons webhook, its token claims and its public keys.
pub const FLIC_DOCS_URL: &str = "https://github.com/50ButtonsEach/flic-cloud-buttons-documentation";

/// The key Flic publishes for verifying **webhook** tokens ("Webhook Request" in
/// [`FLIC_DOCS_URL`]; JWK x `tOBY_7kJlAPE19qweawQlQah10rOQzhaxfjlen4RasM`, y
/// `wSbZUG_MoKAVtZTDL2ocWRzCjE43ob6i5PoXC8T8jkY`). The same page publishes a different key
/// for the webview's tokens (x `qHF1y2zt...`); that one must not verify presses, or a
/// webview link a user was shown could be replayed as a press.
pub const FLIC_PUBLISHED_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEtOBY/7kJlAPE19qweawQlQah10rO
Qzhaxfjlen4RasPBJtlQb8ygoBW1lMMvahxZHMKMTjehvqLk+hcLxPyORg==
-----END PUBLIC KEY-----
";

/// [`FLIC_PUBLISHED_KEY_PEM`] as its uncompressed point, so the default key needs no parsing
/// that could fail at run time. A test checks the two agree.
const PUBLISHED_POINT: [u8; 65] = [
    0x04, 0xb4, 0xe0, 0x58, 0xff, 0xb9, 0x09, 0x94, 0x03, 0xc4, 0xd7, 0xda, 0xb0, 0x79, 0xac, 0x10,
    0x95, 0x06, 0xa1, 0xd7, 0x4a, 0xce, 0x43, 0x38, 0x5a, 0xc5, 0xf8, 0xe5, 0x7a, 0x7e, 0x11, 0x6a,
    0xc3, 0xc1, 0x26, 0xd9, 0x50, 0x6f, 0xcc, 0xa0, 0xa0, 0x15, 0xb5, 0x94, 0xc3, 0x2f, 0x6a, 0x1c,
    0x59, 0x1c, 0xc2, 0x8c, 0x4e, 0x37, 0xa1, 0xbe, 0xa2, 0xe4, 0xfa, 0x17, 0x0b, 0xc4, 0xfc, 0x8e,
    0x46,
];

/// The DER prefix of every P-256 SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { id-ecPublicKey,
/// prime256v1 }, BIT STRING (66 bytes, no unused bits) }, then the 65-byte point. The
/// structure has no optional parts, so a byte comparison is a complete parse.
const SPKI_P256_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
const POINT_BYTES: usize = 65;
const SPKI_BYTES: usize = SPKI_P256_PREFIX.len() + POINT_BYTES;

/// The forms a key may be given in, for error messages.
pub const FLIC_KEY_FORMS: &str = "a PEM public key (-----BEGIN PUBLIC KEY-----), a JWK \
                                  ({\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":...,\"y\":...}), or the \
                                  base64 or hex of the DER key or of the 65-byte uncompressed point";

/// A P-256 public key that verifies Flic's ES256 tokens: a valid point on the curve.
#[derive(Clone, PartialEq, Eq)]
pub struct FlicPublicKey {
    point: [u8; POINT_BYTES],
}

/// Why a key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlicKeyError {
    /// Nothing was given.
    #[error("the Flic key is empty; expected {FLIC_KEY_FORMS}")]
    Empty,
    /// A private key was given where the public key belongs.
    #[error("the Flic key is a private key; configure the public key (openssl pkey -pubout)")]
    PrivateKey,
    /// PEM, but not a public key.
    #[error("the Flic key is a PEM {label:?}; expected a PEM PUBLIC KEY")]
    UnexpectedPemLabel {
        /// The label found after `-----BEGIN `.
        label: String,
    },
    /// Not any of the accepted encodings.
    #[error("the Flic key is not readable: {message}; expected {FLIC_KEY_FORMS}")]
    Encoding {
        /// What went wrong.
        message: String,
    },
    /// Decodes, but is not a P-256 public key.
    #[error("the Flic key is not a P-256 public key: {message}")]
    NotP256 {
        /// What it is instead.
        message: String,
    },
    /// A compressed point (33 bytes), which this verifier does not take.
    #[error(
        "the Flic key is a compressed point; give the uncompressed form (65 bytes, 0x04...) or the PEM"
    )]
    Compressed,
    /// The coordinates are not a point on P-256.
    #[error("the Flic key's coordinates are not a point on the P-256 curve")]
    NotOnCurve,
}

impl FlicPublicKey {
    /// The key Flic publishes for webhook tokens ([`FLIC_PUBLISHED_KEY_PEM`]).
    pub fn published() -> Self {
        Self {
            point: PUBLISHED_POINT,
        }
    }

    /// Reads a key in any of the [`FLIC_KEY_FORMS`] Flic publishes keys in.
    pub fn parse(text: &str) -> Result<Self, FlicKeyError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(FlicKeyError::Empty);
        }
        let der_or_point = if text.starts_with("-----BEGIN ") {
            pem_body(text)?
        } else if text.starts_with('{') {
            return jwk_point(text).and_then(|p| Self::from_uncompressed(&p));
        } else {
            bare_bytes(text)?
        };
        match der_or_point.len() {
            SPKI_BYTES if der_or_point.starts_with(&SPKI_P256_PREFIX) => {
                Self::from_uncompressed(&der_or_point[SPKI_P256_PREFIX.len()..])
            }
            POINT_BYTES | 33 => Self::from_uncompressed(&der_or_point),
            // A PKCS#8 or SEC1 private key is a DER SEQUENCE that is not a P-256 SPKI.
            _ if looks_like_private_der(&der_or_point) => Err(FlicKeyError::PrivateKey),
            n => Err(FlicKeyError::NotP256 {
                message: format!(
                    "{n} bytes, not a 91-byte P-256 SubjectPublicKeyInfo or a 65-byte point"
                ),
            }),
        }
    }

    /// A key from its uncompressed point (`0x04 || x || y`, 65 bytes), checked on the curve.
    pub fn from_uncompressed(bytes: &[u8]) -> Result<Self, FlicKeyError> {
        if bytes.len() == 33 && matches!(bytes[0], 0x02 | 0x03) {
            return Err(FlicKeyError::Compressed);
        }
        let point: [u8; POINT_BYTES] = bytes.try_into().map_err(|_| FlicKeyError::NotP256 {
            message: format!("{} bytes; an uncompressed point is 65", bytes.len()),
        })?;
        if point[0] != 0x04 {
            return Err(FlicKeyError::NotP256 {
                message: format!(
                    "the point starts 0x{:02x}, not 0x04 (uncompressed)",
                    point[0]
                ),
            });
        }
        if !on_curve(&point) {
            return Err(FlicKeyError::NotOnCurve);
        }
        Ok(Self { point })
    }

    /// The uncompressed point, as ring's verifier takes it.
    pub fn as_bytes(&self) -> &[u8] {
        &self.point
    }

    /// A short, stable name for logs: the first 12 hex digits of the point's SHA-256.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.point);
        hex::encode(&digest[..6])
    }

    /// Whether this is the key Flic publishes.
    pub fn is_published(&self) -> bool {
        self.point == PUBLISHED_POINT
    }
}

impl std::fmt::Debug for FlicPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FlicPublicKey({})", self.fingerprint())
    }
}

/// The base64 between the BEGIN and END lines of a PEM PUBLIC KEY.
fn pem_body(text: &str) -> Result<Vec<u8>, FlicKeyError> {
    let after_begin = &text["-----BEGIN ".len()..];
    let Some((label, rest)) = after_begin.split_once("-----") else {
        return Err(FlicKeyError::Encoding {
            message: "the PEM BEGIN line is not closed with -----".into(),
        });
    };
    if label.contains("PRIVATE") {
        return Err(FlicKeyError::PrivateKey);
    }
    if label != "PUBLIC KEY" {
        return Err(FlicKeyError::UnexpectedPemLabel {
            label: label.chars().take(40).collect(),
        });
    }
    let end = "-----END PUBLIC KEY-----";
    let Some((body, trailer)) = rest.split_once(end) else {
        return Err(FlicKeyError::Encoding {
            message: format!("the PEM has no {end} line"),
        });
    };
    if !trailer.trim().is_empty() {
        return Err(FlicKeyError::Encoding {
            message: "text follows the PEM's END line; give exactly one key".into(),
        });
    }
    let body: String = body.split_whitespace().collect();
    STANDARD.decode(body).map_err(|e| FlicKeyError::Encoding {
        message: format!("the PEM body is not base64 ({e})"),
    })
}

/// A bare key: hex (as Flic prints the DER and the coordinates) or base64 of either form.
fn bare_bytes(text: &str) -> Result<Vec<u8>, FlicKeyError> {
    let compact: String = text.split_whitespace().collect();
    let hex_digits = compact.strip_prefix("0x").unwrap_or(&compact);
    if matches!(hex_digits.len(), 130 | 182) && hex_digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(hex_digits).map_err(|e| FlicKeyError::Encoding {
            message: format!("not hex ({e})"),
        });
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(&compact).ok())
        .ok_or_else(|| FlicKeyError::Encoding {
            message: "not PEM, JWK, hex or base64".into(),
        })
}

/// The point of a JWK, `0x04 || x || y`.
fn jwk_point(text: &str) -> Result<Vec<u8>, FlicKeyError> {
    let jwk = crate::json::parse(text.as_bytes()).map_err(|message| FlicKeyError::Encoding {
        message: format!("the JWK is not JSON ({message})"),
    })?;
    let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
    if jwk.get("d").is_some() {
        return Err(FlicKeyError::PrivateKey);
    }
    if field("kty") != Some("EC") || field("crv") != Some("P-256") {
        return Err(FlicKeyError::NotP256 {
            message: "the JWK is not kty EC with crv P-256".into(),
        });
    }
    let coordinate = |name: &str| -> Result<Vec<u8>, FlicKeyError> {
        let raw = field(name).ok_or_else(|| FlicKeyError::NotP256 {
            message: format!("the JWK has no {name}"),
        })?;
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|e| FlicKeyError::Encoding {
                message: format!("the JWK's {name} is not base64url ({e})"),
            })?;
        if bytes.len() != 32 {
            return Err(FlicKeyError::NotP256 {
                message: format!("the JWK's {name} is {} bytes, not 32", bytes.len()),
            });
        }
        Ok(bytes)
    };
    let mut point = vec![0x04];
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    Ok(point)
}

/// PKCS#8 (`SEQUENCE { INTEGER 0, ...`) and SEC1 (`SEQUENCE { INTEGER 1, ...`) both open with
/// a SEQUENCE holding a small INTEGER; a public key's first element is a SEQUENCE.
fn looks_like_private_der(der: &[u8]) -> bool {
    let body = match der {
        [0x30, len, rest @ ..] if *len < 0x80 => rest,
        [0x30, 0x81, _, rest @ ..] => rest,
        [0x30, 0x82, _, _, rest @ ..] => rest,
        _ => return false,
    };
    matches!(body, [0x02, 0x01, 0x00 | 0x01, ..])
}

/// ring checks a peer's point fully (on the curve, not the identity) before an ECDH agreement
/// and exposes no other way to ask, so one throwaway agreement is the check. Done once per
/// key read, so a bad rotation key is refused when configured, not on every press. If the
/// system RNG fails, the check is skipped: the verifier refuses an invalid point anyway.
fn on_curve(point: &[u8; POINT_BYTES]) -> bool {
    let rng = SystemRandom::new();
    let Ok(ephemeral) = agreement::EphemeralPrivateKey::generate(&agreement::ECDH_P256, &rng)
    else {
        return true;
    };
    let peer = agreement::UnparsedPublicKey::new(&agreement::ECDH_P256, point);
    agreement::agree_ephemeral(ephemeral, &peer, |_| ()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWK: &str = r#"{"kty":"EC","x":"tOBY_7kJlAPE19qweawQlQah10rOQzhaxfjlen4RasM","y":"wSbZUG_MoKAVtZTDL2ocWRzCjE43ob6i5PoXC8T8jkY","crv":"P-256"}"#;
    const DER_HEX: &str = "3059301306072a8648ce3d020106082a8648ce3d03010703420004b4e058ffb9
099403c4d7dab079ac109506a1d74ace43385ac5f8e57a7e116ac3c126d9506f
cca0a015b594c32f6a1c591cc28c4e37a1bea2e4fa170bc4fc8e46";

    #[test]
    fn the_pinned_point_is_the_published_pem() {
        let parsed = FlicPublicKey::parse(FLIC_PUBLISHED_KEY_PEM).unwrap();
        assert_eq!(parsed, FlicPublicKey::published());
        assert!(parsed.is_published());
    }

    #[test]
    fn every_published_form_reads_as_the_same_key() {
        let published = FlicPublicKey::published();
        assert_eq!(FlicPublicKey::parse(JWK).unwrap(), published);
        assert_eq!(FlicPublicKey::parse(DER_HEX).unwrap(), published);
        let point_b64 = STANDARD.encode(published.as_bytes());
        assert_eq!(FlicPublicKey::parse(&point_b64).unwrap(), published);
        let point_b64url = URL_SAFE_NO_PAD.encode(published.as_bytes());
        assert_eq!(FlicPublicKey::parse(&point_b64url).unwrap(), published);
        let point_hex = hex::encode(published.as_bytes());
        assert_eq!(FlicPublicKey::parse(&point_hex).unwrap(), published);
        let der = hex::decode(DER_HEX.split_whitespace().collect::<String>()).unwrap();
        assert_eq!(
            FlicPublicKey::parse(&STANDARD.encode(der)).unwrap(),
            published
        );
    }

    #[test]
    fn the_webview_key_is_a_valid_key_but_not_the_webhook_key() {
        let webview = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqHF1y2ztTcdfknnISSozf+hdoXi6
ylzLDGasj7I5TbNqGPWse6lo6kq+JHcbLhbVptAwn0BB0b0m+Y2+hpnhcg==
-----END PUBLIC KEY-----";
        let key = FlicPublicKey::parse(webview).unwrap();
        assert!(!key.is_published());
    }

    #[test]
    fn unusable_keys_say_why() {
        assert_eq!(FlicPublicKey::parse("  \n"), Err(FlicKeyError::Empty));
        assert_eq!(
            FlicPublicKey::parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"),
            Err(FlicKeyError::PrivateKey)
        );
        assert_eq!(
            FlicPublicKey::parse(
                "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----"
            ),
            Err(FlicKeyError::PrivateKey)
        );
        assert!(matches!(
            FlicPublicKey::parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"),
            Err(FlicKeyError::UnexpectedPemLabel { .. })
        ));
        assert!(matches!(
            FlicPublicKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA"),
            Err(FlicKeyError::Encoding { .. })
        ));
        assert!(matches!(
            FlicPublicKey::parse(&format!("{FLIC_PUBLISHED_KEY_PEM}{FLIC_PUBLISHED_KEY_PEM}")),
            Err(FlicKeyError::Encoding { .. })
        ));
        assert!(matches!(
            FlicPublicKey::parse("not a key!"),
            Err(FlicKeyError::Encoding { .. })
        ));
        assert!(matches!(
            FlicPublicKey::parse(&STANDARD.encode([0u8; 40])),
            Err(FlicKeyError::NotP256 { .. })
        ));
        let mut compressed = vec![0x02];
        compressed.extend_from_slice(&PUBLISHED_POINT[1..33]);
        assert_eq!(
            FlicPublicKey::parse(&STANDARD.encode(&compressed)),
            Err(FlicKeyError::Compressed)
        );
        let mut off_curve = PUBLISHED_POINT;
        off_curve[64] ^= 1;
        assert_eq!(
            FlicPublicKey::from_uncompressed(&off_curve),
            Err(FlicKeyError::NotOnCurve)
        );
        let mut not_uncompressed = PUBLISHED_POINT;
        not_uncompressed[0] = 0x05;
        assert!(matches!(
            FlicPublicKey::from_uncompressed(&not_uncompressed),
            Err(FlicKeyError::NotP256 { .. })
        ));
        assert!(matches!(
            FlicPublicKey::parse(r#"{"kty":"EC","crv":"P-384","x":"AA","y":"AA"}"#),
            Err(FlicKeyError::NotP256 { .. })
        ));
        assert_eq!(
            FlicPublicKey::parse(r#"{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"AA"}"#),
            Err(FlicKeyError::PrivateKey)
        );
    }

    #[test]
    fn a_pkcs8_private_key_in_bare_base64_is_named_as_such() {
        let rng = SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &rng,
        )
        .unwrap();
        assert_eq!(
            FlicPublicKey::parse(&STANDARD.encode(pkcs8.as_ref())),
            Err(FlicKeyError::PrivateKey)
        );
    }

    #[test]
    fn debug_shows_only_the_fingerprint() {
        let key = FlicPublicKey::published();
        assert_eq!(
            format!("{key:?}"),
            format!("FlicPublicKey({})", key.fingerprint())
        );
        assert_eq!(key.fingerprint().len(), 12);
    }
}
