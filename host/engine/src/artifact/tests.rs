use super::*;
use crate::arch::Arch;
use crate::error::LoadError;

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
