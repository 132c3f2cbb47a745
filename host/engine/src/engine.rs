//! The engine: one wasmtime `Engine`, a linker, a cache of compiled guests, and `press`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::component::{Component, Linker, ResourceTableError};
use wasmtime::{
    Enabled, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap, UpdateDeadline,
};

use crate::action::{Action, ValidationPolicy, validate_actions, validate_region};
use crate::artifact::{
    self, Arch, ArtifactBinding, ArtifactError, ArtifactExpectation, ArtifactHeader,
};
use crate::bindings::v0_1_0::clickrules::handler::types as wit;
use crate::call::{Returned, call_handle, with_true_length};
use crate::config::{ConfigError, DEFAULT_MAX_CONCURRENT_PRESSES, EngineConfig, Limits};
use crate::decision::{Decision, Output};
use crate::epoch::EpochTicker;
use crate::error::{LoadError, PressError};
use crate::event::{Click, ClickType, normalise_event};
use crate::guest::{self, Guest, GuestBytes, Origin, error_text, sha256_hex};
use crate::keys::{ArtifactSigner, TrustedKeys};
use crate::limiter::{MAX_TABLE_ELEMENTS, MemoryLimitExceeded};
use crate::off_runtime::run_off_runtime;
use crate::regions::is_known_region;
use crate::state::{MAX_WASI_RESOURCES, PressState};
use crate::wasi_bounds::{HostLimitExceeded, WaitPastDeadline};
use crate::{host_fns, wasi_bounds};

/// Compiled guests kept; a hot swap adds one, and old ones age out.
const MAX_CACHED_GUESTS: usize = 8;
/// Pool sizing per component. Interpreter guests built by componentize-py link a dozen or so
/// core modules sharing one memory; these leave room for that.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 16;
/// With PAGEMAP_SCAN, dirty pages up to this much per memory are reset in place.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;
/// Guests that failed to load, remembered so the same bytes are refused without compiling
/// them again (a broken upload is pressed until someone fixes it).
const MAX_REMEMBERED_FAILURES: usize = 32;
/// The host interface of the contract version this engine serves.
const HOST_INTERFACE: &str = "clickrules:handler/host@0.1.0";

/// Runs guests. Build one per process and share it: it is `Send + Sync`, and presses may run
/// concurrently, each in its own store.
pub struct Engine {
    wasmtime: wasmtime::Engine,
    linker: Linker<PressState>,
    limits: Limits,
    settings: Arc<BTreeMap<String, String>>,
    policy: ValidationPolicy,
    cache: Mutex<GuestCache>,
    /// The settings that shape generated code, without the pooling allocator (which does not):
    /// precompiling for another architecture starts from these.
    code_config: wasmtime::Config,
    /// Compatibility hash an artifact for this host must carry, computed on first use.
    host_engine_hash: OnceLock<Result<String, ArtifactError>>,
    /// The newest artifact sequence loaded per guest location: an older one is a replay.
    artifact_floor: Mutex<HashMap<String, u64>>,
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("limits", &self.limits)
            .field("settings", &self.settings)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct GuestCache {
    by_sha: HashMap<String, Arc<Guest>>,
    order: VecDeque<String>,
    failed: HashMap<String, LoadError>,
    failed_order: VecDeque<String>,
}

impl Engine {
    /// Builds the runtime: pooling allocator sized for the limits, fuel, epoch deadlines, and
    /// a linker offering `clickrules:handler/host` plus deny-all WASI.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.limits.validate()?;
        if let Some(bad) = config.allowed_regions.iter().flatten().find(|r| {
            !validate_region(r) || (!config.allow_unlisted_regions && !is_known_region(r))
        }) {
            return Err(ConfigError::BadAllowedRegion {
                region: bad.clone(),
            });
        }
        let slots = match config.max_concurrent_presses {
            0 => DEFAULT_MAX_CONCURRENT_PRESSES,
            n => n,
        };
        let runtime = |e: wasmtime::Error| ConfigError::Runtime {
            message: error_text(&e),
        };

