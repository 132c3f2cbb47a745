//! Loading guests: check the bytes, compile, and link against what the host offers.

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, ComponentExportIndex, InstancePre, Linker};

use crate::bindings::{Contract, STATE_INTERFACE, v0_1_0, v0_2_0};
use crate::decision::{GuestInfo, LoadedFrom};
use crate::error::LoadError;
use crate::prevalidate;
use crate::state::PressState;

/// Largest guest accepted. Interpreter-based guests (JavaScript, Python) are 10–20 MB.
pub const MAX_GUEST_BYTES: usize = 64 << 20;

/// WASI 0.2 packages the host links (all of them deny-all where they reach outside).
const WASI_PACKAGES: [&str; 6] = ["cli", "clocks", "filesystem", "io", "random", "sockets"];
/// The contract versions this host implements, for messages.
const SUPPORTED_VERSIONS: &str = "0.1.0, 0.2.0";

/// A compiled, linked guest, ready for any number of presses. Cheap to share.
pub struct Guest {
    pub(crate) engine: wasmtime::Engine,
    pub(crate) instance_pre: InstancePre<PressState>,
    /// Where `handle` is among the component's exports, looked up once.
    pub(crate) handle: ComponentExportIndex,
    /// Which contract it implements.
    pub(crate) contract: Contract,
    /// Whether it imports the state interface.
    pub(crate) uses_state: bool,
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

    /// The contract version it implements.
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// Whether it uses per-device state (imports `clickrules:handler/state`): such a guest needs
    /// a state store (the press ledger), and only its presses read one.
    pub fn uses_state(&self) -> bool {
        self.uses_state
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
    // The newest version first: a component offering both exports is a 0.2.0 guest.
    let contract = [Contract::V0_2, Contract::V0_1]
        .into_iter()
        .find(|c| ty.get_export(engine, c.export()).is_some())
        .ok_or_else(|| {
            let found: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
            LoadError::MissingExport {
                package: "clickrules:handler@0.1.0 or @0.2.0",
                export: "handle",
                found: if found.is_empty() {
                    "none".into()
                } else {
                    found.join(", ")
                },
            }
        })?;
    let mut uses_state = false;
    for (name, _) in ty.imports(engine) {
        check_import(name, contract)?;
        uses_state |= name == STATE_INTERFACE;
    }

    let instance_pre = linker
        .instantiate_pre(component)
        .map_err(|e| LoadError::Invalid {
            message: error_text(&e),
        })?;
    // The generated bindings type-check `handle` against the contract; the press itself reads
    // the result with bounded lifting (see `call`), through the same export.
    let typecheck = match contract {
        Contract::V0_1 => v0_1_0::ClickHandlerPre::new(instance_pre.clone()).map(|_| ()),
        Contract::V0_2 => v0_2_0::ClickHandlerPre::new(instance_pre.clone()).map(|_| ()),
    };
    typecheck.map_err(|e| LoadError::WrongExportType {
        package: contract.package(),
        message: error_text(&e),
    })?;
    let missing = || LoadError::MissingExport {
        package: contract.package(),
        export: "handle",
        found: contract.export().into(),
    };
    let handle = match contract {
        Contract::V0_1 => component.get_export_index(None, "handle"),
        Contract::V0_2 => component
            .get_export_index(None, contract.export())
            .and_then(|iface| component.get_export_index(Some(&iface), "handle")),
    }
    .ok_or_else(missing)?;
    Ok(Guest {
        engine: engine.clone(),
        instance_pre,
        handle,
        contract,
        uses_state,
        sha256,
        size_bytes,
        origin,
    })
}

/// Names the first import the host cannot satisfy; the linker's own error is less specific.
/// A guest imports the contract version it exports.
fn check_import(name: &str, contract: Contract) -> Result<(), LoadError> {
    let (path, version) = name.split_once('@').unwrap_or((name, ""));
    let Some((package, _interface)) = path.split_once('/') else {
        return Err(LoadError::UnsupportedImport {
            import: name.to_string(),
        });
    };
    match package.split_once(':') {
        Some(("clickrules", "handler")) if version == contract.version() => Ok(()),
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
