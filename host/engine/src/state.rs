//! Per-press store state: the deny-all WASI context, captured output, and the `host` interface.

use std::collections::BTreeMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::v0_1_0::clickrules::handler::{host, types};
use crate::capture::CappedPipe;
use crate::decision::{LogEntry, LogLevel, Output};
use crate::limiter::MemoryLimiter;

/// Bytes of stdout and of stderr kept per press.
pub(crate) const MAX_STREAM_BYTES: usize = 16 * 1024;
/// `host.log` lines kept per press.
pub(crate) const MAX_LOG_LINES: usize = 100;
/// Bytes kept of one `host.log` line.
pub(crate) const MAX_LOG_LINE_BYTES: usize = 1024;

pub(crate) struct PressState {
    /// Built on the guest's first WASI call: most presses make none, and building the context
    /// (streams, clocks, a seeded random source) is a measurable part of a warm press.
    wasi: Option<WasiCtx>,
    table: ResourceTable,
    stdout: CappedPipe,
    stderr: CappedPipe,
    pub(crate) limiter: MemoryLimiter,
    logs: Vec<LogEntry>,
    logs_dropped: u64,
    settings: Arc<BTreeMap<String, String>>,
}

impl PressState {
    pub(crate) fn new(settings: Arc<BTreeMap<String, String>>, memory_limit: u64) -> Self {
        Self {
            wasi: None,
            table: ResourceTable::new(),
            stdout: CappedPipe::new(MAX_STREAM_BYTES),
            stderr: CappedPipe::new(MAX_STREAM_BYTES),
            limiter: MemoryLimiter::new(memory_limit),
            logs: Vec::new(),
            logs_dropped: 0,
            settings,
        }
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
        let ctx = self.wasi.get_or_insert_with(|| {
            // No preopens, env, args or stdin; sockets and name lookup refused. Clocks and
            // random stay: guests from other languages' toolchains read them during start-up.
            WasiCtx::builder()
                .stdout(stdout.clone())
                .stderr(stderr.clone())
                .allow_tcp(false)
                .allow_udp(false)
                .allow_ip_name_lookup(false)
                .build()
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}

impl types::Host for PressState {}

impl host::Host for PressState {
    fn log(&mut self, level: host::Level, message: String) {
        if self.logs.len() >= MAX_LOG_LINES {
            self.logs_dropped += 1;
            return;
        }
        let level = match level {
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        };
        self.logs.push(LogEntry {
            level,
            message: truncate(message, MAX_LOG_LINE_BYTES),
        });
    }

    fn config(&mut self, key: String) -> Option<String> {
        self.settings.get(&key).cloned()
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str("...");
    }
    s
}
