//! The local tools' compile cache: a guest compiled once is read back by the next engine with
//! the same settings, and a cached guest decides exactly as a freshly compiled one.

mod common;

use std::path::Path;

use clickrules_engine::{Engine, EngineConfig};
use clickrules_tests::{guest_bytes, guests};

fn files_under(dir: &Path) -> usize {
    let mut count = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if !path.file_name().is_some_and(|n| {
            let n = n.to_string_lossy();
            n.contains(".stats") || n.contains(".wip-") || n.starts_with('.')
        }) {
            // Compiled entries only: the cache's worker also writes usage statistics (`.stats`),
            // lock and half-written files (`.wip-*`, removed by its cleanup later) and its own
            // bookkeeping files beside them, in the background.
            count += 1;
        }
    }
    count
}

fn cached_engine(dir: &Path) -> Engine {
    Engine::new(EngineConfig {
        compile_cache: Some(dir.to_path_buf()),
        ..EngineConfig::default()
    })
    .unwrap()
}

#[test]
fn a_compiled_guest_is_kept_and_reused() {
    let dir = std::env::temp_dir().join(format!("clickrules-cache-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = guest_bytes(guests::BY_CLICK);

    let first = cached_engine(&dir);
    let guest = first.load(&bytes).unwrap();
    let fresh = first.press(&guest, common::SINGLE);
    let written = files_under(&dir);
    assert!(written > 0, "nothing was cached in {}", dir.display());

    // A new engine (another run) finds it: nothing new is written, and it decides the same.
    let second = cached_engine(&dir);
    let again = second.load(&bytes).unwrap();
    let cached = second.press(&again, common::SINGLE);
    assert_eq!(files_under(&dir), written);
    assert_eq!(cached.result(), fresh.result());

    // Different bytes are a different entry.
    second.load(&guest_bytes(guests::DEFAULT)).unwrap();
    assert!(files_under(&dir) > written);
    let _ = std::fs::remove_dir_all(&dir);
}
