//! Signed precompiled guests: a valid artifact loads and decides exactly as the compiled guest
//! does; a tampered artifact, another key, another architecture, another guest's artifact, one
//! signed for another location or one older than an artifact already loaded is refused with
//! its own error before any native code is deserialized.

mod common;

use clickrules_engine::{
    Action, Arch, ArtifactBinding, ArtifactError, ArtifactExpectation, ArtifactSigner, Engine,
    LoadedFrom, TrustedKeys, sha256_hex,
};
use clickrules_tests::{guest_bytes, guests};
use common::{SINGLE, engine};

fn host() -> Arch {
    Arch::host().expect("the tests run on Linux x86_64 or aarch64, as Lambda does")
}

fn other_arch() -> Arch {
    match host() {
        Arch::Aarch64 => Arch::X86_64,
        Arch::X86_64 => Arch::Aarch64,
    }
}

fn trusting(signer: &ArtifactSigner) -> TrustedKeys {
    TrustedKeys::new(vec![signer.public_key()]).unwrap()
}

/// Where the tests' guest is deployed.
const LOCATION: &str = "s3://guests/guest.wasm";

fn at(sequence: u64) -> ArtifactBinding {
    ArtifactBinding {
        location: LOCATION.to_string(),
        sequence,
    }
}

fn expect(sha: &str) -> ArtifactExpectation<'_> {
    ArtifactExpectation {
        source_sha256: sha,
        location: LOCATION,
    }
}

/// Precompiles `path` for this host on one engine; returns the artifact and the source SHA.
fn artifact(signer: &ArtifactSigner, path: &str) -> (Vec<u8>, String) {
    artifact_at(signer, path, &at(1))
}

fn artifact_at(
    signer: &ArtifactSigner,
    path: &str,
    binding: &ArtifactBinding,
) -> (Vec<u8>, String) {
    let wasm = guest_bytes(path);
    let sealed = engine().precompile(&wasm, host(), signer, binding).unwrap();
    (sealed, sha256_hex(&wasm))
}

#[test]
fn a_signed_artifact_loads_and_decides_like_the_compiled_guest() {
    let signer = ArtifactSigner::generate().unwrap();
    let (sealed, sha) = artifact(&signer, guests::DEFAULT);

    // A fresh engine: nothing compiled or cached, as at a Lambda cold start.
    let lambda = engine();
    let guest = lambda
        .load_artifact(&sealed, &expect(&sha), &trusting(&signer))
        .unwrap();
    assert!(guest.is_precompiled());
    assert_eq!(guest.sha256(), sha);
    assert_eq!(
        guest.size_bytes(),
        guest_bytes(guests::DEFAULT).len() as u64
    );

    let decision = lambda.press(&guest, SINGLE);
    assert_eq!(decision.result(), Ok(&[Action::snapshot("us-west-1")][..]));
    assert_eq!(decision.guest.loaded_from, LoadedFrom::SignedArtifact);
    assert_eq!(decision.guest.signed_by, Some(signer.public_key().key_id()));

    // The compiled guest says where it came from too.
    let compiled = common::load(&engine(), guests::DEFAULT);
    assert_eq!(compiled.info().loaded_from, LoadedFrom::Compiled);
    assert_eq!(compiled.info().signed_by, None);
}

#[test]
fn the_artifact_is_cached_under_the_source_sha() {
    let signer = ArtifactSigner::generate().unwrap();
    let (sealed, sha) = artifact(&signer, guests::BY_CLICK);
    let lambda = engine();
    let first = lambda
        .load_artifact(&sealed, &expect(&sha), &trusting(&signer))
        .unwrap();
    let cached = lambda.cached(&sha).expect("cached after loading");
    assert!(std::sync::Arc::ptr_eq(&first, &cached));
}

#[test]
fn a_key_rotation_accepts_either_key() {
    let old = ArtifactSigner::generate().unwrap();
    let new = ArtifactSigner::generate().unwrap();
    let both = TrustedKeys::new(vec![old.public_key(), new.public_key()]).unwrap();
    for signer in [&old, &new] {
        let (sealed, sha) = artifact(signer, guests::DEFAULT);
        engine()
            .load_artifact(&sealed, &expect(&sha), &both)
            .unwrap();
    }
}

