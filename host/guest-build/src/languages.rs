//! Guests in other languages (JavaScript, Python), built by their own toolchains when a test
//! first asks for one.
//!
//! A build script only records where each guest is ([`OtherGuest`] constants); the toolchain
//! is provisioned and the component built at test time by [`OtherGuest::path`], once per
//! process, and rebuilt only when one of the guest's own files (or the WIT contract, or the
//! tool's version) is newer than the component. When a language's runtime (node, python3) is
//! missing, its guests are skipped with a loud message, and under `CI` that fails instead; any
//! other failure (offline `npm ci`, a broken build) panics naming the command.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::provision::{self, ProvisionError, in_ci, shout, tool_version};

/// The language a guest is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    /// Built with componentize-js (`node build.mjs`), pinned by the guest's package-lock.json.
    JavaScript,
    /// Built with componentize-py, pinned by `guests/python/requirements.txt`.
    Python,
}

impl Language {
    fn label(self) -> &'static str {
        match self {
            Language::JavaScript => "JavaScript",
            Language::Python => "Python",
        }
    }
}

/// A guest in another language: where it is, and where its component goes.
#[derive(Debug)]
pub struct OtherGuest {
    /// Its language.
    pub language: Language,
    /// Its folder (`guests/js/by-click`).
    pub dir: &'static str,
    /// The WIT folder of its contract.
    pub wit: &'static str,
    /// `target/wasm-guests`: components go to `js/` or `python/` in it, and the Python
    /// toolchain's virtual environment to `tools/`.
    pub out_dir: &'static str,
}

/// Components built (or skipped) in this process, by guest folder.
static BUILT: Mutex<Option<HashMap<&'static str, Option<&'static str>>>> = Mutex::new(None);

impl OtherGuest {
    /// The component's path, provisioning the toolchain and building it first if needed;
    /// `None` when the language's runtime is not installed (not under `CI`: there it panics).
    ///
    /// Panics when provisioning or the build fails, naming the command: a test that needs
    /// this guest cannot run without it.
    pub fn path(&'static self) -> Option<&'static str> {
        // One build at a time in a process: two tests asking for the same guest wait for one
        // build, and different guests' toolchains do not fight over the CPU.
        let mut built = BUILT.lock().unwrap_or_else(PoisonError::into_inner);
        let built = built.get_or_insert_with(HashMap::new);
        if let Some(path) = built.get(self.dir) {
            return *path;
        }
        let path = match self.build() {
            Ok(path) => Some(&*String::leak(path.display().to_string())),
            Err(ProvisionError::RuntimeMissing { runtime, fix }) => {
                let what = self.language.label();
                if in_ci() {
                    panic!(
                        "cannot test the {what} guests: {runtime} was not found on PATH; {fix}. \
                         CI must test every language, so this fails."
                    );
                }
                if self.first_of_language(built) {
                    shout(&format!(
                        "\n*** SKIPPED: the {what} guests are NOT tested: {runtime} was not found \
                         on PATH; {fix}, then run the tests again. (Under CI this fails.) ***\n"
                    ));
                }
                None
            }
            Err(e) => panic!(
                "cannot build the {} guest {}: {e}",
                self.language.label(),
                self.dir
            ),
        };
        built.insert(self.dir, path);
        path
    }

    /// Whether no other guest of this language was looked at yet, so a skip is said once per
    /// language (guests of one language share a parent folder).
    fn first_of_language(&self, built: &HashMap<&'static str, Option<&'static str>>) -> bool {
        let family = Path::new(self.dir).parent();
        !built.keys().any(|dir| Path::new(dir).parent() == family)
    }

    fn build(&self) -> Result<PathBuf, ProvisionError> {
        let dir = Path::new(self.dir);
        let wit = Path::new(self.wit);
        let out_dir = Path::new(self.out_dir);
        match self.language {
            Language::JavaScript => build_js(dir, wit, out_dir),
            Language::Python => build_python(dir, wit, out_dir),
        }
    }
}

/// Builds the JavaScript guest in `guest_dir` (a folder with `package.json`, `build.mjs` and
/// `src/`) with its pinned componentize-js, into `OUT/js/NAME.wasm`, running `npm ci` first
/// when its packages are missing or were installed from another lockfile.
pub fn build_js(
    guest_dir: &Path,
    wit_dir: &Path,
    out_dir: &Path,
) -> Result<PathBuf, ProvisionError> {
    provision::npm_ci(guest_dir)?;
    let node_version = tool_version("node", &["--version"]).unwrap_or_default();
    let name = guest_name(guest_dir);
    // Only the guest's own files: node_modules changes only through package-lock.json.
    let sources = vec![
        guest_dir.join("package.json"),
        guest_dir.join("package-lock.json"),
        guest_dir.join("build.mjs"),
        guest_dir.join("src"),
    ];
    let out = out_dir
        .join("js")
        .join(format!("{}.wasm", name.replace('-', "_")));
    let stamp = format!("node {node_version}");
    build_if_stale(&out, &sources, wit_dir, &stamp, guest_dir, |tmp| {
        let mut cmd = Command::new("node");
        cmd.arg("build.mjs")
            .arg("--wit")
            .arg(wit_dir)
            .arg("--out")
            .arg(tmp)
            .current_dir(guest_dir);
        cmd
    })?;
    Ok(out)
}

/// Builds the Python guest in `guest_dir` (a folder whose `app.py` defines `WitWorld`) with the
/// componentize-py pinned in the `requirements.txt` beside it (one folder up), installed into a
/// virtual environment in `OUT/tools/`, into `OUT/python/NAME.wasm`.
pub fn build_python(
    guest_dir: &Path,
    wit_dir: &Path,
    out_dir: &Path,
) -> Result<PathBuf, ProvisionError> {
    let requirements = guest_dir
        .parent()
        .unwrap_or(guest_dir)
        .join("requirements.txt");
    let bin = provision::python_venv(&out_dir.join("tools").join("python-guests"), &requirements)?;
    let componentize = bin.join("componentize-py");
    let version = tool_version(&componentize.to_string_lossy(), &["--version"]).unwrap_or_default();
    let name = guest_name(guest_dir);
    let mut sources: Vec<PathBuf> = fs::read_dir(guest_dir)
        .map_err(|e| io_failure(guest_dir, &e))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension() == Some(OsStr::new("py")))
        .collect();
    sources.sort();
    sources.push(requirements);
    let out = out_dir
        .join("python")
        .join(format!("{}.wasm", name.replace('-', "_")));
    build_if_stale(&out, &sources, wit_dir, &version, guest_dir, |tmp| {
        let mut cmd = Command::new(&componentize);
        cmd.arg("--wit-path")
            .arg(wit_dir)
            .arg("--world")
            .arg("click-handler")
            .arg("componentize")
            .arg("app")
            .arg("--python-path")
            .arg(guest_dir)
            .arg("--output")
            .arg(tmp)
            // Building imports app.py; a __pycache__ in the source folder would be noise.
            .env("PYTHONDONTWRITEBYTECODE", "1");
        cmd
    })?;
    // componentize-py's embedded interpreter writes bytecode anyway (the variable does not
    // reach it); remove it so a build leaves the source folder as it was.
    let _ = fs::remove_dir_all(guest_dir.join("__pycache__"));
    Ok(out)
}

