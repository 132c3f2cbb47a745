//! Installs what the JavaScript and Python guests are built with, from the versions this
//! repository pins, the first time a test needs them: `npm ci` from each guest's
//! `package-lock.json`, and a virtual environment under `target/` from a `requirements.txt`.
//!
//! This runs when a test asks for a guest, not in a build script: a build script that reached
//! the network would break `cargo build --offline`. Each step is stamped with a hash of the
//! lockfile it installed, so it runs once per lockfile change, and a file lock makes test
//! binaries running side by side wait for one another instead of installing twice.

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The environment variable CI systems set; when it is set a missing runtime is an error.
const CI_VAR: &str = "CI";

/// Why a toolchain could not be provisioned.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProvisionError {
    /// The language runtime itself (node, python3) is not installed: the language's guests
    /// can only be skipped.
    #[error("{runtime} was not found on PATH; {fix}")]
    RuntimeMissing {
        /// What is missing, e.g. `node`.
        runtime: &'static str,
        /// How to install it.
        fix: &'static str,
    },
    /// A step failed: the command, where it ran and what it printed.
    #[error(
        "`{command}` (in {}) failed: {status}. Offline? It needs the package registry once; \
         afterwards it is cached. Its output ends with:\n{output}",
        dir.display()
    )]
    Failed {
        /// The command line.
        command: String,
        /// Its working folder.
        dir: PathBuf,
        /// How it ended, or why it could not start.
        status: String,
        /// The end of its output.
        output: String,
    },
}

/// Whether `CI` asks for every language to be tested.
pub fn in_ci() -> bool {
    std::env::var(CI_VAR).is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Writes straight to the process's stderr: the test harness captures `eprintln!`, and a
/// skipped language must be seen.
pub fn shout(message: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{message}");
}

/// The first line `program ARGS` prints, or `None` if it cannot be run.
pub fn tool_version(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| {
        let text = if out.stdout.is_empty() {
            &out.stderr
        } else {
            &out.stdout
        };
        String::from_utf8_lossy(text)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string()
    })
}

/// Installs a JavaScript guest's packages with `npm ci` unless they were installed from the
/// same `package-lock.json` already.
pub fn npm_ci(guest_dir: &Path) -> Result<(), ProvisionError> {
    if tool_version("node", &["--version"]).is_none() {
        return Err(ProvisionError::RuntimeMissing {
            runtime: "node",
            fix: "install Node.js 20 or later",
        });
    }
    let lockfile = guest_dir.join("package-lock.json");
    let wanted = hash_file(&lockfile)?;
    let stamp = guest_dir.join("node_modules").join(".clickrules-installed");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    let _lock = lock(&guest_dir.join(".clickrules-npm.lock"))?;
    // Another process may have installed while this one waited for the lock.
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(());
    }
    shout(&format!(
        "clickrules: installing {} with `npm ci` (first run only)",
        guest_dir.display()
    ));
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(guest_dir);
    run(npm, guest_dir)?;
    write_stamp(&stamp, &wanted)
}

/// A virtual environment at `venv` with exactly `requirements` installed (a pip requirements
/// file), created or refreshed when the file changed. Returns the folder holding its
/// executables.
pub fn python_venv(venv: &Path, requirements: &Path) -> Result<PathBuf, ProvisionError> {
    let python = ["python3", "python"]
        .into_iter()
        .find(|p| tool_version(p, &["--version"]).is_some())
        .ok_or(ProvisionError::RuntimeMissing {
            runtime: "python3",
            fix: "install Python 3.10 or later (with its venv module)",
        })?;
    let wanted = hash_file(requirements)?;
    let stamp = venv.join(".clickrules-installed");
    let bin = venv.join("bin");
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(bin);
    }
    let parent = venv.parent().unwrap_or(venv);
    fs::create_dir_all(parent).map_err(|e| io_failure("create", parent, &e))?;
    let _lock = lock(&venv.with_extension("lock"))?;
    if fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
        return Ok(bin);
    }
    shout(&format!(
        "clickrules: creating {} from {} (first run only)",
        venv.display(),
        requirements.display()
    ));
    let mut create = Command::new(python);
    create.args(["-m", "venv", "--clear"]).arg(venv);
    run(create, parent)?;
    let mut pip = Command::new(bin.join("python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
    ])
    .arg(requirements);
    run(pip, parent)?;
    write_stamp(&stamp, &wanted)?;
    Ok(bin)
}

/// Runs `cmd`, returning its failure with the end of its output.
pub fn run(mut cmd: Command, dir: &Path) -> Result<(), ProvisionError> {
    let command = describe(&cmd);
    let failed = |status: String, output: String| ProvisionError::Failed {
        command: command.clone(),
        dir: dir.to_path_buf(),
        status,
        output,
    };
    let out = cmd
        .output()
        .map_err(|e| failed(format!("could not start it: {e}"), String::new()))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(30)..].join("\n");
    Err(failed(out.status.to_string(), tail))
}

/// `program arg arg`, for messages.
pub fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// An exclusive lock on `path`, held until the returned file is dropped.
fn lock(path: &Path) -> Result<File, ProvisionError> {
    let file = File::create(path).map_err(|e| io_failure("create", path, &e))?;
    file.lock().map_err(|e| io_failure("lock", path, &e))?;
    Ok(file)
}

fn hash_file(path: &Path) -> Result<String, ProvisionError> {
    let bytes = fs::read(path).map_err(|e| io_failure("read", path, &e))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

fn write_stamp(stamp: &Path, content: &str) -> Result<(), ProvisionError> {
    fs::write(stamp, content).map_err(|e| io_failure("write", stamp, &e))
}

fn io_failure(what: &str, path: &Path, e: &std::io::Error) -> ProvisionError {
    ProvisionError::Failed {
        command: format!("{what} {}", path.display()),
        dir: path.parent().unwrap_or(path).to_path_buf(),
        status: e.to_string(),
        output: String::new(),
    }
}

/// The Cargo target directory the running test binary was built in
/// (`<target>/[<triple>/]<profile>/deps/NAME`), or `None` outside a Cargo-built test.
pub fn test_target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?;
    let profile = deps.parent()?;
    profile
        .ancestors()
        .skip(1)
        .take(2)
        .find(|t| t.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
}

/// A Python command-line tool the tests run (an AWS emulator, a template linter), installed
/// at the version `requirements` pins into a virtual environment of its own under
/// `<target>/wasm-guests/tools/`, so it never disturbs (or depends on) the user's Python
/// packages. Returns the path of its `executable`.
///
/// When the environment cannot be made (offline, say) but `executable` is on `PATH`, that one
/// is used, with a note; otherwise the error names the command that failed.
pub fn python_tool(requirements: &Path, executable: &str) -> Result<PathBuf, ProvisionError> {
    let name = requirements
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| executable.to_string());
    let target = test_target_dir().ok_or_else(|| ProvisionError::Failed {
        command: format!("find the Cargo target directory for {name}"),
        dir: requirements.to_path_buf(),
        status: "this process is not a Cargo-built test".to_string(),
        output: String::new(),
    })?;
    let venv = target.join("wasm-guests").join("tools").join(&name);
    match python_venv(&venv, requirements) {
        Ok(bin) => Ok(bin.join(executable)),
        Err(e @ ProvisionError::Failed { .. }) => {
            if tool_version(executable, &["--version"]).is_some() {
                shout(&format!(
                    "clickrules: using {executable} from PATH: the pinned one could not be \
                     installed: {e}"
                ));
                Ok(PathBuf::from(executable))
            } else {
                Err(e)
            }
        }
        Err(e) => Err(e),
    }
}
