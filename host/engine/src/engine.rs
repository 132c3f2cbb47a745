//! The engine: one wasmtime `Engine`, a linker, a cache of compiled guests, and `press`.

mod artifacts;
mod classify;
mod runtime_config;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use wasmtime::component::Linker;
use wasmtime::{Store, Trap, UpdateDeadline};

use self::classify::classify;
use self::runtime_config::{code_config, compile_cache, runtime_config};
use crate::action::{Action, ValidationPolicy, validate_actions, validate_region};
use crate::artifact_error::ArtifactError;
use crate::bindings::{Contract, v0_1_0, v0_2_0};
use crate::call::{Returned, call_handle, with_true_length};
use crate::config::{ConfigError, DEFAULT_MAX_CONCURRENT_PRESSES, EngineConfig, Limits};
use crate::decision::{Decision, Output};
use crate::device_state::{DeviceState, StateBuffer};
use crate::epoch::EpochTicker;
use crate::error::{LoadError, PressError};
use crate::event::{Click, ClickType, EventError, normalise_event};
use crate::guest::{self, Guest, GuestBytes, error_text, sha256_hex};
use crate::off_runtime::run_off_runtime;
use crate::regions::is_known_region;
use crate::replay::{PressInputs, PressSeed};
use crate::state::PressState;
use crate::{host_fns, wasi_bounds};

/// Compiled guests kept; a hot swap adds one, and old ones age out.
const MAX_CACHED_GUESTS: usize = 8;
/// Guests that failed to load, remembered so the same bytes are refused without compiling
/// them again (a broken upload is pressed until someone fixes it).
const MAX_REMEMBERED_FAILURES: usize = 32;

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
        let cache = compile_cache(&config)?;
        let engine = wasmtime::Engine::new(&runtime_config(&config, cache.as_ref(), slots, true))
            .or_else(|_| {
                wasmtime::Engine::new(&runtime_config(&config, cache.as_ref(), slots, false))
            })
            .map_err(runtime)?;

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(runtime)?;
        wasi_bounds::add_to_linker(&mut linker).map_err(runtime)?;
        // One linker serves every contract version: each version's host interface, and the
        // state interface of 0.2.0.
        for contract in Contract::ALL {
            host_fns::add_to_linker(&mut linker, contract.host_interface()).map_err(runtime)?;
        }
        host_fns::add_state_to_linker(&mut linker).map_err(runtime)?;

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

    /// The deployment settings `host.config` serves.
    pub fn settings(&self) -> &Arc<BTreeMap<String, String>> {
        &self.settings
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

    /// The compiled guest with this SHA-256 (lowercase hex), if it is cached.
    pub fn cached(&self, sha256: &str) -> Option<Arc<Guest>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.by_sha.get(sha256).cloned()
    }

    /// One press from a raw event: normalise, run the guest, validate. Never panics on bad
    /// input or a misbehaving guest; failures are in [`Decision::error`].
    pub fn press(&self, guest: &Guest, event: &[u8]) -> Decision {
        let start = Instant::now();
        let inputs = PressInputs::fresh();
        let mut decision = empty_decision(guest, inputs.seed);
        match normalise_event(event, now_ms()) {
            Ok(event) => {
                decision.event_format = Some(event.format);
                match event.presses.into_iter().next() {
                    Some(press) => self.run_anywhere(
                        guest,
                        press.click,
                        &DeviceState::default(),
                        &inputs,
                        &mut decision,
                    ),
                    None => {
                        let detail = event
                            .skipped
                            .first()
                            .map_or_else(|| "no press in it".to_string(), |s| s.detail.clone());
                        decision.error = Some(
                            EventError::NotAPress {
                                format: event.format.as_str(),
                                detail,
                            }
                            .into(),
                        );
                    }
                }
            }
            Err(e) => decision.error = Some(e.into()),
        }
        decision.duration_us = elapsed_us(start);
        decision
    }

    /// One press of an already-normalised click (used by `check` and guest tests), from empty
    /// device state.
    pub fn press_click(&self, guest: &Guest, click: Click) -> Decision {
        self.press_click_with_state(guest, click, &DeviceState::default())
    }

    /// One press of a click with the pressing device's committed state. The decision's `state`
    /// holds the writes; the caller commits them (`state.apply(writes, received_at_ms)`) only
    /// if the press succeeded.
    pub fn press_click_with_state(
        &self,
        guest: &Guest,
        click: Click,
        state: &DeviceState,
    ) -> Decision {
        self.press_with(guest, click, state, &PressInputs::fresh())
    }

    /// One press with everything it reads given: the click, the device's state, and the
    /// seed, settings and deadline in `inputs`. The same inputs give the same decision (a
    /// replay from history); a live press passes a fresh seed.
    pub fn press_with(
        &self,
        guest: &Guest,
        click: Click,
        state: &DeviceState,
        inputs: &PressInputs,
    ) -> Decision {
        let start = Instant::now();
        let mut decision = empty_decision(guest, inputs.seed);
        self.run_anywhere(guest, click, state, inputs, &mut decision);
        decision.duration_us = elapsed_us(start);
        decision
    }

    /// Runs the guest from any thread, inside an async runtime or not (see `off_runtime`).
    fn run_anywhere(
        &self,
        guest: &Guest,
        click: Click,
        state: &DeviceState,
        inputs: &PressInputs,
        decision: &mut Decision,
    ) {
        if let Err(message) = run_off_runtime(|| self.run(guest, click, state, inputs, decision)) {
            *decision = Decision {
                error: Some(PressError::Internal { message }),
                ..empty_decision(guest, inputs.seed)
            };
        }
    }

    fn run(
        &self,
        guest: &Guest,
        click: Click,
        state: &DeviceState,
        inputs: &PressInputs,
        decision: &mut Decision,
    ) {
        // A 0.1.0 guest has no triple press to decide: it is not asked, and the record says so.
        if guest.contract == Contract::V0_1 && click.click_type == ClickType::Triple {
            decision.click = Some(click);
            decision.actions = vec![Action::ignore(TRIPLE_FOR_V0_1)];
            return;
        }
        if !wasmtime::Engine::same(&guest.engine, &self.wasmtime) {
            decision.click = Some(click);
            decision.error = Some(PressError::Instantiate {
                message: "the guest was loaded by a different engine; load it with this one".into(),
            });
            return;
        }

        let mut limits = self.limits;
        if let Some(timeout) = inputs.timeout {
            limits.timeout = limits.timeout.min(timeout);
        }
        let started = Instant::now();
        let settings = inputs
            .settings
            .clone()
            .unwrap_or_else(|| Arc::clone(&self.settings));
        let mut store = match self.press_store(&limits, started, settings, &click, inputs.seed) {
            Ok(store) => store,
            Err(e) => {
                decision.click = Some(click);
                decision.error = Some(e);
                return;
            }
        };
        if guest.uses_state {
            store.data_mut().device = StateBuffer::new(state, click.received_at_ms);
        }

        let outcome = match guest.instance_pre.instantiate(&mut store) {
            Ok(instance) => match guest.contract {
                Contract::V0_1 => {
                    call_handle(&mut store, &instance, &guest.handle, wit_click_v0_1(&click))
                }
                Contract::V0_2 => {
                    call_handle(&mut store, &instance, &guest.handle, wit_click_v0_2(&click))
                }
            }
            .map_err(|e| classify(&e, &limits, false)),
            Err(e) => Err(classify(&e, &limits, true)),
        };
        decision.click = Some(click);
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
        let (output, device) = store.into_data().finish();
        decision.output = output;
        if guest.uses_state {
            let (used, limit) = device.into_use();
            // `set` returned the error; a guest that returns `ok` anyway commits nothing.
            if let (None, Some(message)) = (&decision.error, limit) {
                decision.actions.clear();
                decision.error = Some(PressError::StateLimit { message });
            }
            decision.state = Some(used);
        }
    }

    /// A fresh store per press, so nothing one press leaves in memory, tables or WASI state
    /// reaches the next.
    fn press_store(
        &self,
        limits: &Limits,
        started: Instant,
        settings: Arc<BTreeMap<String, String>>,
        click: &Click,
        seed: PressSeed,
    ) -> Result<Store<PressState>, PressError> {
        let mut store = Store::new(
            &self.wasmtime,
            PressState::new(
                settings,
                limits.memory_bytes,
                started + limits.timeout,
                click.received_at_ms,
                seed,
            ),
        );
        store.limiter(|state| &mut state.limiter);
        store
            .set_fuel(limits.fuel)
            .map_err(|e| PressError::Instantiate {
                message: error_text(&e),
            })?;
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
        Ok(store)
    }
}