#[test]
fn another_key_is_refused() {
    let signer = ArtifactSigner::generate().unwrap();
    let stranger = ArtifactSigner::generate().unwrap();
    let (sealed, sha) = artifact(&signer, guests::DEFAULT);
    let result = engine().load_artifact(&sealed, &expect(&sha), &trusting(&stranger));
    assert!(
        matches!(result, Err(ArtifactError::UnknownKey { ref key_id }) if *key_id == signer.public_key().key_id()),
        "{result:?}"
    );
}

#[test]
fn tampering_anywhere_is_refused_before_deserializing() {
    let signer = ArtifactSigner::generate().unwrap();
    let (sealed, sha) = artifact(&signer, guests::DEFAULT);
    let keys = trusting(&signer);
    let lambda = engine();
    // The header, the signature, and the first, middle and last bytes of native code.
    let header_end = 20 + u32::from_le_bytes(sealed[16..20].try_into().unwrap()) as usize;
    let native_start = header_end + 64;
    for at in [
        30,
        header_end + 3,
        native_start,
        (native_start + sealed.len()) / 2,
        sealed.len() - 1,
    ] {
        let mut tampered = sealed.clone();
        tampered[at] ^= 0x20;
        let result = lambda.load_artifact(&tampered, &expect(&sha), &keys);
        assert!(
            matches!(
                result,
                Err(ArtifactError::BadSignature { .. })
                    | Err(ArtifactError::Corrupt { .. })
                    | Err(ArtifactError::Malformed { .. })
            ),
            "flip at {at} of {}: {result:?}",
            sealed.len()
        );
    }
    // Code appended after signing is refused too.
    let mut longer = sealed.clone();
    longer.extend_from_slice(b"\xcc\xcc\xcc\xcc");
    assert!(matches!(
        lambda.load_artifact(&longer, &expect(&sha), &keys),
        Err(ArtifactError::Corrupt { .. })
    ));
    assert!(lambda.cached(&sha).is_none(), "nothing was loaded");
}

#[test]
fn an_artifact_for_the_other_architecture_is_refused() {
    let signer = ArtifactSigner::generate().unwrap();
    let wasm = guest_bytes(guests::DEFAULT);
    let sealed = engine()
        .precompile(&wasm, other_arch(), &signer, &at(1))
        .expect("cross-compiling for the other Lambda architecture");
    let sha = sha256_hex(&wasm);
    let result = engine().load_artifact(&sealed, &expect(&sha), &trusting(&signer));
    assert!(
        matches!(result, Err(ArtifactError::WrongArch { ref artifact, .. }) if artifact == other_arch().as_str()),
        "{result:?}"
    );
}

#[test]
fn another_guests_artifact_is_refused() {
    let signer = ArtifactSigner::generate().unwrap();
    let (sealed, default_sha) = artifact(&signer, guests::DEFAULT);
    let by_click = sha256_hex(&guest_bytes(guests::BY_CLICK));
    let result = engine().load_artifact(&sealed, &expect(&by_click), &trusting(&signer));
    assert!(
        matches!(result, Err(ArtifactError::WrongSource { ref artifact, ref expected })
            if *artifact == default_sha && *expected == by_click),
        "{result:?}"
    );
}

#[test]
fn every_engine_configuration_accepts_the_same_artifact() {
    // Limits shape the pool, not the code: one artifact serves deployments with any limits.
    let signer = ArtifactSigner::generate().unwrap();
    let (sealed, sha) = artifact(&signer, guests::DEFAULT);
    let small = common::engine_with(|c| c.limits = common::limits(50, 8, 1_000_000));
    assert_eq!(small.engine_hash(), engine().engine_hash());
    let guest = small
        .load_artifact(&sealed, &expect(&sha), &trusting(&signer))
        .unwrap();
    assert!(small.press(&guest, SINGLE).error.is_none());
}

