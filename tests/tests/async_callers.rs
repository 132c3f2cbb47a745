//! Presses called from inside a tokio runtime, as the Lambda and the CLI's AWS paths call them.
//! wasmtime-wasi's synchronous bindings block on the runtime they find on the calling thread,
//! which panicked inside a current-thread runtime ("Cannot start a runtime from within a
//! runtime") for any guest that printed, slept or read stdin. Each press here must produce its
//! decision exactly as it does outside a runtime.

mod common;

use clickrules_engine::{Action, PressError};
use clickrules_tests::guests;
use common::{SINGLE, engine_with, limits, load, settings};

#[tokio::test(flavor = "current_thread")]
async fn a_printing_guest_presses_inside_a_current_thread_runtime() {
    let engine = engine_with(settings(&[("lines", "3")]));
    let guest = load(&engine, guests::CHATTY);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(d.result(), Ok(&[Action::ignore("chatty")][..]), "{d:?}");
    assert!(d.output.stdout.contains("stdout line 2"), "{:?}", d.output);
    assert!(d.output.stderr.contains("stderr line 2"), "{:?}", d.output);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_guest_presses_inside_a_multi_thread_runtime() {
    let engine = engine_with(settings(&[("call", "sleep"), ("ms", "5")]));
    let guest = load(&engine, guests::WASI_CALLS);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(
        d.result(),
        Ok(&[Action::snapshot("us-west-1")][..]),
        "{d:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn reading_stdin_inside_a_runtime_gets_nothing() {
    let engine = engine_with(settings(&[("try", "stdin")]));
    let guest = load(&engine, guests::SNEAKY);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(
        d.result(),
        Ok(&[Action::ignore("stdin: 0 bytes")][..]),
        "{d:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_deadline_holds_inside_a_runtime() {
    let engine = engine_with(|c| {
        c.limits = limits(100, 16, u64::MAX / 2);
        c.settings.insert("call".into(), "sleep".into());
    });
    let guest = load(&engine, guests::WASI_CALLS);
    let d = engine.press(&guest, SINGLE);
    assert_eq!(d.error, Some(PressError::Deadline { timeout_ms: 100 }));
}
