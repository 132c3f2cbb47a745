//! `clickrules new`: what it writes, what it prints, and what it refuses. That each scaffold
//! then passes its own language's test command (which builds it) and `clickrules check` needs
//! npm, componentize-py and a wasmtime build per project: CI runs that with `.ci/scaffolds`.

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
            "cases.toml",
            "src/lib.rs",
            "tests/guest.rs",
            "wit/handler.wit",
        ],
    );
    let manifest = read(&dir, "Cargo.toml");
    assert!(manifest.contains("name = \"my-guest\""), "{manifest}");
    assert!(manifest.contains("crate-type = [\"cdylib\"]"), "{manifest}");
    // The default: the checkout this binary was built from.
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
    let guest_rs = read(&dir, "tests/guest.rs");
    assert!(
        guest_rs.contains("clickrules_testkit::build::component(env!(\"CARGO_MANIFEST_DIR\"))"),
        "{guest_rs}"
    );
    assert!(guest_rs.contains("/cases.toml"), "{guest_rs}");
    // Unit tests of the cdylib would call host functions natively, which abort.
    assert!(manifest.contains("test = false"), "{manifest}");
    assert_no_dead_links(&dir);
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
            "cargo test",
            &format!(
                "{} check target/clickrules-guest/wasm32-wasip2/release/my_guest.wasm",
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
            "cases.toml",
            "package.json",
            "src/handler.js",
            "support/host.mjs",
            "support/loader.mjs",
            "test/cases.test.mjs",
            "test/handler.test.mjs",
            "wit/handler.wit",
        ],
    );
    let package: serde_json::Value = serde_json::from_str(&read(&target, "package.json")).unwrap();
    assert_eq!(package["scripts"]["test"], "node --test");
    let cases_test = read(&target, "test/cases.test.mjs");
    assert!(cases_test.contains("buildIfStale"), "{cases_test}");
    assert!(
        cases_test.contains("cargo install --path host/cli"),
        "{cases_test}"
    );
    assert_no_dead_links(&target);
    assert!(
        read(&target, "package.json").contains("\"@bytecodealliance/componentize-js\": \"0.23.0\"")
    );
    assert!(read(&target, "src/handler.js").contains("'clickrules:handler/host@0.1.0'"));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("  npm install\n"), "{stdout}");
    assert!(stdout.contains(" npm test\n"), "{stdout}");
    assert!(
        !stdout.contains("npm run build"),
        "the test builds: {stdout}"
    );
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
            "build.py",
            "build.sh",
            "cases.toml",
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
    let build = read(&dir, "build.py");
    assert!(
        build.contains(
            r#""-d", "wit", "-w", "click-handler", "componentize", "app", "-o", str(WASM),"#
        ),
        "{build}"
    );
    assert!(
        build.contains(r#"WASM = HERE / "dist" / "button.wasm""#),
        "{build}"
    );
    let test = read(&dir, "test_app.py");
    assert!(test.contains("build.build_if_stale()"), "{test}");
    assert!(test.contains("cargo install --path host/cli"), "{test}");
    assert_no_dead_links(&dir);
    let stdout = text(&out.stdout);
    assert!(!stdout.contains("./build.sh"), "the test builds: {stdout}");
}

/// Every scaffold starts with the same cases, which the test kit reads.
#[test]
fn each_scaffold_ships_the_same_readable_cases_file() {
    let scratch = Scratch::new("cases");
    let mut files = Vec::new();
    for lang in ["rust", "js", "python"] {
        let name = format!("g-{lang}");
        let out = new(&[&name, "--lang", lang], &scratch.0);
        assert!(out.status.success(), "{}", text(&out.stderr));
        files.push(read(&scratch.0.join(&name), "cases.toml"));
    }
    assert!(files.iter().all(|f| *f == files[0]));
    let path = scratch.0.join("g-rust/cases.toml");
    let cases = clickrules_testkit::cases::Cases::load(&path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cases.cases().len(), 5);
}

/// The Rust scaffold's dev profile is the workspace's, so its test kit compiles guests with an
/// optimised Cranelift.
#[test]
fn the_rust_scaffold_copies_the_workspace_dev_profile() {
    let scratch = Scratch::new("profiles");
    let out = new(&["fast", "--lang", "rust"], &scratch.0);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: toml::Table = toml::from_str(&read(&scratch.0.join("fast"), "Cargo.toml"))
        .unwrap_or_else(|e| panic!("the scaffold's Cargo.toml: {e}"));
    let config: toml::Table = toml::from_str(include_str!("../../../.cargo/config.toml")).unwrap();
    let dev = |t: &toml::Table| t["profile"]["dev"].clone();
    assert_eq!(dev(&manifest), dev(&config));
    assert!(
        manifest["profile"]["dev"]["package"]["cranelift-codegen"]["opt-level"].as_integer()
            == Some(3)
    );
    assert!(
        manifest["profile"].get("release").is_some(),
        "its own release profile stays"
    );
}

#[test]
fn testkit_accepts_a_checkout_or_its_testkit_folder() {
    let scratch = Scratch::new("testkit");
    let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let testkit = checkout.join("host/testkit").canonicalize().unwrap();
    for (name, given) in [("a", checkout.clone()), ("b", testkit.clone())] {
        let out = new(
            &[name, "--lang", "rust", "--testkit", given.to_str().unwrap()],
            &scratch.0,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        let manifest = read(&scratch.0.join(name), "Cargo.toml");
        assert!(
            manifest.contains(&format!(
                "clickrules-testkit = {{ path = {:?} }}",
                testkit.display().to_string()
            )),
            "{manifest}"
        );
        assert!(text(&out.stdout).contains("(given with --testkit)"));
    }
}

#[test]
fn testkit_refuses_a_path_that_is_not_the_testkit() {
    let scratch = Scratch::new("testkit-bad");
    let elsewhere = scratch.0.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    for (given, says) in [
        (scratch.0.join("missing"), "--testkit"),
        (elsewhere.clone(), "neither a clickrules checkout"),
    ] {
        let out = new(
            &["g", "--lang", "rust", "--testkit", given.to_str().unwrap()],
            &scratch.0,
        );
        assert!(!out.status.success());
        let stderr = text(&out.stderr);
        assert!(stderr.contains(says), "{stderr}");
        assert!(stderr.contains("nothing was written"), "{stderr}");
        assert!(!scratch.0.join("g").exists());
    }
    let out = new(
        &[
            "g",
            "--lang",
            "js",
            "--testkit",
            elsewhere.to_str().unwrap(),
        ],
        &scratch.0,
    );
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--testkit is for Rust guests"));
}

/// Scaffolds point nowhere that does not exist: the project has no public repository.
fn assert_no_dead_links(dir: &Path) {
    for file in files(dir) {
        let contents = read(dir, &file);
        assert!(
            !contents.contains("github.com/clickrules"),
            "{file} links to a repository that does not exist"
        );
    }
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
