//! Signed precompiled guests, the engine's half: compiling and signing a guest for any
//! architecture, and loading an artifact only once it matches this host, this engine and where
//! the guest is deployed. The envelope and its signature are [`crate::artifact`]'s half.

use std::sync::{Arc, PoisonError};

use wasmtime::component::Component;

use super::Engine;
use crate::arch::Arch;
use crate::artifact::{self, ArtifactBinding, ArtifactExpectation, ArtifactHeader};
use crate::artifact_error::ArtifactError;
use crate::error::LoadError;
use crate::guest::{self, Guest, Origin, error_text, sha256_hex};
use crate::keys::{ArtifactSigner, TrustedKeys};

impl Engine {
    /// Compiles a guest for `arch` (on any host) and signs the result, bound to where the guest
    /// is deployed and when it was signed, so a Lambda of that architecture that trusts
    /// `signer`'s public key can skip compiling it, for that location, until a newer one is
    /// signed.
    pub fn precompile(
        &self,
        wasm: &[u8],
        arch: Arch,
        signer: &ArtifactSigner,
        binding: &ArtifactBinding,
    ) -> Result<Vec<u8>, ArtifactError> {
        guest::check_before_compile(wasm)?;
        let compile_error = |e: wasmtime::Error| ArtifactError::Compile {
            arch,
            message: error_text(&e),
        };
        let target = self.code_engine(arch).map_err(compile_error)?;
        let native = target.precompile_component(wasm).map_err(compile_error)?;
        let header = ArtifactHeader {
            format: 0,
            arch: arch.as_str().to_string(),
            engine: artifact::engine_hash(&target),
            source_sha256: sha256_hex(wasm),
            source_size: wasm.len() as u64,
            location: binding.location.clone(),
            sequence: binding.sequence,
            native_blake3: String::new(),
            native_size: 0,
            key_id: String::new(),
        };
        Ok(artifact::seal(header, &native, signer))
    }

    /// Loads a guest from a signed artifact. The signature, architecture, engine, source,
    /// location and sequence are all checked before the native code is deserialized; any
    /// mismatch is an error and nothing is loaded. A loaded artifact's sequence becomes the
    /// oldest this engine accepts for its location.
    pub fn load_artifact(
        &self,
        artifact: &[u8],
        expected: &ArtifactExpectation<'_>,
        trusted: &TrustedKeys,
    ) -> Result<Arc<Guest>, ArtifactError> {
        let source_sha256 = expected.source_sha256;
        let host = Arch::host().ok_or(ArtifactError::UnsupportedHost)?;
        let (header, native) = artifact::open(artifact, trusted)?;
        if header.arch != host.as_str() {
            return Err(ArtifactError::WrongArch {
                artifact: header.arch,
                host: host.as_str().to_string(),
            });
        }
        let engine = self.engine_hash()?;
        if header.engine != engine {
            return Err(ArtifactError::WrongEngine {
                artifact: header.engine,
                host: engine,
            });
        }
        if header.source_sha256 != source_sha256 {
            return Err(ArtifactError::WrongSource {
                artifact: header.source_sha256,
                expected: source_sha256.to_string(),
            });
        }
        if header.location != expected.location {
            return Err(ArtifactError::WrongLocation {
                artifact: header.location,
                expected: expected.location.to_string(),
            });
        }
        let newest = self.artifact_floor(expected.location);
        if header.sequence < newest {
            return Err(ArtifactError::Replayed {
                location: header.location,
                sequence: header.sequence,
                newest,
            });
        }
        self.raise_artifact_floor(expected.location, header.sequence);
        if let Some(hit) = self
            .cached(source_sha256)
            .filter(|hit| hit.artifact_sequence().is_none_or(|s| s >= header.sequence))
        {
            return Ok(hit);
        }
        let component = deserialize_verified(&self.wasmtime, native)?;
        let guest = guest::link(
            &self.wasmtime,
            &self.linker,
            &component,
            header.source_sha256,
            header.source_size,
            Origin::SignedArtifact {
                key_id: header.key_id,
                sequence: header.sequence,
            },
        )?;
        Ok(self.remember(guest))
    }

    /// The oldest artifact sequence accepted for `location`: the newest loaded (or raised to).
    pub fn artifact_floor(&self, location: &str) -> u64 {
        let floor = self
            .artifact_floor
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        floor.get(location).copied().unwrap_or(0)
    }

    /// Refuses artifacts for `location` older than `sequence` from now on, e.g. from a floor
    /// kept in durable storage across cold starts. Never lowers it.
    pub fn raise_artifact_floor(&self, location: &str, sequence: u64) {
        let mut floor = self
            .artifact_floor
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let newest = floor.entry(location.to_string()).or_insert(0);
        *newest = (*newest).max(sequence);
    }

    /// The compatibility hash artifacts for this host must carry: wasmtime's version, the
    /// target, Cranelift's flags and every setting that shapes generated code.
    pub fn engine_hash(&self) -> Result<String, ArtifactError> {
        self.host_engine_hash
            .get_or_init(|| {
                let arch = Arch::host().ok_or(ArtifactError::UnsupportedHost)?;
                self.code_engine(arch)
                    .map(|e| artifact::engine_hash(&e))
                    .map_err(|e| ArtifactError::Compile {
                        arch,
                        message: error_text(&e),
                    })
            })
            .clone()
    }

    /// A compile-only engine for `arch`. The target is always named, even for this host, so
    /// code uses the architecture's baseline features rather than this machine's CPU: the
    /// hash then matches on every machine of that architecture, and wasmtime still refuses
    /// at load any feature the running CPU lacks.
    fn code_engine(&self, arch: Arch) -> wasmtime::Result<wasmtime::Engine> {
        let mut config = self.code_config.clone();
        config.target(arch.triple())?;
        wasmtime::Engine::new(&config)
    }
}

/// Deserializes native code whose signature, architecture, engine and source were verified.
#[allow(unsafe_code)]
fn deserialize_verified(engine: &wasmtime::Engine, native: &[u8]) -> Result<Component, LoadError> {
    // SAFETY: `Component::deserialize` trusts its input to be wasmtime's own output. The caller
    // verified an Ed25519 signature by a trusted key over a header naming these bytes' SHA-256,
    // this host's architecture and this engine's compatibility hash; wasmtime checks its own
    // version and the CPU's features on top.
    unsafe { Component::deserialize(engine, native) }.map_err(|e| LoadError::Invalid {
        message: error_text(&e),
    })
}
