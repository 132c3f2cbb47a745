//! Every guest built from `guests/` is exercised by some test, as in wasmtime's test-programs.

#[test]
fn every_guest_is_used_by_a_test() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = String::new();
    // These tests, and the test kit's, which press the example guests as an author would.
    for dir in [root.join("tests"), root.join("../host/testkit/tests")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs")
                && !path.ends_with(file!().rsplit('/').next().unwrap())
            {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    // Guests in other languages count whether or not their runtime is installed here: the
    // name must be used by a test either way.
    let names = clickrules_tests::guests::ALL
        .iter()
        .map(|(name, _)| *name)
        .chain(
            clickrules_tests::guests::OTHER_LANGUAGES
                .iter()
                .map(|(name, _)| *name),
        );
    let untested: Vec<&str> = names
        .filter(|name| !sources.contains(&format!("guests::{name}")))
        .collect();
    assert!(untested.is_empty(), "guests without a test: {untested:?}");
}
