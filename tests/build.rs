//! Builds every guest in `guests/` and emits one path constant per guest, so tests load real
//! components built from source: `BY_CLICK`, `SPIN`, ... for the Rust guests (listed in `ALL`),
//! and `JS_BY_CLICK`, `PYTHON_BY_CLICK`, ... for the other languages, as `Option<&str>`
//! (`None` when the language's tool is missing locally; under `CI` a missing tool fails the
//! build). Those are listed in `OTHER_LANGUAGES`.

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
    let mut others = String::from(
        "/// Guests in other languages: (constant name, path if built).\n\
         pub const OTHER_LANGUAGES: &[(&str, Option<&str>)] = &[\n",
    );
    type Builder = fn(&Path, &Path) -> Option<std::path::PathBuf>;
    for (lang, marker, build) in [
        (
            "js",
            "package.json",
            clickrules_guest_build::build_js as Builder,
        ),
        (
            "python",
            "app.py",
            clickrules_guest_build::build_python as Builder,
        ),
    ] {
        for dir in guest_folders(&guests_dir.join(lang), marker) {
            let folder = dir.file_name().unwrap().to_string_lossy().into_owned();
            let name = format!("{lang}_{folder}").replace('-', "_").to_uppercase();
            // A guest of a later contract names it in a `contract` file (`0.2.0`): its WIT is
            // in wit/v0.2.0/.
            let wit = match std::fs::read_to_string(dir.join("contract")) {
                Ok(version) => wit_dir.join(format!("v{}", version.trim())),
                Err(_) => wit_dir.clone(),
            };
            let value = match build(&dir, &wit) {
                Some(path) => format!("Some({:?})", path.display().to_string()),
                None => "None".to_string(),
            };
            writeln!(
                code,
                "/// Component built from `guests/{lang}/{folder}`, if its tool is installed."
            )
            .unwrap();
            writeln!(code, "pub const {name}: Option<&str> = {value};").unwrap();
            writeln!(others, "    ({name:?}, {name}),").unwrap();
        }
    }
    others.push_str("];\n");
    code.push_str(&others);
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("guests.rs");
    std::fs::write(out, code).expect("write guests.rs");
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
