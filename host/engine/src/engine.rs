//! The engine: one wasmtime `Engine`, a linker, a cache of compiled guests, and `press`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Enabled, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

use crate::action::{Action, ValidationPolicy, validate_actions, validate_region};
use crate::artifact::{self, Arch, ArtifactError, ArtifactHeader};
use crate::bindings::v0_1_0::{ClickHandler, clickrules::handler::types as wit};
use crate::config::{ConfigError, DEFAULT_MAX_CONCURRENT_PRESSES, EngineConfig, Limits};
use crate::decision::{Decision, Output};
use crate::epoch::EpochTicker;
use crate::error::{LoadError, PressError};
use crate::event::{Click, ClickType, normalise_event};
use crate::guest::{self, Guest, Origin, error_text, sha256_hex};
use crate::keys::{ArtifactSigner, TrustedKeys};
use crate::limiter::{MAX_TABLE_ELEMENTS, MemoryLimitExceeded};
use crate::state::{PressState, truncate};

/// Compiled guests kept; a hot swap adds one, and old ones age out.
const MAX_CACHED_GUESTS: usize = 8;
/// Pool sizing per component. Interpreter guests built by componentize-py link a dozen or so
/// core modules sharing one memory; these leave room for that.
const CORE_INSTANCES_PER_COMPONENT: u32 = 64;
const MEMORIES_PER_COMPONENT: u32 = 8;
const TABLES_PER_COMPONENT: u32 = 16;
/// With PAGEMAP_SCAN, dirty pages up to this much per memory are reset in place.
const KEEP_RESIDENT_BYTES: usize = 4 << 20;
/// Bytes of a guest's `err(...)` message kept in the record.
const MAX_GUEST_ERROR_BYTES: usize = 1024;

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
}

impl Engine {
    /// Builds the runtime: pooling allocator sized for the limits, fuel, epoch deadlines, and
    /// a linker offering `clickrules:handler/host` plus deny-all WASI.
    pub fn new(config: EngineConfig) -> Result<Self, ConfigError> {
        config.limits.validate()?;
        if let Some(bad) = config
            .allowed_regions
            .iter()
            .flatten()
            .find(|r| !validate_region(r))
        {
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
        ClickHandler::add_to_linker::<PressState, HasSelf<PressState>>(&mut linker, |s| s)
            .map_err(runtime)?;

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
            },
            cache: Mutex::default(),
            code_config,
            host_engine_hash: OnceLock::new(),
            _ticker: ticker,
        })
    }

    /// The limits every press runs under.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Compiles and links a guest, or returns the cached one with the same SHA-256.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Guest>, LoadError> {
        guest::check_bytes(bytes)?;
        let sha = sha256_hex(bytes);
        if let Some(hit) = self.cached(&sha) {
            return Ok(hit);
        }
        // Compile outside the lock: it takes milliseconds to seconds, and presses must not wait.
        let compiled = guest::compile(&self.wasmtime, &self.linker, bytes, sha)?;
        Ok(self.remember(compiled))
    }

    fn remember(&self, guest: Guest) -> Arc<Guest> {
        let sha = guest.sha256().to_string();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(raced) = cache.by_sha.get(&sha) {
            return Arc::clone(raced);
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

    /// Compiles a guest for `arch` (on any host) and signs the result, so a Lambda of that
    /// architecture that trusts `signer`'s public key can skip compiling it.
    pub fn precompile(
        &self,
        wasm: &[u8],
        arch: Arch,
        signer: &ArtifactSigner,
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
            native_blake3: String::new(),
            native_size: 0,
            key_id: String::new(),
        };
        Ok(artifact::seal(header, &native, signer))
    }

    /// Loads the guest whose `.wasm` has SHA-256 `source_sha256` from a signed artifact. The
    /// signature, architecture, engine and source are all checked before the native code is
    /// deserialized; any mismatch is an error and nothing is loaded.
    pub fn load_artifact(
        &self,
        artifact: &[u8],
        source_sha256: &str,
        trusted: &TrustedKeys,
    ) -> Result<Arc<Guest>, ArtifactError> {
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
        if let Some(hit) = self.cached(source_sha256) {
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
            },
        )?;
        Ok(self.remember(guest))
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
                self.run(guest, event.click, &mut decision);
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
        self.run(guest, click, &mut decision);
        decision.duration_us = elapsed_us(start);
        decision
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
        let mut store = Store::new(
            &self.wasmtime,
            PressState::new(Arc::clone(&self.settings), limits.memory_bytes),
        );
        store.limiter(|state| &mut state.limiter);
        if let Err(e) = store.set_fuel(limits.fuel) {
            decision.error = Some(PressError::Instantiate {
                message: error_text(&e),
            });
            return;
        }
        store.set_epoch_deadline(EpochTicker::ticks_for(limits.timeout));

        let outcome = match guest.pre.instantiate(&mut store) {
            Ok(handler) => handler
                .call_handle(&mut store, &wit_click)
                .map_err(|e| classify(&e, &limits, false)),
            Err(e) => Err(classify(&e, &limits, true)),
        };

        decision.instructions = limits.fuel - store.get_fuel().unwrap_or(0);
        decision.peak_memory_bytes = store.data().limiter.peak();
        decision.output = store.into_data().into_output();

        match outcome {
            Ok(Ok(returned)) => {
                let actions: Vec<Action> = returned.into_iter().map(from_wit).collect();
                match validate_actions(&actions, &self.policy) {
                    Ok(()) => decision.actions = actions,
                    Err(e) => decision.error = Some(e.into()),
                }
            }
            Ok(Err(message)) => {
                decision.error = Some(PressError::GuestError {
                    message: truncate(message, MAX_GUEST_ERROR_BYTES),
                });
            }
            Err(e) => decision.error = Some(e),
        }
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

fn from_wit(action: wit::Action) -> Action {
    match action {
        wit::Action::Snapshot(region) => Action::Snapshot { region },
        wit::Action::Notify(n) => Action::Notify {
            subject: n.subject,
            message: n.message,
        },
        wit::Action::Ignore(reason) => Action::Ignore { reason },
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