#[test]
fn heavy_guests_precompile_and_load() {
    let signer = ArtifactSigner::generate().unwrap();
    for (language, guest) in guests::OTHER_LANGUAGES {
        let Some(path) = guest.path() else {
            eprintln!("skipped: the {language} guest was not built (its tool is not installed)");
            continue;
        };
        let (sealed, sha) = artifact(&signer, path);
        let lambda: Engine = engine();
        let guest = lambda
            .load_artifact(&sealed, &expect(&sha), &trusting(&signer))
            .unwrap_or_else(|e| panic!("{language}: {e}"));
        let decision = lambda.press(&guest, SINGLE);
        assert_eq!(
            decision.result(),
            Ok(&[Action::snapshot("us-west-1")][..]),
            "{language}"
        );
    }
}

#[test]
fn an_artifact_signed_for_another_location_is_refused() {
    let signer = ArtifactSigner::generate().unwrap();
    let elsewhere = ArtifactBinding {
        location: "s3://someone-else/guest.wasm".to_string(),
        sequence: 1,
    };
    let (sealed, sha) = artifact_at(&signer, guests::DEFAULT, &elsewhere);
    let result = engine().load_artifact(&sealed, &expect(&sha), &trusting(&signer));
    assert!(
        matches!(result, Err(ArtifactError::WrongLocation { ref artifact, ref expected })
            if artifact == "s3://someone-else/guest.wasm" && expected == LOCATION),
        "{result:?}"
    );
}

/// A bucket writer without the key puts back an old `.wasm` and its old (validly signed)
/// artifact: refused once this host has loaded a newer one. A deliberate rollback re-signs the
/// old guest, which gives it a newer sequence, and loads.
#[test]
fn an_older_artifact_put_back_is_refused_and_a_re_signed_rollback_loads() {
    let signer = ArtifactSigner::generate().unwrap();
    let keys = trusting(&signer);
    let (old, old_sha) = artifact_at(&signer, guests::DEFAULT, &at(100));
    let (new, new_sha) = artifact_at(&signer, guests::BY_CLICK, &at(200));

    let lambda = engine();
    lambda
        .load_artifact(&old, &expect(&old_sha), &keys)
        .unwrap();
    lambda
        .load_artifact(&new, &expect(&new_sha), &keys)
        .unwrap();
    assert_eq!(lambda.artifact_floor(LOCATION), 200);
    // Loading the current artifact again (a cold start of another instance, a 304) is fine.
    lambda
        .load_artifact(&new, &expect(&new_sha), &keys)
        .unwrap();

    let replayed = lambda.load_artifact(&old, &expect(&old_sha), &keys);
    assert!(
        matches!(
            replayed,
            Err(ArtifactError::Replayed {
                sequence: 100,
                newest: 200,
                ..
            })
        ),
        "{replayed:?}"
    );

    let (rollback, rollback_sha) = artifact_at(&signer, guests::DEFAULT, &at(300));
    let guest = lambda
        .load_artifact(&rollback, &expect(&rollback_sha), &keys)
        .unwrap();
    assert_eq!(guest.artifact_sequence(), Some(300));
    assert_eq!(lambda.artifact_floor(LOCATION), 300);
    assert_eq!(rollback_sha, old_sha, "the same guest, re-signed");
    // On a fresh host (a cold start) the rollback loads from its own artifact.
    let cold = engine();
    cold.raise_artifact_floor(LOCATION, 200);
    let guest = cold
        .load_artifact(&rollback, &expect(&rollback_sha), &keys)
        .unwrap();
    assert_eq!(guest.artifact_sequence(), Some(300));
}

/// A floor kept across cold starts (e.g. in the ledger table) refuses old artifacts from the
/// first load on.
#[test]
fn a_raised_floor_refuses_older_artifacts_from_the_first_load() {
    let signer = ArtifactSigner::generate().unwrap();
    let (old, sha) = artifact_at(&signer, guests::DEFAULT, &at(100));
    let lambda = engine();
    lambda.raise_artifact_floor(LOCATION, 150);
    lambda.raise_artifact_floor(LOCATION, 120); // never lowered
    assert_eq!(lambda.artifact_floor(LOCATION), 150);
    assert!(matches!(
        lambda.load_artifact(&old, &expect(&sha), &trusting(&signer)),
        Err(ArtifactError::Replayed { newest: 150, .. })
    ));
}