        // Where the kernel can report which pages a press dirtied (PAGEMAP_SCAN, Linux 6.7+),
        // reset just those with memset and keep them mapped: no page faults on the next press.
        // Elsewhere (Lambda's kernel among them) keep the default madvise reset, since a blind
        // memset of the whole resident range would cost more than the faults it saves.
        let code_config = code_config();
        let engine = wasmtime::Engine::new(&runtime_config(&config, slots, true))
            .or_else(|_| wasmtime::Engine::new(&runtime_config(&config, slots, false)))
            .map_err(runtime)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(runtime)?;
        wasi_bounds::add_to_linker(&mut linker).map_err(runtime)?;
        host_fns::add_to_linker(&mut linker, HOST_INTERFACE).map_err(runtime)?;

        let ticker = EpochTicker::start(engine.clone()).map_err(|e| ConfigError::Runtime {
            message: format!("could not start the deadline thread: {e}"),
        })?;
        Ok(Self {
            wasmtime: engine,
            linker,
            limits: config.limits,
            settings: Arc::new(config.settings),
            policy: ValidationPolicy {
                allowed_regions: config.allowed_regions,
                allow_unlisted_regions: config.allow_unlisted_regions,
            },
            cache: Mutex::default(),
            code_config,
            host_engine_hash: OnceLock::new(),
            artifact_floor: Mutex::default(),
            _ticker: ticker,
        })
    }

