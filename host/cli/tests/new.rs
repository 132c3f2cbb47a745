//! `clickrules new`: what it writes, what it prints, and what it refuses. That each scaffold
//! then builds, passes its own tests and passes `clickrules check` needs npm, componentize-py
//! and a wasmtime build per project: CI runs that with `.ci/scaffolds`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fresh, empty scratch folder for one test, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("clickrules-new-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn new(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clickrules"))
        .arg("new")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run clickrules new")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_else(|e| panic!("read {file}: {e}"))
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.push(
                    path.strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    found.sort();
    found
}

const WIT: &str = include_str!("../../../wit/handler.wit");

/// The files are written with every placeholder filled and the contract copied verbatim.
fn assert_complete(dir: &Path, expected: &[&str]) {
    assert_eq!(files(dir), expected);
    assert_eq!(read(dir, "wit/handler.wit"), WIT);
    for file in expected {
        let contents = read(dir, file);
        assert!(
            !contents.contains("{{"),
            "{file} has an unfilled placeholder"
        );
    }
}

#[test]
fn new_rust_writes_a_cargo_project_using_the_testkit() {
    let scratch = Scratch::new("rust");
    let out = new(&["my-guest", "--lang", "rust"], &scratch.0);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = scratch.0.join("my-guest");
    assert_complete(
        &dir,
        &[
            ".gitignore",
            "Cargo.toml",
            "README.md",
            "src/lib.rs",
            "tests/guest.rs",
            "wit/handler.wit",
        ],
    );
    let manifest = read(&dir, "Cargo.toml");
    assert!(manifest.contains("name = \"my-guest\""), "{manifest}");
    assert!(manifest.contains("crate-type = [\"cdylib\"]"), "{manifest}");
    let testkit = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testkit")
        .canonicalize()
        .unwrap();
    assert!(
        manifest.contains(&format!(
            "clickrules-testkit = {{ path = {:?} }}",
            testkit.display().to_string()
        )),
        "{manifest}"
    );
    assert!(read(&dir, "tests/guest.rs").contains("wasm32-wasip2/release/my_guest.wasm"));
    // The cargo-component route (verified by hand with this version): its output path, and its
    // unused src/bindings.rs kept out of git.
    let readme = read(&dir, "README.md");
    assert!(
        readme.contains("cargo install cargo-component --locked --version 0.21.1"),
        "{readme}"
    );
    assert!(
        readme.contains(
            "cargo component build --release   # target/wasm32-wasip1/release/my_guest.wasm"
        ),
        "{readme}"
    );
    assert!(
        read(&dir, ".gitignore")
            .lines()
            .any(|l| l == "/src/bindings.rs")
    );

    let stdout = text(&out.stdout);
    let steps: Vec<&str> = stdout
        .lines()
        .skip_while(|l| *l != "next:")
        .skip(1)
        .map(str::trim)
        .collect();
    assert_eq!(
        steps,
        [
            "cd my-guest",
            "cargo build --release --target wasm32-wasip2",
            "cargo test",
            &format!(
                "{} check target/wasm32-wasip2/release/my_guest.wasm",
                env!("CARGO_BIN_EXE_clickrules")
            ),
        ]
    );
}

#[test]
fn new_js_writes_a_componentize_js_project() {
    let scratch = Scratch::new("js");
    let target = scratch.0.join("guests/button");
    let out = new(
        &["button", "--lang", "js", "--dir", target.to_str().unwrap()],
        &scratch.0,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_complete(
        &target,
        &[
            ".gitignore",
            "README.md",
            "build.mjs",
            "package.json",
            "src/handler.js",
            "test/handler.test.mjs",
            "wit/handler.wit",
        ],
    );
    assert!(
        read(&target, "package.json").contains("\"@bytecodealliance/componentize-js\": \"0.23.0\"")
    );
    assert!(read(&target, "src/handler.js").contains("'clickrules:handler/host@0.1.0'"));
    assert!(text(&out.stdout).contains("npm run build"));
}

#[test]
fn new_python_writes_a_componentize_py_project() {
    let scratch = Scratch::new("python");
    let out = new(&["button", "--lang", "python"], &scratch.0);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dir = scratch.0.join("button");
    assert_complete(
        &dir,
        &[
            ".gitignore",
            "README.md",
            "app.py",
            "build.sh",
            "requirements.txt",
            "test_app.py",
            "wit/handler.wit",
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.join("build.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111, "build.sh is not executable");
    }
    assert!(
        read(&dir, "build.sh").contains(
            "componentize-py -d wit -w click-handler componentize app -o dist/button.wasm"
        )
    );
}

#[test]
fn new_refuses_to_overwrite_an_existing_folder() {
    let scratch = Scratch::new("exists");
    let dir = scratch.0.join("taken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("Cargo.toml"), "mine").unwrap();
    let out = new(&["taken", "--lang", "rust"], &scratch.0);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(files(&dir), ["Cargo.toml"]);
    assert_eq!(read(&dir, "Cargo.toml"), "mine");
}

#[test]
fn new_refuses_a_name_that_cannot_be_a_package() {
    let scratch = Scratch::new("name");
    let out = new(&["My Guest", "--lang", "js"], &scratch.0);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a usable guest name"),
        "{}",
        text(&out.stderr)
    );
    assert!(files(&scratch.0).is_empty());
}
