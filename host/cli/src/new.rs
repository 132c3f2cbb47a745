//! `clickrules new`: scaffolds a guest project (Rust, JavaScript or Python) outside this
//! repository, with the WIT contract, bindings setup, a handler reproducing the default
//! behaviour, a cases file, and tests wired into the language's own test command (which builds
//! the component when it is stale), and prints the commands that test and check it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use crate::render;

/// The contract every guest implements, embedded when the CLI is compiled so a scaffold always
/// matches the host that made it.
const WIT: &str = include_str!("../../../wit/handler.wit");

/// The workspace's Cargo configuration, whose dev-profile overrides the Rust scaffold copies.
const CARGO_CONFIG: &str = include_str!("../../../.cargo/config.toml");

/// The cases every scaffold starts with: its default behaviour, as data.
const CASES: &str = include_str!("../templates/shared/cases.toml");

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    Js,
    Python,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Name of the guest project: lowercase letters, digits, `-` and `_`, starting with a letter.
    name: String,
    /// The language to write the guest in.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    lang: Lang,
    /// Folder to create (default: ./NAME). It must not exist yet.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// The clickrules checkout (or its host/testkit folder) whose test kit a Rust guest's
    /// tests use (default: the checkout this binary was built from, if it is still there).
    #[arg(long, value_name = "PATH")]
    testkit: Option<PathBuf>,
}

/// One file of a scaffold: its path in the project and its template.
struct File {
    path: &'static str,
    template: &'static str,
    executable: bool,
}

const fn file(path: &'static str, template: &'static str) -> File {
    File {
        path,
        template,
        executable: false,
    }
}

const RUST: &[File] = &[
    file("Cargo.toml", include_str!("../templates/rust/Cargo.toml")),
    file("src/lib.rs", include_str!("../templates/rust/lib.rs")),
    file("tests/guest.rs", include_str!("../templates/rust/guest.rs")),
    file("cases.toml", CASES),
    file("README.md", include_str!("../templates/rust/README.md")),
    file(".gitignore", include_str!("../templates/rust/gitignore")),
];

const JS: &[File] = &[
    file("package.json", include_str!("../templates/js/package.json")),
    file("build.mjs", include_str!("../templates/js/build.mjs")),
    file("src/handler.js", include_str!("../templates/js/handler.js")),
    file("cases.toml", CASES),
    file(
        "test/cases.test.mjs",
        include_str!("../templates/js/cases.test.mjs"),
    ),
    file(
        "test/handler.test.mjs",
        include_str!("../templates/js/handler.test.mjs"),
    ),
    file("support/host.mjs", include_str!("../templates/js/host.mjs")),
    file(
        "support/loader.mjs",
        include_str!("../templates/js/loader.mjs"),
    ),
    file("README.md", include_str!("../templates/js/README.md")),
    file(".gitignore", include_str!("../templates/js/gitignore")),
];

const PYTHON: &[File] = &[
    file("app.py", include_str!("../templates/python/app.py")),
    file("build.py", include_str!("../templates/python/build.py")),
    file("cases.toml", CASES),
    File {
        path: "build.sh",
        template: include_str!("../templates/python/build.sh"),
        executable: true,
    },
    file(
        "test_app.py",
        include_str!("../templates/python/test_app.py"),
    ),
    file(
        "requirements.txt",
        include_str!("../templates/python/requirements.txt"),
    ),
    file("README.md", include_str!("../templates/python/README.md")),
    file(".gitignore", include_str!("../templates/python/gitignore")),
];

pub fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        bail!(
            "{} already exists; choose another name or --dir (nothing was written)",
            dir.display()
        );
    }
    let crate_name = args.name.replace('-', "_");
    // Resolved before anything is written, so a bad --testkit leaves no half-made project.
    let (testkit, testkit_note) = match args.lang {
        Lang::Rust => testkit_dependency(args.testkit.as_deref())?,
        _ if args.testkit.is_some() => {
            bail!("--testkit is for Rust guests (--lang rust); nothing was written")
        }
        _ => (String::new(), String::new()),
    };
    let profiles = dev_profiles(CARGO_CONFIG);
    let vars = [
        ("{{name}}", args.name.as_str()),
        ("{{crate}}", crate_name.as_str()),
        ("{{testkit}}", testkit.as_str()),
        ("{{testkit_note}}", testkit_note.as_str()),
        ("{{dev_profiles}}", profiles.as_str()),
    ];
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Js => JS,
        Lang::Python => PYTHON,
    };

    // create_dir (not create_dir_all) for the project itself: if it appeared since the check
    // above, this fails rather than writing into it.
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write(&dir, "wit/handler.wit", WIT, false)?;
    for f in files {
        write(&dir, f.path, &fill(f.template, &vars), f.executable)?;
    }

    let mut out = String::new();
    let lang = match args.lang {
        Lang::Rust => "Rust",
        Lang::Js => "JavaScript",
        Lang::Python => "Python",
    };
    writeln!(out, "created {} ({lang} guest):", dir.display())?;
    writeln!(out, "  wit/handler.wit")?;
    for f in files {
        writeln!(out, "  {}", f.path)?;
    }
    if args.lang == Lang::Rust {
        writeln!(out, "{testkit_note}")?;
    }
    writeln!(out)?;
    writeln!(out, "next:")?;
    for command in next_steps(args.lang, &dir, &crate_name) {
        writeln!(out, "  {command}")?;
    }
    render::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// The commands that test and check the new guest, in order: the language's own test command
