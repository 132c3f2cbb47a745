//! Loading guests: clear, typed errors for bytes that cannot be run; a cache by SHA-256.

mod common;

use std::sync::Arc;

use clickrules_engine::{LoadError, sha256_hex};
use clickrules_tests::{guest_bytes, guests};
use common::{assert_healthy, engine, load};

#[test]
fn empty_and_non_wasm_bytes() {
    let engine = engine();
    assert_eq!(engine.load(b"").unwrap_err(), LoadError::Empty);
    assert_eq!(
        engine.load(b"#!/bin/sh\necho hi\n").unwrap_err(),
        LoadError::NotWasm
    );
    assert_eq!(
        engine.load(b"{\"not\":\"wasm\"}").unwrap_err(),
        LoadError::NotWasm
    );
    assert_healthy(&engine);
}

#[test]
fn core_module_is_not_a_component() {
    let engine = engine();
    // The smallest valid core module: magic and version 1, no sections.
    let module = b"\0asm\x01\0\0\0";
    assert_eq!(engine.load(module).unwrap_err(), LoadError::CoreModule);
    assert_healthy(&engine);
}

#[test]
fn truncated_component_is_invalid() {
    let engine = engine();
    let bytes = guest_bytes(guests::DEFAULT);
    let err = engine.load(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }), "{err:?}");
    assert_healthy(&engine);
}

#[test]
fn random_bytes_after_a_component_header_are_invalid() {
    let engine = engine();
    let mut bytes = b"\0asm\x0d\0\x01\0".to_vec();
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    assert!(matches!(
        engine.load(&bytes).unwrap_err(),
        LoadError::Invalid { .. }
    ));
    assert_healthy(&engine);
}

#[test]
fn wrong_world_names_the_missing_export() {
    let engine = engine();
    let err = engine.load(&guest_bytes(guests::WRONG_WORLD)).unwrap_err();
    match &err {
        LoadError::MissingExport { export, found, .. } => {
            assert_eq!(*export, "handle");
            assert_eq!(found, "greet");
        }
        other => panic!("expected MissingExport, got {other:?}"),
    }
    assert!(err.to_string().contains("click-handler"), "{err}");
    assert_healthy(&engine);
}

#[test]
fn unknown_import_is_named() {
    let engine = engine();
    let err = engine
        .load(&guest_bytes(guests::UNKNOWN_IMPORT))
        .unwrap_err();
    assert_eq!(
        err,
        LoadError::UnsupportedImport {
            import: "acme:telemetry/sink@1.0.0".into()
        }
    );
    assert_healthy(&engine);
}

#[test]
fn compiled_guests_are_cached_by_sha256() {
    let engine = engine();
    let bytes = guest_bytes(guests::BY_CLICK);
    assert!(engine.cached(&sha256_hex(&bytes)).is_none());
    let first = engine.load(&bytes).unwrap();
    let second = engine.load(&bytes).unwrap();
    assert!(
        Arc::ptr_eq(&first, &second),
        "the second load must not recompile"
    );
    assert_eq!(first.sha256(), sha256_hex(&bytes));
    assert_eq!(first.size_bytes(), bytes.len() as u64);
    assert!(engine.cached(first.sha256()).is_some());
}

#[test]
fn a_guest_from_another_engine_is_refused_not_run() {
    let a = engine();
    let b = engine();
    let guest = load(&a, guests::DEFAULT);
    let d = b.press(&guest, common::SINGLE);
    assert!(
        matches!(
            d.error,
            Some(clickrules_engine::PressError::Instantiate { .. })
        ),
        "{d:?}"
    );
}
