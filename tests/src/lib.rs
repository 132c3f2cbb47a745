//! Paths of the guest components built from `guests/` by this crate's build script, and
//! helpers shared by the integration tests.
#![deny(missing_docs)]

/// Paths of the built guests, one constant per guest.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

use std::path::PathBuf;

/// `shared/fixtures/events`, beside the repository (the layout this project is developed in),
/// or `CLICKRULES_FIXTURES` when set.
pub fn fixtures_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CLICKRULES_FIXTURES") {
        return PathBuf::from(dir);
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    for candidate in [
        repo.join("tests/fixtures/events"),
        repo.join("../shared/fixtures/events"),
    ] {
        if candidate.is_dir() {
            return candidate;
        }
    }
    panic!("no event fixtures found: set CLICKRULES_FIXTURES to a folder of event JSON files")
}

/// Reads one fixture event by file name.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read fixture {}: {e}", path.display()))
}

/// Reads a built guest's bytes.
pub fn guest_bytes(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read guest {path}: {e}"))
}
