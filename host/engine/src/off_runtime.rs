//! Presses run off any async runtime.
//!
//! wasmtime-wasi's synchronous bindings implement blocking calls (stream writes and drops,
//! `poll`) by blocking on a tokio runtime: the caller's, when the calling thread is inside one.
//! Inside the Lambda's tokio runtime that panics ("Cannot start a runtime from within a
//! runtime"), so one `println!` in a guest failed every press there while the same press
//! passed locally. A press called from inside a runtime therefore runs on a thread of its own,
//! where those calls use wasmtime-wasi's own runtime instead.

/// Stack of the press thread: wasmtime's default wasm stack limit (512 KiB) plus the host
/// frames around it, with room to spare.
const PRESS_THREAD_STACK: usize = 4 << 20;

/// Runs `press` on this thread when it is outside any tokio runtime, else on a scoped thread.
/// `Err` carries the message of a panic (or of a thread that could not start), so a host bug
/// fails one press instead of the process.
pub(crate) fn run_off_runtime<R: Send>(press: impl FnOnce() -> R + Send) -> Result<R, String> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Ok(press());
    }
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("clickrules-press".into())
            .stack_size(PRESS_THREAD_STACK)
            .spawn_scoped(scope, press)
            .map_err(|e| format!("could not start the press thread: {e}"))?;
        thread.join().map_err(|panic| {
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the press thread panicked".to_string())
        })
    })
}