fn empty_decision(guest: &Guest, seed: PressSeed) -> Decision {
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
        state: None,
        contract: guest.contract,
        seed,
    }
}

/// Why a 0.1.0 guest's triple press did nothing.
const TRIPLE_FOR_V0_1: &str =
    "triple press: this guest implements clickrules:handler@0.1.0, which has no triple press";

fn wit_click_v0_1(click: &Click) -> v0_1_0::clickrules::handler::types::Click {
    use v0_1_0::clickrules::handler::types::{Click as WitClick, ClickType as Wit};
    WitClick {
        serial_number: click.serial_number.clone(),
        click_type: match click.click_type {
            ClickType::Single => Wit::Single,
            ClickType::Double => Wit::Double,
            ClickType::Long => Wit::Long,
            // Never asked: `run` answers a 0.1.0 guest's triple press itself.
            ClickType::Triple => Wit::Double,
        },
        battery_mv: click.battery_mv,
        received_at_ms: click.received_at_ms,
    }
}

fn wit_click_v0_2(click: &Click) -> v0_2_0::clickrules::handler::types::Click {
    use v0_2_0::clickrules::handler::types::{Click as WitClick, ClickType as Wit};
    WitClick {
        serial_number: click.serial_number.clone(),
        click_type: match click.click_type {
            ClickType::Single => Wit::Single,
            ClickType::Double => Wit::Double,
            ClickType::Triple => Wit::Triple,
            ClickType::Long => Wit::Long,
        },
        battery_mv: click.battery_mv,
        battery_pct: click.battery_pct,
        received_at_ms: click.received_at_ms,
        source: click.source.clone(),
        press_id: click.press_id.clone(),
        utc_offset_minutes: click.utc_offset_minutes,
    }
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
