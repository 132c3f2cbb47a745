//! A guest that traps is shown with its own backtrace, down to the author's source line where
//! the guest carries line tables: `press` prints it, and the JSON record carries the frames.

use std::process::Command;

use clickrules_tests::guests;

fn press(extra: &[&str]) -> (String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_clickrules"))
        .args(["press", "--click", "long", "--guest", guests::PANIC])
        .args(extra)
        .output()
        .expect("run clickrules");
    assert!(!out.status.success(), "a trapping press fails");
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn panic_line() -> usize {
    include_str!("../../../guests/testing/panic/src/lib.rs")
        .lines()
        .position(|l| l.contains("// PANIC LINE"))
        .unwrap()
        + 1
}

#[test]
fn press_prints_the_guest_backtrace_with_file_and_line() {
    let (stdout, _) = press(&[]);
    let at = format!("panic/src/lib.rs:{}", panic_line());
    assert!(
        stdout.contains("guest backtrace (innermost first):"),
        "{stdout}"
    );
    let frame = stdout
        .lines()
        .find(|l| l.contains(": region_for at "))
        .unwrap_or_else(|| panic!("no region_for frame:\n{stdout}"));
    assert!(frame.contains(&at), "{frame}");
    let decision = stdout.lines().find(|l| l.starts_with("decision")).unwrap();
    assert!(decision.contains("in region_for at "), "{decision}");
}

#[test]
fn the_json_record_carries_the_frames() {
    let (stdout, _) = press(&["--json"]);
    let record: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let frames = record["decision"]["error"]["backtrace"]
        .as_array()
        .unwrap_or_else(|| panic!("no backtrace in {record:#}"));
    let frame = frames
        .iter()
        .find(|f| f["function"] == "region_for")
        .unwrap_or_else(|| panic!("no region_for frame in {frames:#?}"));
    assert_eq!(frame["line"], panic_line());
    assert!(
        frame["file"]
            .as_str()
            .unwrap()
            .ends_with("panic/src/lib.rs")
    );
}
