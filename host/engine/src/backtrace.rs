//! Where in the guest a trap happened: its stack, as function names (the name section) and,
//! where the guest carries DWARF line tables and the engine reads them, file and line.

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmtime::{FrameInfo, WasmBacktrace};

/// Frames kept per trap: enough to reach the author's code from inside a panic handler, while a
/// runaway recursion's thousands of frames do not swell the record.
pub const MAX_FRAMES: usize = 32;

/// Function-name prefixes of language runtimes and bindings, skipped when naming the frame a
/// trap happened "in": a Rust panic traps deep inside `core::panicking`, but the line that
/// panicked is the author's.
const RUNTIME_PREFIXES: &[&str] = &[
    "core::",
    "std::",
    "alloc::",
    "panic_",
    "__rust",
    "rust_panic",
    "rust_begin_unwind",
    "abort",
    "wit_bindgen",
    "<wit_bindgen",
    "<core::",
    "<std::",
    "<alloc::",
];

/// One frame of a trapped guest's stack, innermost first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFrame {
    /// The function (demangled), from the line tables or the name section; `None` when the
    /// guest was stripped of both.
    pub function: Option<String>,
    /// The function's index in its core module, for a frame without a name.
    pub index: u32,
    /// The core module's own name, if it has one (a component links several modules: the
    /// guest's, adapters, an interpreter's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Offset of the instruction in the core module's bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<usize>,
    /// Source file, where the guest carries line tables and the engine reads them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

impl GuestFrame {
    fn from_wasmtime(frame: &FrameInfo) -> Self {
        // The innermost symbol is the inlined function the instruction belongs to.
        let symbol = frame.symbols().first();
        let function = symbol
            .and_then(|s| s.name())
            .or_else(|| frame.func_name())
            // A name section can hold anything: keep a record's frame bounded.
            // `{:#}` leaves out the crate hashes: `std::..`, not `std[d123b7a1a2ed1472]::..`.
            .map(|name| {
                format!("{:#}", rustc_demangle::demangle(name))
                    .chars()
                    .take(200)
                    .collect()
            });
        Self {
            function,
            index: frame.func_index(),
            module: frame.module().name().map(str::to_string),
            offset: frame.module_offset(),
            file: symbol.and_then(|s| s.file()).map(str::to_string),
            line: symbol.and_then(|s| s.line()),
            column: symbol.and_then(|s| s.column()),
        }
    }

    /// Whether this frame belongs to a language runtime or generated bindings rather than to
    /// the guest author's code.
    fn is_runtime(&self) -> bool {
        self.function
            .as_deref()
            .is_none_or(|f| RUNTIME_PREFIXES.iter().any(|p| f.starts_with(p)))
    }
}

impl fmt::Display for GuestFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(name) => f.write_str(name)?,
            None => write!(f, "<wasm function {}>", self.index)?,
        }
        match (&self.file, self.line) {
            (Some(file), Some(line)) => {
                write!(f, " at {file}:{line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
            }
            (Some(file), None) => write!(f, " at {file}")?,
            _ => {
                if let Some(offset) = self.offset {
                    write!(f, " @ {offset:#x}")?;
                }
            }
        }
        Ok(())
    }
}

/// The frames of the backtrace wasmtime attached to `e`, innermost first, at most
/// [`MAX_FRAMES`]; empty when it has none.
pub(crate) fn frames(e: &wasmtime::Error) -> Vec<GuestFrame> {
    e.downcast_ref::<WasmBacktrace>()
        .map(|bt| {
            bt.frames()
                .iter()
                .take(MAX_FRAMES)
                .map(GuestFrame::from_wasmtime)
                .collect()
        })
        .unwrap_or_default()
}

/// The frame to name in a one-line message: the innermost one in the author's code, else the
/// innermost one.
pub(crate) fn where_it_happened(frames: &[GuestFrame]) -> Option<&GuestFrame> {
    frames
        .iter()
        .find(|f| !f.is_runtime())
        .or_else(|| frames.first())
}

/// `" in FRAME"` for a one-line message, or nothing without frames.
pub(crate) fn in_frame(frames: &[GuestFrame]) -> String {
    where_it_happened(frames)
        .map(|f| format!(" in {f}"))
        .unwrap_or_default()
}

/// wasmtime's description of `e` without the backtrace it attached (the frames are kept
/// structured instead): the causes joined with `: `.
pub(crate) fn error_text_without_backtrace(e: &wasmtime::Error) -> String {
    // wasmtime attaches the backtrace as a context message, not as an error type of its own.
    let backtrace = e.downcast_ref::<WasmBacktrace>().map(ToString::to_string);
    let mut text = String::new();
    for cause in e.chain() {
        let cause = cause.to_string();
        if backtrace.as_ref() == Some(&cause) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(function: &str) -> GuestFrame {
        GuestFrame {
            function: Some(function.to_string()),
            index: 7,
            module: None,
            offset: Some(0x38e),
            file: None,
            line: None,
            column: None,
        }
    }

    #[test]
    fn the_authors_frame_is_named_not_the_panic_machinery() {
        let frames = [
            named("core::panicking::panic_fmt"),
            named("std::rt::lang_start"),
            named("my_guest::handle"),
            named("wit_bindgen::rt::run"),
        ];
        assert_eq!(where_it_happened(&frames), Some(&frames[2]));
        assert_eq!(in_frame(&frames), " in my_guest::handle @ 0x38e");
    }

    #[test]
    fn without_a_named_frame_the_innermost_is_shown() {
        let unnamed = GuestFrame {
            function: None,
            ..named("x")
        };
        assert_eq!(in_frame(&[unnamed]), " in <wasm function 7> @ 0x38e");
        assert_eq!(in_frame(&[]), "");
    }

    #[test]
    fn a_frame_with_a_line_shows_file_line_and_column() {
        let frame = GuestFrame {
            file: Some("src/lib.rs".into()),
            line: Some(12),
            column: Some(9),
            ..named("my_guest::handle")
        };
        assert_eq!(frame.to_string(), "my_guest::handle at src/lib.rs:12:9");
    }
}
