//! Per-press store state: the deny-all WASI context, captured output, what the guest logged,
//! and the press's wall-clock deadline.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::capture::CappedPipe;
use crate::decision::{LogEntry, LogLevel, Output};
use crate::device_state::StateBuffer;
use crate::limiter::MemoryLimiter;
use crate::replay::{PressClock, PressSeed};

/// Bytes of stdout and of stderr kept per press.
pub(crate) const MAX_STREAM_BYTES: usize = 16 * 1024;
/// `host.log` lines kept per press.
pub(crate) const MAX_LOG_LINES: usize = 100;
/// Bytes kept of one `host.log` line.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 1024;
/// Largest `get-random-bytes` answer. The host allocates the bytes before the guest's memory
/// cap can refuse them, so an unbounded request would allocate outside the sandbox; interpreter
/// guests ask for 16-32 bytes of seed at start-up.
pub(crate) const MAX_RANDOM_BYTES: u64 = 64 * 1024;
/// Host-side WASI resources (streams, pollables) alive at once. Each costs host memory that the
/// guest's cap does not count; interpreter guests hold a handful.
pub(crate) const MAX_WASI_RESOURCES: usize = 4096;

pub(crate) struct PressState {
    /// Built on the guest's first WASI call: most presses make none, and building the context
    /// (streams, clocks, a seeded random source) is a measurable part of a warm press.
    wasi: Option<WasiCtx>,
    pub(crate) table: ResourceTable,
    stdout: CappedPipe,
    stderr: CappedPipe,
    pub(crate) limiter: MemoryLimiter,
    logs: Vec<LogEntry>,
    logs_dropped: u64,
    settings: Arc<BTreeMap<String, String>>,
    /// When the press must end, in wall time. Epoch ticks only trigger the check against it:
    /// under CPU throttling the ticker thread runs late, and counting ticks would stretch the
    /// deadline with it.
    pub(crate) deadline: Instant,
    /// The pressing device's state, with this press's writes buffered on top.
    pub(crate) device: StateBuffer,
    /// What the guest's wall clock reads (the press's time) and where its random bytes come
    /// from, so a replay sees what the original press saw.
    wall_ms: u64,
    seed: PressSeed,
}

impl PressState {
    pub(crate) fn new(
        settings: Arc<BTreeMap<String, String>>,
        memory_limit: u64,
        deadline: Instant,
        wall_ms: u64,
        seed: PressSeed,
    ) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_WASI_RESOURCES);
        Self {
            wasi: None,
            table,
            stdout: CappedPipe::new(MAX_STREAM_BYTES),
            stderr: CappedPipe::new(MAX_STREAM_BYTES),
            limiter: MemoryLimiter::new(memory_limit),
            logs: Vec::new(),
            logs_dropped: 0,
            settings,
            deadline,
            device: StateBuffer::default(),
            wall_ms,
            seed,
        }
    }

    /// Time left before the deadline; zero once it has passed.
    pub(crate) fn time_left(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.logs_dropped += 1;
            return;
        }
        self.logs.push(LogEntry { level, message });
    }

    pub(crate) fn setting(&self, key: &str) -> Option<&str> {
        self.settings.get(key).map(String::as_str)
    }

    /// The output, and the device state buffer (the state use the press made).
    pub(crate) fn finish(mut self) -> (Output, StateBuffer) {
        let device = std::mem::take(&mut self.device);
        (self.into_output(), device)
    }

    pub(crate) fn into_output(self) -> Output {
        let (stdout, out_dropped) = self.stdout.take();
        let (stderr, err_dropped) = self.stderr.take();
        Output {
            logs: self.logs,
            logs_dropped: self.logs_dropped,
            stdout,
            stderr,
            output_dropped_bytes: out_dropped + err_dropped,
        }
    }
}

impl WasiView for PressState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (stdout, stderr) = (&self.stdout, &self.stderr);
        let (wall_ms, seed) = (self.wall_ms, self.seed);
        let ctx = self.wasi.get_or_insert_with(|| {
            // No preopens, env, args or stdin; sockets and name lookup refused. Clocks and
            // random stay: guests from other languages' toolchains read them during start-up.
            // Both are the press's own (its time, its seed), so a replay is exact.
            let (secure, insecure, insecure_seed) = seed.generators();
            WasiCtx::builder()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .max_random_size(MAX_RANDOM_BYTES)
                .wall_clock(PressClock::at_ms(wall_ms))
                .secure_random(secure)
                .insecure_random(insecure)
                .insecure_random_seed(insecure_seed)
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

/// The first `max` bytes of `s` (fewer, to end on a character boundary), copied, with `...`
/// when cut: how guest-supplied text of any length is kept without copying all of it.
pub(crate) fn prefix(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut kept = s[..floor_char_boundary(s, max)].to_string();
    kept.push_str("...");
    kept
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}
