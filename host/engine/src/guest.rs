//! Loading guests: check the bytes, compile, and link against what the host offers.

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

use crate::WIT_PACKAGE;
use crate::bindings::v0_1_0::ClickHandlerPre;
use crate::decision::{GuestInfo, LoadedFrom};
use crate::error::LoadError;
use crate::prevalidate;
use crate::state::PressState;

/// Largest guest accepted. Interpreter-based guests (JavaScript, Python) are 10–20 MB.
pub const MAX_GUEST_BYTES: usize = 64 << 20;

/// WASI 0.2 packages the host links (all of them deny-all where they reach outside).
const WASI_PACKAGES: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];
/// The contract versions this host implements.
const SUPPORTED_VERSIONS: &str = "0.1.0";

/// A compiled, linked guest, ready for any number of presses. Cheap to share.
pub struct Guest {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) instance_pre: InstancePre<PressState>,
    /// Where `handle` is among the component's exports, looked up once.
    pub(crate) handle: ComponentExportIndex,
    sha256: String,
    size_bytes: u64,
    origin: Origin,
}

/// How a guest's native code came to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Compiled from the `.wasm` by this engine.
    Compiled,
    /// Deserialized from an artifact signed by this key, with this signing sequence.
    SignedArtifact { key_id: String, sequence: u64 },
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest")
            .field("sha256", &self.sha256)
            .field("size_bytes", &self.size_bytes)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl Guest {
    /// SHA-256 of the component bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// Size of the component in bytes.
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Its identity for a decision record; the caller adds where it came from.
    pub fn info(&self) -> GuestInfo {
        let (loaded_from, signed_by) = match &self.origin {
            Origin::Compiled => (LoadedFrom::Compiled, None),
            Origin::SignedArtifact { key_id, .. } => {
                (LoadedFrom::SignedArtifact, Some(key_id.clone()))
            }
        };
        GuestInfo {
            sha256: self.sha256.clone(),
            size_bytes: self.size_bytes,
            loaded_from,
            signed_by,
        }
    }

    /// The signing sequence of the artifact it was loaded from, if it was.
    pub fn artifact_sequence(&self) -> Option<u64> {
        match &self.origin {
            Origin::SignedArtifact { sequence, .. } => Some(*sequence),
            Origin::Compiled => None,
        }
    }

    /// Whether it was loaded from a signed precompiled artifact rather than compiled here.
    pub fn is_precompiled(&self) -> bool {
        matches!(self.origin, Origin::SignedArtifact { .. })
    }
}

/// A guest's bytes and their SHA-256, computed once: a 20 MB interpreter guest takes tens of
/// milliseconds to hash, and a download is hashed to tell whether it changed.
#[derive(Clone, PartialEq, Eq)]
pub struct GuestBytes {
    bytes: Vec<u8>,
    sha256: String,
}

impl GuestBytes {
    /// Takes `bytes` and hashes them.
    pub fn new(bytes: Vec<u8>) -> Self {
        let sha256 = sha256_hex(&bytes);
        Self { bytes, sha256 }
    }

    /// SHA-256 of the bytes, lowercase hex.
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// How many bytes.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl std::fmt::Debug for GuestBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestBytes")
            .field("len", &self.bytes.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// SHA-256 of `bytes`, lowercase hex: the identity guests are cached and recorded under.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Cheap checks before compiling, so common mistakes get a precise message.
pub(crate) fn check_bytes(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.is_empty() {
        return Err(LoadError::Empty);
    }
    if bytes.len() > MAX_GUEST_BYTES {
        return Err(LoadError::TooLarge {
            size: bytes.len(),
            max: MAX_GUEST_BYTES,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(LoadError::NotWasm);
    }
    // After the magic comes a version word: 1 for core modules, 0x0001000d for components.
    if bytes.get(4..8) == Some(&[1, 0, 0, 0]) {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

/// Everything checked before bytes are compiled: the cheap checks, then the structural limits
/// that keep a hostile upload from costing minutes and gigabytes of compile.
pub(crate) fn check_before_compile(bytes: &[u8]) -> Result<(), LoadError> {
    check_bytes(bytes)?;
    prevalidate::check(bytes)
}

pub(crate) fn compile(
    engine: &wasmtime::Engine,
    linker: &Linker<PressState>,
    bytes: &[u8],
    sha256: String,
) -> Result<Guest, LoadError> {
    check_before_compile(bytes)?;
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Invalid {
        message: error_text(&e),
    })?;
    link(
        engine,
        linker,
        &component,
        sha256,
        bytes.len() as u64,
        Origin::Compiled,
    )
}

/// Checks a compiled component against the contract and prepares it for instantiation.
pub(crate) fn link(
    engine: &wasmtime::Engine,
    linker: &Linker<PressState>,
    component: &Component,
    sha256: String,
    size_bytes: u64,
    origin: Origin,
) -> Result<Guest, LoadError> {
    let ty = component.component_type();

    if ty.get_export(engine, "handle").is_none() {
        let found: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
        return Err(LoadError::MissingExport {
            package: WIT_PACKAGE,
            export: "handle",
            found: if found.is_empty() {
                "none".into()
            } else {
                found.join(", ")
            },
        });
    }
    for (name, _) in ty.imports(engine) {
        check_import(name)?;
    }

    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| LoadError::Invalid {
            message: error_text(&e),
        })?;
    // The generated bindings type-check `handle` against the contract; the press itself reads
    // the result with bounded lifting (see `call`), through the same export.
    ClickHandlerPre::new(instance_pre.clone()).map_err(|e| LoadError::WrongExportType {
        package: WIT_PACKAGE,
        message: error_text(&e),
    })?;
    let handle =
        component
            .get_export_index(None, "handle")
            .ok_or_else(|| LoadError::MissingExport {
                package: WIT_PACKAGE,
                export: "handle",
                found: "none".into(),
            })?;
    Ok(Guest {
        engine: engine.clone(),
        instance_pre,
        handle,
        sha256,
        size_bytes,
        origin,
    })
}

/// Names the first import the host cannot satisfy; the linker's own error is less specific.
fn check_import(name: &str) -> Result<(), LoadError> {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let Some((package, _interface)) = path.split_once('/') else {
        return Err(LoadError::UnsupportedImport {
            import: name.to_string(),
        });
    };
    match package.split_once(':') {
        Some(("clickrules", "handler")) if version == SUPPORTED_VERSIONS => Ok(()),
        Some(("clickrules", "handler")) => Err(LoadError::UnsupportedVersion {
            import: name.to_string(),
            supported: SUPPORTED_VERSIONS,
        }),
        Some(("wasi", pkg)) if WASI_PACKAGES.contains(&pkg) && version.starts_with("0.2.") => {
            Ok(())
        }
        _ => Err(LoadError::UnsupportedImport {
            import: name.to_string(),
        }),
    }
}

/// wasmtime's error with its causes, on one line.
pub(crate) fn error_text(e: &wasmtime::Error) -> String {
    let mut text = String::new();
    for (i, cause) in e.chain().enumerate() {
        if i > 0 {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
    }
    text
}