    /// The limits every press runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles and links a guest, or returns the cached one with the same SHA-256. Bytes
    /// that failed before fail again with the same error, without being compiled again.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Guest>, LoadError> {
        self.load_hashed(bytes, sha256_hex(bytes))
    }

    /// As [`load`](Self::load), for bytes whose SHA-256 was computed once already (an S3
    /// source hashes a download to tell whether it changed).
    pub fn load_bytes(&self, guest: &GuestBytes) -> Result<Arc<Guest>, LoadError> {
        self.load_hashed(guest.as_slice(), guest.sha256().to_string())
    }

    fn load_hashed(&self, bytes: &[u8], sha: String) -> Result<Arc<Guest>, LoadError> {
        guest::check_bytes(bytes)?;
        if let Some(hit) = self.cached(&sha) {
            return Ok(hit);
        }
        if let Some(failed) = self.failed(&sha) {
            return Err(failed);
        }
        // Compile outside the lock: it takes milliseconds to seconds, and presses must not wait.
        match guest::compile(&self.wasmtime, &self.linker, bytes, sha.clone()) {
            Ok(compiled) => Ok(self.remember(compiled)),
            Err(e) => {
                self.remember_failure(sha, &e);
                Err(e)
            }
        }
    }

    /// The error the guest with this SHA-256 failed to load with, if it did.
    pub fn failed(&self, sha256: &str) -> Option<LoadError> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.failed.get(sha256).cloned()
    }

    fn remember_failure(&self, sha: String, error: &LoadError) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.failed.contains_key(&sha) {
            return;
        }
        if cache.failed_order.len() >= MAX_REMEMBERED_FAILURES
            && let Some(oldest) = cache.failed_order.pop_front()
        {
            cache.failed.remove(&oldest);
        }
        cache.failed_order.push_back(sha.clone());
        cache.failed.insert(sha, error.clone());
    }

    fn remember(&self, guest: Guest) -> Arc<Guest> {
        let sha = guest.sha256().to_string();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        // A guest re-signed later (a rollback) replaces its older copy, so the cache always
        // holds the newest signature's sequence for it.
        let newer = |raced: &Guest| guest.artifact_sequence() > raced.artifact_sequence();
        if let Some(raced) = cache.by_sha.get(&sha)
            && !newer(raced)
        {
            return Arc::clone(raced);
        }
        if let Some(old) = cache.by_sha.remove(&sha) {
            cache.order.retain(|s| *s != sha);
            drop(old);
        }
        if cache.order.len() >= MAX_CACHED_GUESTS
            && let Some(oldest) = cache.order.pop_front()
        {
            cache.by_sha.remove(&oldest);
        }
        let guest = Arc::new(guest);
        cache.order.push_back(sha.clone());
        cache.by_sha.insert(sha, Arc::clone(&guest));
        guest
    }

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

    /// The compiled guest with this SHA-256 (lowercase hex), if it is cached.
    pub fn cached(&self, sha256: &str) -> Option<Arc<Guest>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.by_sha.get(sha256).cloned()
    }

    /// One press from a raw event: normalise, run the guest, validate. Never panics on bad
    /// input or a misbehaving guest; failures are in [`Decision::error`].
    pub fn press(&self, guest: &Guest, event: &[u8]) -> Decision {
        let start = Instant::now();
        let mut decision = empty_decision(guest);
        match normalise_event(event, now_ms()) {
            Ok(event) => {
                decision.event_format = Some(event.format);
                self.run_anywhere(guest, event.click, &mut decision);
            }
            Err(e) => decision.error = Some(e.into()),
        }
        decision.duration_us = elapsed_us(start);
        decision
    }

    /// One press of an already-normalised click (used by `check` and guest tests).
    pub fn press_click(&self, guest: &Guest, click: Click) -> Decision {
        let start = Instant::now();
        let mut decision = empty_decision(guest);
        self.run_anywhere(guest, click, &mut decision);
        decision.duration_us = elapsed_us(start);
        decision
    }

    /// Runs the guest from any thread, inside an async runtime or not (see `off_runtime`).
    fn run_anywhere(&self, guest: &Guest, click: Click, decision: &mut Decision) {
        if let Err(message) = run_off_runtime(|| self.run(guest, click, decision)) {
            *decision = Decision {
                error: Some(PressError::Internal { message }),
                ..empty_decision(guest)
            };
        }
    }

    fn run(&self, guest: &Guest, click: Click, decision: &mut Decision) {
        let wit_click = wit::Click {
            serial_number: click.serial_number.clone(),
            click_type: match click.click_type {
                ClickType::Single => wit::ClickType::Single,
                ClickType::Double => wit::ClickType::Double,
                ClickType::Long => wit::ClickType::Long,
            },
            battery_mv: click.battery_mv,
            received_at_ms: click.received_at_ms,
        };
        decision.click = Some(click);
        if !wasmtime::Engine::same(&guest.engine, &self.wasmtime) {
            decision.error = Some(PressError::Instantiate {
                message: "the guest was loaded by a different engine; load it with this one".into(),
            });
            return;
        }

        let limits = self.limits;
        let started = Instant::now();
        let mut store = Store::new(
            &self.wasmtime,
            PressState::new(
                Arc::clone(&self.settings),
                limits.memory_bytes,
                started + limits.timeout,
            ),
        );
        store.limiter(|state| &mut state.limiter);
        if let Err(e) = store.set_fuel(limits.fuel) {
            decision.error = Some(PressError::Instantiate {
                message: error_text(&e),
            });
            return;
        }
        // Every tick the ticker thread makes, compare the wall clock with the deadline. Ticks
        // alone would make the deadline as late as the ticker: under CPU throttling (a 128 MB
        // Lambda gets a fraction of a vCPU) a 1000 ms deadline counted in ticks lasted 11 s.
        store.epoch_deadline_callback(|store| {
            if Instant::now() >= store.data().deadline {
                Err(wasmtime::Error::new(Trap::Interrupt))
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.set_epoch_deadline(1);

        let outcome = match guest.instance_pre.instantiate(&mut store) {
            Ok(instance) => call_handle(&mut store, &instance, &guest.handle, wit_click)
                .map_err(|e| classify(&e, &limits, false)),
            Err(e) => Err(classify(&e, &limits, true)),
        };
        // A host call can return after the deadline (a wait ends exactly at it) and the guest
        // can then return without reaching another check: the press still ran too long.
        let outcome = match outcome {
            Ok(_) if started.elapsed() > limits.timeout => Err(PressError::Deadline {
                timeout_ms: limits.timeout.as_millis() as u64,
            }),
            other => other,
        };

        decision.instructions = limits.fuel - store.get_fuel().unwrap_or(0);
        decision.peak_memory_bytes = store.data().limiter.peak();

        decision.error = match outcome {
            Ok(Returned::Actions(lifted)) => {
                let actions: Vec<Action> = lifted.iter().map(|l| l.action.clone()).collect();
                match validate_actions(&actions, &self.policy) {
                    Ok(()) => {
                        decision.actions = actions;
                        None
                    }
                    Err(e) => Some(with_true_length(e, &lifted).into()),
                }
            }
            Ok(Returned::TooMany(count)) => Some(PressError::InvalidActions(
                crate::ValidationError::TooManyActions {
                    count,
                    max: crate::action::MAX_ACTIONS,
                },
            )),
            Ok(Returned::GuestError(message)) => Some(PressError::GuestError { message }),
            Err(e) => Some(e),
        };
        decision.output = store.into_data().into_output();
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

/// The settings that shape generated code. The runtime engine adds the pooling allocator, which
/// does not, so an artifact made from these loads into it.
fn code_config() -> wasmtime::Config {
    let mut wasm = wasmtime::Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true);
    wasm
}

fn runtime_config(config: &EngineConfig, slots: u32, pagemap_scan: bool) -> wasmtime::Config {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_core_instances(slots * CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots * MEMORIES_PER_COMPONENT)
        .total_tables(slots * TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_memory_size(round_up_to_page(config.limits.memory_bytes))
        .table_elements(MAX_TABLE_ELEMENTS);
    if pagemap_scan {
        pool.pagemap_scan(Enabled::Yes)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(KEEP_RESIDENT_BYTES);
    }
    let mut wasm = code_config();
    wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    wasm
}

fn empty_decision(guest: &Guest) -> Decision {
    Decision {
        event_format: None,
        click: None,
        guest: guest.info(),
        actions: Vec::new(),
        error: None,
        instructions: 0,
        peak_memory_bytes: 0,
        duration_us: 0,
        output: Output::default(),
    }
}

/// Turns a wasmtime failure into the typed reason the record reports.
fn classify(e: &wasmtime::Error, limits: &Limits, instantiating: bool) -> PressError {
    if let Some(over) = e.downcast_ref::<MemoryLimitExceeded>() {
        return PressError::MemoryLimit {
            limit_bytes: over.limit,
            requested_bytes: over.requested,
        };
    }
    if e.downcast_ref::<WaitPastDeadline>().is_some() {
        return PressError::Deadline {
            timeout_ms: limits.timeout.as_millis() as u64,
        };
    }
    if let Some(over) = e.downcast_ref::<HostLimitExceeded>() {
        return PressError::HostLimit {
            call: over.call.to_string(),
            unit: over.unit.to_string(),
            requested: over.requested,
            limit: over.limit,
        };
    }
    if let Some(ResourceTableError::Full) = e.downcast_ref::<ResourceTableError>() {
        return PressError::HostLimit {
            call: "WASI".to_string(),
            unit: "open handles".to_string(),
            requested: MAX_WASI_RESOURCES as u64 + 1,
            limit: MAX_WASI_RESOURCES as u64,
        };
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => PressError::Deadline {
            timeout_ms: limits.timeout.as_millis() as u64,
        },
        Some(Trap::OutOfFuel) => PressError::FuelExhausted { fuel: limits.fuel },
        Some(Trap::StackOverflow) => PressError::StackOverflow,
        Some(_) => PressError::Trap {
            trap: error_text(e),
        },
        None if instantiating => PressError::Instantiate {
            message: error_text(e),
        },
        None => PressError::Trap {
            trap: error_text(e),
        },
    }
}

fn round_up_to_page(bytes: u64) -> usize {
    const PAGE: u64 = 64 * 1024;
    usize::try_from(bytes.div_ceil(PAGE) * PAGE).unwrap_or(usize::MAX)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn elapsed_us(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}