/// builds the component first.
fn next_steps(lang: Lang, dir: &Path, crate_name: &str) -> Vec<String> {
    let clickrules = clickrules_command();
    let mut steps = vec![format!("cd {}", shell_quote(&dir.display().to_string()))];
    let wasm = match lang {
        Lang::Rust => {
            steps.push("cargo test".into());
            format!("target/clickrules-guest/wasm32-wasip2/release/{crate_name}.wasm")
        }
        Lang::Js => {
            steps.push("npm install".into());
            steps.push(format!("CLICKRULES={clickrules} npm test"));
            format!("dist/{crate_name}.wasm")
        }
        Lang::Python => {
            steps.push("pip install -r requirements.txt".into());
            steps.push(format!("CLICKRULES={clickrules} python3 -m unittest"));
            format!("dist/{crate_name}.wasm")
        }
    };
    steps.push(format!("{clickrules} check {wasm}"));
    steps
}

/// This binary, so the printed commands work whether or not `clickrules` is on PATH.
fn clickrules_command() -> String {
    std::env::current_exe()
        .map(|p| shell_quote(&p.display().to_string()))
        .unwrap_or_else(|_| "clickrules".into())
}

/// The test kit as a path dependency, and a note saying where it points: `--testkit` (a
/// checkout or its host/testkit), else the checkout this binary was built from. There is no
/// published release of the kit to fall back on.
fn testkit_dependency(given: Option<&Path>) -> anyhow::Result<(String, String)> {
    let (path, from) = match given {
        Some(given) => {
            let dir = given.canonicalize().map_err(|e| {
                anyhow::anyhow!("--testkit {}: {e}; nothing was written", given.display())
            })?;
            let found = [dir.join("host/testkit"), dir.clone()]
                .into_iter()
                .find(|d| is_testkit(d));
            let Some(path) = found else {
                bail!(
                    "--testkit {}: neither a clickrules checkout (with host/testkit) nor its \
                     host/testkit folder; nothing was written",
                    given.display()
                );
            };
            (path, "given with --testkit")
        }
        None => {
            let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testkit");
            match built_from.canonicalize() {
                Ok(path) if is_testkit(&path) => {
                    (path, "the clickrules checkout this binary was built from")
                }
                _ => bail!(
                    "the clickrules checkout this binary was built from ({}) is no longer \
                     there, and a Rust guest's tests need its test kit: pass --testkit PATH \
                     (a clickrules checkout, or its host/testkit); nothing was written",
                    built_from.display()
                ),
            }
        }
    };
    let path = path.display().to_string();
    Ok((
        format!("clickrules-testkit = {{ path = {path:?} }}"),
        format!("clickrules-testkit is a path dependency on {path} ({from})."),
    ))
}

/// Whether `dir` holds the clickrules-testkit crate.
fn is_testkit(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|m| {
        m.lines()
            .any(|l| l.trim() == r#"name = "clickrules-testkit""#)
    })
}

/// The `[profile.*]` tables of a Cargo configuration, with the comments above them, verbatim:
/// the settings that make the test kit's wasmtime compile guests in seconds in the dev profile.
/// Other tables (aliases, environment) are the workspace's own and are left out.
fn dev_profiles(config: &str) -> String {
    let mut out = String::new();
    let mut comments = String::new();
    let mut in_profile = false;
    for line in config.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_profile = trimmed.starts_with("[profile.");
            if in_profile {
                out.push_str(&comments);
                out.push_str(line);
                out.push('\n');
            }
            comments.clear();
        } else if trimmed.starts_with('#') {
            comments.push_str(line);
            comments.push('\n');
        } else if trimmed.is_empty() {
            if in_profile && !out.ends_with("\n\n") {
                out.push('\n');
            }
            comments.clear();
        } else if in_profile {
            out.push_str(&comments);
            comments.clear();
            out.push_str(line);
            out.push('\n');
        }
    }
    out.trim_end().to_string()
}

fn check_name(name: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name.len() <= 64;
    if !valid {
        bail!(
            "{name:?} is not a usable guest name: use lowercase letters, digits, `-` and `_`, \
             starting with a letter (it becomes the package and file name)"
        );
    }
    Ok(())
}

fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    vars.iter()
        .fold(template.to_string(), |text, (key, value)| {
            text.replace(key, value)
        })
}

fn write(dir: &Path, relative: &str, contents: &str, executable: bool) -> anyhow::Result<()> {
    let path = dir.join(relative);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(&path, contents).with_context(|| format!("cannot write {}", path.display()))?;
    if executable {
        make_executable(&path)?;
    }
    Ok(())
}

#[cfg(unix)]
fn make_executable(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("cannot make {} executable", path.display()))
}

#[cfg(not(unix))]
fn make_executable(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Quotes a path for a POSIX shell when it holds anything but safe characters.
fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
