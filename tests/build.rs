//! Builds every Rust guest in `guests/` and emits one path constant per guest (`BY_CLICK`,
//! `SPIN`, ...), plus `ALL`, so tests load real components built from source.

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
    let out = Path::new(&std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("guests.rs");
    std::fs::write(out, code).expect("write guests.rs");
}