fn guest_name(guest_dir: &Path) -> String {
    guest_dir
        .file_name()
        .and_then(OsStr::to_str)
        .unwrap_or("guest")
        .to_string()
}

/// Runs the command `make(tmp)` unless `out` is newer than every source and the WIT contract
/// and was built by the same tool version (`stamp`). The command writes to a temporary path
/// that is renamed into place on success, so an interrupted build never looks finished; a
/// file lock keeps two test processes from building the same guest at once.
fn build_if_stale(
    out: &Path,
    sources: &[PathBuf],
    wit_dir: &Path,
    stamp: &str,
    guest_dir: &Path,
    make: impl FnOnce(&Path) -> Command,
) -> Result<(), ProvisionError> {
    let stamp_path = out.with_extension("tool");
    let inputs: Vec<&Path> = sources
        .iter()
        .map(PathBuf::as_path)
        .chain([wit_dir])
        .collect();
    let up_to_date = || {
        modified(out).is_some_and(|built| {
            newest_modification(&inputs).is_some_and(|newest| newest <= built)
                && fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp)
        })
    };
    if up_to_date() {
        return Ok(());
    }
    let dir = out.parent().unwrap_or(out);
    fs::create_dir_all(dir).map_err(|e| io_failure(dir, &e))?;
    let lock = fs::File::create(out.with_extension("lock")).map_err(|e| io_failure(out, &e))?;
    lock.lock().map_err(|e| io_failure(out, &e))?;
    if up_to_date() {
        return Ok(());
    }
    shout(&format!(
        "clickrules: building {} into {} (cached until its sources change)",
        guest_dir.display(),
        out.display()
    ));
    let tmp = out.with_extension("wasm.partial");
    provision::run(make(&tmp), guest_dir)?;
    fs::rename(&tmp, out).map_err(|e| io_failure(out, &e))?;
    fs::write(&stamp_path, stamp).map_err(|e| io_failure(&stamp_path, &e))
}

/// The latest modification time of any file under `paths` (folders are walked), or `None` if
/// one cannot be read, which forces a rebuild.
fn newest_modification(paths: &[&Path]) -> Option<SystemTime> {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in fs::read_dir(&path).ok()? {
                stack.push(entry.ok()?.path());
            }
        } else {
            newest = newest.max(modified(&path)?);
        }
    }
    Some(newest)
}

fn modified(path: &Path) -> Option<SystemTime> {
    fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn io_failure(path: &Path, e: &std::io::Error) -> ProvisionError {
    ProvisionError::Failed {
        command: format!("access {}", path.display()),
        dir: path.parent().unwrap_or(path).to_path_buf(),
        status: e.to_string(),
        output: String::new(),
    }
}
