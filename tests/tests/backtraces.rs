//! A trap points at the author's code: its backtrace names the guest's functions (from the
//! name section) and, in the local tools' setting, file and line (from its line tables); the
//! production setting never parses line tables, whatever the environment says.

mod common;

use clickrules_engine::{Backtraces, ClickType, EngineConfig, PressError};
use clickrules_tests::guests;
use common::{click, engine_with, load};

/// The line of guests/testing/panic/src/lib.rs that panics.
fn panic_line() -> u32 {
    let source = include_str!("../../guests/testing/panic/src/lib.rs");
    let index = source
        .lines()
        .position(|l| l.contains("// PANIC LINE"))
        .expect("the marker");
    u32::try_from(index).unwrap() + 1
}

fn trap(backtraces: Backtraces) -> PressError {
    let engine = engine_with(|c: &mut EngineConfig| c.backtraces = backtraces);
    let guest = load(&engine, guests::PANIC);
    let ok = engine.press_click(&guest, click(ClickType::Single, None));
    assert!(ok.error.is_none(), "{ok:?}");
    engine
        .press_click(&guest, click(ClickType::Long, None))
        .error
        .expect("a long press panics")
}

#[test]
fn source_lines_name_the_function_file_and_line() {
    let error = trap(Backtraces::SourceLines);
    let PressError::Trap { backtrace, .. } = &error else {
        panic!("not a trap: {error:?}");
    };
    let frame = backtrace
        .iter()
        .find(|f| {
            f.function
                .as_deref()
                .is_some_and(|n| n.contains("region_for"))
        })
        .unwrap_or_else(|| panic!("no region_for frame in {backtrace:#?}"));
    assert!(
        frame
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("panic/src/lib.rs")),
        "{frame:?}"
    );
    assert_eq!(frame.line, Some(panic_line()), "{frame:?}");
    // The one-line message skips the panic machinery and names the author's function.
    let message = error.to_string();
    assert!(
        message.contains(" in region_for at ")
            && message.contains(&format!("lib.rs:{}", panic_line())),
        "{message}"
    );
}

#[test]
fn function_names_without_line_tables_in_production() {
    let error = trap(Backtraces::FunctionNames);
    let PressError::Trap { backtrace, .. } = &error else {
        panic!("not a trap: {error:?}");
    };
    assert!(
        backtrace.iter().any(|f| f
            .function
            .as_deref()
            .is_some_and(|n| n.contains("region_for"))),
        "{backtrace:#?}"
    );
    assert!(
        backtrace
            .iter()
            .all(|f| f.file.is_none() && f.line.is_none())
    );
    assert!(backtrace.iter().any(|f| f.offset.is_some()));
}

#[test]
fn the_record_carries_the_frames() {
    let error = trap(Backtraces::FunctionNames);
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(json["kind"], "trap");
    let frames = json["backtrace"].as_array().expect("a backtrace array");
    assert!(
        frames.iter().any(|f| f["function"]
            .as_str()
            .is_some_and(|n| n.contains("region_for"))),
        "{json}"
    );
}

#[test]
fn a_stripped_guest_still_shows_where_it_trapped() {
    let engine = common::engine();
    let guest = load(&engine, guests::TRAP);
    let error = engine
        .press_click(&guest, click(ClickType::Single, None))
        .error
        .expect("it traps");
    let PressError::Trap { trap, backtrace } = &error else {
        panic!("not a trap: {error:?}");
    };
    assert!(trap.contains("unreachable"), "{trap}");
    assert!(
        !trap.contains("wasm backtrace"),
        "the frames are kept apart: {trap}"
    );
    assert!(!backtrace.is_empty());
    assert!(error.to_string().contains("<wasm function"), "{error}");
}
