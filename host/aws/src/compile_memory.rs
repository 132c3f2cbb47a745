//! Whether the function has the memory to compile a guest, and giving that memory back after.
//!
//! Compiling an interpreter guest (JavaScript, Python: 10-20 MB of `.wasm`) peaks at hundreds
//! of MB, more than the template's default function memory; Lambda then kills the function
//! without a word. Estimating the peak first turns that into an error that says what to do.
//!
//! The estimate lives here rather than in the engine: it is calibrated against the whole
//! process of this crate's users (the Lambda's `bootstrap`, the CLI), and compared with a
//! Lambda setting; the engine knows nothing of either.

/// Lambda's name for the function's memory size, in MB (Lambda's MB are MiB). Absent when not
/// running in Lambda.
pub const FUNCTION_MEMORY_VARIABLE: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";

/// The part of the estimate that does not grow with the guest, MB: the Lambda binary's peak
/// compiling a small Rust guest (28.3 MiB), plus 20 MB for the Lambda environment beside it.
/// Measured in `BENCHMARKS.md` ("Compile memory").
const BASE_MB: u64 = 48;

/// What each MiB of `.wasm` adds to the peak, MB: the JavaScript guest's 35.3, the densest
/// measured (mostly code), rounded up with ~13% headroom for run-to-run spread. It errs towards
/// refusing: Python's `.wasm` is mostly data, and its estimate is about twice its peak.
const MB_PER_WASM_MIB: u64 = 40;

const MIB: u64 = 1 << 20;

/// About how much memory (MB) a process peaks at while it compiles a `.wasm` of `wasm_len`
/// bytes with the engine: a conservative linear bound, `48 + 40 × MiB of .wasm`, rounded up.
/// Measured peaks and the fit are in `BENCHMARKS.md`.
pub fn compile_memory_estimate_mb(wasm_len: usize) -> u64 {
    let wasm = wasm_len as u64;
    // Rounded up in whole MB; saturating so no input overflows.
    BASE_MB.saturating_add(MB_PER_WASM_MIB.saturating_mul(wasm).div_ceil(MIB))
}

/// What each MiB of `.wasm` keeps resident once compiled and loaded, MB: the JavaScript
/// guest's steady state after a compile and `release_freed_heap` (166 MiB for 11.5 MiB of
/// `.wasm`, less the 28 MiB base; `BENCHMARKS.md`), rounded up.
const RESIDENT_MB_PER_WASM_MIB: u64 = 12;

/// About how much memory (MB) a loaded guest of `wasm_len` bytes keeps beside the process's
/// base: its code and data image. A shadow guest must fit beside the active one.
pub fn loaded_memory_estimate_mb(wasm_len: usize) -> u64 {
    RESIDENT_MB_PER_WASM_MIB
        .saturating_mul(wasm_len as u64)
        .div_ceil(MIB)
}

/// A shadow guest that does not fit in the function's memory beside the active guest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the shadow guest (CLICKRULES_SHADOW_GUEST, {shadow} MB) does not fit beside the active \
     guest ({active} MB): together they need about {needed_mb} MB (compiling the shadow \
     included, unless it is signed) and this function has {function_mb} MB; sign the shadow \
     (clickrules upload --signing-key), raise MemorySize or shadow a lighter guest",
    shadow = format_mb(*.shadow_bytes),
    active = format_mb(*.active_bytes)
)]
pub struct ShadowMemoryShortfall {
    /// The active guest's `.wasm` size.
    pub active_bytes: u64,
    /// The shadow guest's `.wasm` size.
    pub shadow_bytes: u64,
    /// The estimate for both, with the process's base (and the shadow's compile, when it
    /// compiles).
    pub needed_mb: u64,
    /// The function's memory.
    pub function_mb: u64,
}

/// The memory a shadow guest may compile in: the function's, less what the loaded active
/// guest keeps (`None`: no limit).
pub fn memory_beside(active_len: usize, function_mb: Option<u64>) -> Option<u64> {
    function_mb.map(|mb| mb.saturating_sub(loaded_memory_estimate_mb(active_len)))
}

/// Checks that the active and the shadow guest, both loaded, fit in `function_mb`.
pub fn check_shadow_memory(
    active_len: usize,
    shadow_len: usize,
    function_mb: Option<u64>,
) -> Result<(), ShadowMemoryShortfall> {
    let Some(function_mb) = function_mb else {
        return Ok(());
    };
    let needed_mb = BASE_MB
        .saturating_add(loaded_memory_estimate_mb(active_len))
        .saturating_add(loaded_memory_estimate_mb(shadow_len));
    if needed_mb <= function_mb {
        return Ok(());
    }
    Err(ShadowMemoryShortfall {
        active_bytes: active_len as u64,
        shadow_bytes: shadow_len as u64,
        needed_mb,
        function_mb,
    })
}

