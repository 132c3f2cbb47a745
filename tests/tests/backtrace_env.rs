//! `WASMTIME_BACKTRACE_DETAILS=1` in a developer's shell changes nothing the engine builds:
//! the setting shapes compiled code, so it is pinned in code (wasmtime's `Config::new()` would
//! read it). The test runs itself again in a child process with the variable set.

mod common;

use clickrules_engine::{ClickType, PressError};
use clickrules_tests::guests;
use common::{click, load};

const NAME: &str = "the_environment_does_not_turn_on_line_tables";

#[test]
fn the_environment_does_not_turn_on_line_tables() {
    if std::env::var_os("WASMTIME_BACKTRACE_DETAILS").is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--nocapture"])
            .env("WASMTIME_BACKTRACE_DETAILS", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let engine = common::engine();
    let guest = load(&engine, guests::PANIC);
    let error = engine
        .press_click(&guest, click(ClickType::Long, None))
        .error
        .expect("a long press panics");
    let PressError::Trap { backtrace, .. } = &error else {
        panic!("not a trap: {error:?}");
    };
    assert!(
        backtrace
            .iter()
            .all(|f| f.file.is_none() && f.line.is_none()),
        "production parsed line tables because of the environment: {backtrace:#?}"
    );
    assert!(backtrace.iter().any(|f| {
        f.function
            .as_deref()
            .is_some_and(|n| n.contains("region_for"))
    }));
}
