//! Builds every guest in `guests/` and emits one path constant per guest, so tests load real
//! components built from source: `BY_CLICK`, `SPIN`, ... for the Rust guests (listed in `ALL`),
//! and `JS_BY_CLICK`, `PYTHON_BY_CLICK`, ... for the other languages, listed in
//! `OTHER_LANGUAGES`. Those are only described here: their toolchains come from the network
//! (`npm ci`, pip), which a build script must not need, so `OtherGuest::path` installs and
//! builds them when a test first asks.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let guests_dir = root.join("guests");
    let mut packages = Vec::new();
    for (prefix, dir) in [
        ("clickrules-guest-", guests_dir.clone()),
        ("clickrules-test-", guests_dir.join("testing")),
    ] {
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        packages.extend(names.into_iter().map(|n| format!("{prefix}{n}")));
    }
    let refs: Vec<&str> = packages.iter().map(String::as_str).collect();
    let built = clickrules_guest_build::build(&guests_dir, &root.join("wit"), &refs);

    let mut code = String::new();
    let mut all = String::from(
        "/// Every guest: (constant name, path).\npub const ALL: &[(&str, &str)] = &[\n",
    );
    for guest in &built {
        let name = guest
            .package
            .trim_start_matches("clickrules-guest-")
            .trim_start_matches("clickrules-test-")
            .replace('-', "_")
            .to_uppercase();
        let path = guest.wasm.display();
        writeln!(
            code,
            "/// Component built from package `{}`.",
            guest.package
        )
        .unwrap();
        writeln!(code, "pub const {name}: &str = {:?};", path.to_string()).unwrap();
        writeln!(all, "    ({name:?}, {name}),").unwrap();
    }
    all.push_str("];\n");
    code.push_str(&all);

    let wit_dir = root.join("wit");
    let out_dir = clickrules_guest_build::guest_target_dir();
    let mut others = String::from(
        "/// Guests in other languages: (constant name, guest). Each is built when a test first\n\
         /// asks for its path.\n\
         pub const OTHER_LANGUAGES: &[(&str, &clickrules_guest_build::OtherGuest)] = &[\n",
    );
    for (lang, marker, language) in [
        ("js", "package.json", "JavaScript"),
        ("python", "app.py", "Python"),
    ] {
        let lang_dir = guests_dir.join(lang);
        // A new guest folder must show up as a constant.
        println!("cargo:rerun-if-changed={}", lang_dir.display());
        for dir in guest_folders(&lang_dir, marker) {
            let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
            let name = format!("{lang}_{folder}").replace('-', "_").to_uppercase();
            // A guest of a later contract names it in a `contract` file (`0.2.0`): its WIT is
            // in wit/v0.2.0/.
            println!("cargo:rerun-if-changed={}", dir.join("contract").display());
            let wit = match std::fs::read_to_string(dir.join("contract")) {
                Ok(version) => wit_dir.join(format!("v{}", version.trim())),
                Err(_) => wit_dir.clone(),
            };
            writeln!(
                code,
                "/// The guest in `guests/{lang}/{folder}`: `.path()` builds it (and installs its\n\
                 /// toolchain) on first use."
            )
            .unwrap();
            writeln!(
                code,
                "pub const {name}: &clickrules_guest_build::OtherGuest = \
                 &clickrules_guest_build::OtherGuest {{ \
                 language: clickrules_guest_build::Language::{language}, dir: {:?}, wit: {:?}, \
                 out_dir: {:?} }};",
                canonical(&dir),
                canonical(&wit),
                out_dir.display().to_string(),
            )
            .unwrap();
            writeln!(others, "    ({name:?}, {name}),").unwrap();
        }
    }
    others.push_str("];\n");
    code.push_str(&others);
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("guests.rs");
    std::fs::write(out, code).expect("write guests.rs");
}

/// `path` without `..`, as a string for generated code.
fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .display()
        .to_string()
}

/// The guest folders under `dir` (those holding `marker`), sorted; none if `dir` is absent.
fn guest_folders(dir: &Path, marker: &str) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join(marker).is_file())
        .collect();
    found.sort();
    found
}