/// The function's memory in MB from [`FUNCTION_MEMORY_VARIABLE`], or `None` outside Lambda (or
/// when the value is not a number: then nothing is refused on a guess).
pub fn lambda_function_memory_mb() -> Option<u64> {
    std::env::var(FUNCTION_MEMORY_VARIABLE)
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

/// A guest whose compile would not fit in the function's memory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "compiling this {size} MB guest needs about {needed_mb} MB; this function has \
     {function_mb} MB: sign it (clickrules upload --signing-key, CLICKRULES_TRUSTED_KEYS) or \
     raise MemorySize",
    size = format_mb(*.wasm_bytes)
)]
pub struct CompileMemoryShortfall {
    /// The size of the `.wasm`.
    pub wasm_bytes: u64,
    /// [`compile_memory_estimate_mb`] for it.
    pub needed_mb: u64,
    /// The function's memory.
    pub function_mb: u64,
}

/// Checks that compiling a `.wasm` of `wasm_len` bytes fits in `function_mb` (no limit when
/// `None`).
pub fn check_compile_memory(
    wasm_len: usize,
    function_mb: Option<u64>,
) -> Result<(), CompileMemoryShortfall> {
    let Some(function_mb) = function_mb else {
        return Ok(());
    };
    let needed_mb = compile_memory_estimate_mb(wasm_len);
    if needed_mb <= function_mb {
        return Ok(());
    }
    Err(CompileMemoryShortfall {
        wasm_bytes: wasm_len as u64,
        needed_mb,
        function_mb,
    })
}

/// `12.1`: a size in MB (MiB, as Lambda counts), one decimal.
fn format_mb(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / MIB as f64)
}

/// Gives the heap a compile freed back to the OS. Compiling a JavaScript or Python guest
/// allocates ~350 MiB in many small blocks, and glibc keeps them after they are freed: without
/// this the function would sit at ~400 MiB for the rest of its life (`BENCHMARKS.md`: the
/// JavaScript steady state fell from 399 to 166 MiB). Called after every load that compiled,
/// at init and on hot swap.
pub fn release_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[allow(unsafe_code)]
        // SAFETY: malloc_trim only returns free memory to the OS; it has no preconditions.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_guests_fit_the_smallest_function_and_interpreters_do_not() {
        // The built-in guest must compile in Lambda's smallest size, 128 MB.
        assert_eq!(
            check_compile_memory(clickrules_builtin::DEFAULT_GUEST.len(), Some(128)),
            Ok(())
        );
        let js = (11.5 * MIB as f64) as usize;
        let refused = check_compile_memory(js, Some(256));
        assert!(
            matches!(
                refused,
                Err(CompileMemoryShortfall {
                    function_mb: 256,
                    ..
                })
            ),
            "{refused:?}"
        );
        assert_eq!(check_compile_memory(js, None), Ok(()));
        assert_eq!(check_compile_memory(js, Some(1024)), Ok(()));
    }

    #[test]
    fn a_heavy_shadow_must_fit_beside_the_active_guest() {
        let rust = clickrules_builtin::DEFAULT_GUEST.len();
        let js = (11.5 * MIB as f64) as usize;
        assert_eq!(check_shadow_memory(rust, rust, Some(128)), Ok(()));
        // Two JavaScript guests: ~48 + 138 + 138 MB.
        let refused = check_shadow_memory(js, js, Some(256));
        assert!(
            matches!(
                refused,
                Err(ShadowMemoryShortfall {
                    function_mb: 256,
                    ..
                })
            ),
            "{refused:?}"
        );
        assert_eq!(check_shadow_memory(js, js, Some(512)), Ok(()));
        assert_eq!(check_shadow_memory(js, js, None), Ok(()));
        // Compiling a shadow beside a loaded JavaScript guest leaves less than the function's.
        assert_eq!(memory_beside(js, Some(1024)), Some(1024 - 138));
        assert_eq!(memory_beside(js, None), None);
    }

    #[test]
    fn the_estimate_grows_with_the_guest_and_never_overflows() {
        assert_eq!(compile_memory_estimate_mb(0), BASE_MB);
        assert_eq!(
            compile_memory_estimate_mb(MIB as usize),
            BASE_MB + MB_PER_WASM_MIB
        );
        assert!(compile_memory_estimate_mb(1) > BASE_MB, "rounded up");
        assert!(compile_memory_estimate_mb(usize::MAX) >= BASE_MB);
    }

    #[test]
    fn the_shortfall_says_what_to_do() {
        let shortfall = CompileMemoryShortfall {
            wasm_bytes: 12_687_769,
            needed_mb: 532,
            function_mb: 256,
        };
        assert_eq!(
            shortfall.to_string(),
            "compiling this 12.1 MB guest needs about 532 MB; this function has 256 MB: sign it \
             (clickrules upload --signing-key, CLICKRULES_TRUSTED_KEYS) or raise MemorySize"
        );
    }
}
