//! Progress on the slow steps of a command: spinners and bars on stderr.
//!
//! A guest compile (a JavaScript guest takes 10-20 s), precompiling and signing per target,
//! uploads and check sweeps say what they are doing while they do it. A command makes one
//! [`Progress`] from its flags and asks it for a [`Step`] per slow step:
//!
//! ```ignore
//! let progress = args.progress.progress(args.json);          // or Progress::from_flags(..)
//! let step = progress.spinner(format!("compiling {guest} for x86_64"));
//! let compiled = compile()?;                                  // the spinner turns meanwhile
//! step.finish(format!("compiled {guest} for x86_64"));        // leaves "... in 12.3 s"
//!
//! let bar = progress.bar(presses.len() as u64, "checking");   // a bar over N items
//! for press in presses { run(press); bar.inc(1); }
//! bar.clear();                                                // gone before the table prints
//! ```
//!
//! Rules every command gets by using this module:
//!
//! - Everything is drawn on **stderr**; stdout carries only the result.
//! - [`ProgressMode::Auto`] (the default) draws only when stderr is a terminal (and `TERM` is
//!   set and not `dumb`); [`ProgressMode::Always`] draws even to a pipe or a file (CI logs,
//!   tests): there each redraw is one plain line (no escape codes), a spinner's at most once
//!   a second; [`ProgressMode::Never`] draws nothing.
//! - `--json` and `--quiet` win over every mode, `always` included: nothing is drawn. JSON is
//!   for programs, and a program reading a command's stderr must not find bars in it.
//! - A hidden [`Progress`] costs nothing: its steps are hidden bars.
//! - A [`Step`] is cleared when dropped unfinished (a `?` on an error), so an error message
//!   never lands after a half-drawn spinner. Finish or clear every step before printing a result
//!   to stdout: on a terminal, stdout and stderr are the same screen. To print a line to stderr
//!   while a step is drawn, use [`Step::println`] (it prints above the bar).
//! - Spinners tick on their own thread, so they keep turning (and their elapsed time keeps
//!   counting) during a long blocking compile.
//!
//! Subcommands flatten [`crate::args::ProgressArgs`] (`--progress auto|always|never` and
//! `--quiet`) and call its `progress(json)`.

use std::borrow::Cow;
use std::io::{IsTerminal as _, Write as _};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle, TermLike};

/// When progress is drawn (`--progress`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ProgressMode {
    /// Only when stderr is a terminal.
    #[default]
    Auto,
    /// Even when stderr is a pipe or a file (CI logs); not with --json or --quiet.
    Always,
    /// Never.
    Never,
}

/// Where a command's progress goes: stderr, or nowhere. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Progress {
    target: Target,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Hidden,
    /// stderr is a terminal that can redraw.
    Terminal,
    /// stderr is not a terminal, and `--progress always` asked to draw anyway.
    Forced,
}

/// How often a spinner turns on a terminal.
const TICK: Duration = Duration::from_millis(100);
/// How often it turns when forced onto a pipe or a file: every redraw is bytes in a log.
const FORCED_TICK: Duration = Duration::from_secs(1);
/// The width assumed when stderr is not a terminal (`COLUMNS` overrides it).
const FORCED_WIDTH: u16 = 100;

impl Progress {
    /// The progress a command draws under `mode`: nothing with `json` or `quiet`, whatever the
    /// mode; else as [`ProgressMode`] says.
    pub fn from_flags(mode: ProgressMode, json: bool, quiet: bool) -> Self {
        let target = match mode {
            _ if json || quiet => Target::Hidden,
            ProgressMode::Never => Target::Hidden,
            ProgressMode::Auto if stderr_can_redraw() => Target::Terminal,
            ProgressMode::Auto => Target::Hidden,
            ProgressMode::Always if stderr_can_redraw() => Target::Terminal,
            ProgressMode::Always => Target::Forced,
        };
        Self { target }
    }

    /// Progress that draws nothing.
    #[allow(dead_code, reason = "API for the commands to come")]
    pub fn hidden() -> Self {
        Self {
            target: Target::Hidden,
        }
    }

    /// Whether anything is drawn.
    #[allow(dead_code, reason = "API for the commands to come")]
    pub fn is_drawn(&self) -> bool {
        self.target != Target::Hidden
    }

    /// A spinner for a step of unknown length: `⠹ MSG… (3s)`, turning on its own until the
    /// step is finished or cleared.
    pub fn spinner(&self, msg: impl Into<Cow<'static, str>>) -> Step {
        let style =
            ProgressStyle::with_template("{spinner} {msg}… ({elapsed})").expect("a valid template");
        self.step(None, style, msg.into())
    }

    /// A bar over `len` items: `MSG [=====>    ] 12/24 (3s)`; advance it with [`Step::inc`].
    pub fn bar(&self, len: u64, msg: impl Into<Cow<'static, str>>) -> Step {
        let style =
            ProgressStyle::with_template("{spinner} {msg} [{bar:30}] {pos}/{len} ({elapsed})")
                .expect("a valid template")
                .progress_chars("=> ");
        self.step(Some(len), style, msg.into())
    }

    /// A bar over `len` bytes: `MSG [=====>    ] 1.2 MiB/12.3 MiB, 4.5 MiB/s (3s)`.
    pub fn bytes(&self, len: u64, msg: impl Into<Cow<'static, str>>) -> Step {
        let style = ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {binary_bytes}/{binary_total_bytes}, \
             {binary_bytes_per_sec} ({elapsed})",
        )
        .expect("a valid template")
        .progress_chars("=> ");
        self.step(Some(len), style, msg.into())
    }

    fn step(&self, len: Option<u64>, style: ProgressStyle, msg: Cow<'static, str>) -> Step {
        let (target, tick) = match self.target {
            Target::Hidden => {
                return Step {
                    bar: ProgressBar::hidden(),
                    started: Instant::now(),
                };
            }
            Target::Terminal => (ProgressDrawTarget::stderr_with_hz(10), TICK),
            Target::Forced => (
                ProgressDrawTarget::term_like_with_hz(Box::new(ForcedStderr::new()), 10),
                FORCED_TICK,
            ),
        };
        // A log gains nothing from a turning spinner: one mark, so a redraw that changed
        // nothing else is the same line (written once).
        let style = match self.target {
            Target::Forced => style.tick_strings(&["-", "-"]),
            _ => style,
        };
        let bar = ProgressBar::with_draw_target(len, target)
            .with_style(style)
            .with_message(msg);
        // Drawn now, so even a step shorter than a tick shows; then every `tick` from the
        // ticker's own thread.
        bar.tick();
        bar.enable_steady_tick(tick);
        Step {
            bar,
            started: Instant::now(),
        }
    }
}

/// One slow step being drawn (or a hidden one). Cleared when dropped unfinished.
#[derive(Debug)]
pub struct Step {
    bar: ProgressBar,
    started: Instant,
}

impl Step {
    /// Advances a bar by `n` items (or bytes).
    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    /// Sets how far a bar is.
    pub fn set_position(&self, position: u64) {
        self.bar.set_position(position);
    }

    /// Makes a bar `n` items longer (work found on the way).
    pub fn inc_length(&self, n: u64) {
        self.bar.inc_length(n);
    }

    /// Says what the step is doing now.
    pub fn set_message(&self, msg: impl Into<Cow<'static, str>>) {
        self.bar.set_message(msg);
    }

    /// How long the step has run.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Prints `line` to stderr above the step, when it is drawn (nothing otherwise).
    #[allow(dead_code, reason = "API for the commands to come")]
    pub fn println(&self, line: impl AsRef<str>) {
        self.bar.println(line);
    }

    /// Ends the step, leaving `MSG in 12.3 s` on stderr where it was drawn.
    pub fn finish(self, msg: impl AsRef<str>) {
        let line = format!("{} in {}", msg.as_ref(), seconds(self.elapsed()));
        self.bar
            .set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
        self.bar.finish_with_message(line);
    }

    /// Ends the step and erases it.
    pub fn clear(self) {
        self.bar.finish_and_clear();
    }

    /// A progress counter for an upload of `len` bytes starting `offset` bytes into this bar
    /// (see [`CountingBody`]).
    pub(crate) fn counter(&self, offset: u64) -> ProgressBar {
        // A bar clone shares the state: the body moves it from the HTTP client's thread.
        self.bar.set_position(offset);
        self.bar.clone()
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

/// `0.4 s`, `12.3 s`, `2 min 5 s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.1} s")
    } else {
        format!("{} min {} s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// `12.3 MiB`, as the rest of the output writes sizes.
pub fn size(bytes: u64) -> String {
    crate::render::bytes(bytes)
}

/// Whether stderr is a terminal that can redraw a line (as indicatif judges it: `TERM` set and
/// not `dumb`).
fn stderr_can_redraw() -> bool {
    std::io::stderr().is_terminal()
        && std::env::var("TERM").is_ok_and(|t| !t.is_empty() && t != "dumb")
}

/// stderr when it is not a terminal that can redraw, for `--progress always` (a pipe, a file,
/// a CI log, a `dumb` terminal): each redraw is written as one plain line, without the cursor
/// movements and padding a terminal gets, and a cleared step writes nothing more.
#[derive(Debug)]
struct ForcedStderr {
    width: u16,
    /// The redraw being written (indicatif ends each with a flush), and the last one written.
    line: std::sync::Mutex<(String, String)>,
}

impl ForcedStderr {
    fn new() -> Self {
        let width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.parse().ok())
            .filter(|&w| w > 20)
            .unwrap_or(FORCED_WIDTH);
        Self {
            width,
            line: std::sync::Mutex::new((String::new(), String::new())),
        }
    }

    fn line(&self) -> std::sync::MutexGuard<'_, (String, String)> {
        self.line
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl TermLike for ForcedStderr {
    fn width(&self) -> u16 {
        self.width
    }

    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }

    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.line().0.push_str(&format!("{s}\n"));
        Ok(())
    }

    fn write_str(&self, s: &str) -> std::io::Result<()> {
        // The spaces indicatif pads a line with to the terminal's edge are dropped on flush.
        self.line().0.push_str(s);
        Ok(())
    }

    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }

    fn flush(&self) -> std::io::Result<()> {
        let mut line = self.line();
        let text = std::mem::take(&mut line.0);
        let text = text.trim_end_matches(' ');
        if text.is_empty() || text == line.1 {
            return Ok(());
        }
        line.1 = text.to_string();
        let mut stderr = std::io::stderr().lock();
        stderr.write_all(text.as_bytes())?;
        if !text.ends_with('\n') {
            stderr.write_all(b"\n")?;
        }
        stderr.flush()
    }
}

/// A request body that moves a bytes bar as the HTTP client takes it: the body is handed on
/// in slices of [`SLICE`] bytes, so the bar follows the socket instead of jumping to the end
/// when the client takes a single 12 MiB frame. The bytes are the same bytes: wrapped with
/// [`aws_sdk_s3::primitives::SdkBody::map_preserve_contents`], the request is signed and
/// checksummed over them as before.
pub(crate) struct CountingBody {
    inner: aws_sdk_s3::primitives::SdkBody,
    /// Taken from `inner` and not yet handed on.
    pending: Option<bytes::Bytes>,
    bar: ProgressBar,
}

/// The SDK's error type for bodies and interceptors.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How much of the body the client gets at a time.
const SLICE: usize = 64 << 10;

impl CountingBody {
    pub(crate) fn new(inner: aws_sdk_s3::primitives::SdkBody, bar: ProgressBar) -> Self {
        Self {
            inner,
            pending: None,
            bar,
        }
    }
}

impl http_body::Body for CountingBody {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        loop {
            if let Some(pending) = &mut this.pending {
                if pending.is_empty() {
                    this.pending = None;
                    continue;
                }
                let slice = pending.split_to(pending.len().min(SLICE));
                this.bar.inc(slice.len() as u64);
                return Poll::Ready(Some(Ok(http_body::Frame::data(slice))));
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => this.pending = Some(data),
                    // Trailers pass as they are.
                    Err(frame) => return Poll::Ready(Some(Ok(frame))),
                },
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.pending.as_ref().is_none_or(bytes::Bytes::is_empty) && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        let pending = self.pending.as_ref().map_or(0, |p| p.len() as u64);
        let inner = http_body::Body::size_hint(&self.inner);
        let mut hint = http_body::SizeHint::new();
        hint.set_lower(inner.lower() + pending);
        if let Some(upper) = inner.upper() {
            hint.set_upper(upper + pending);
        }
        hint
    }
}

/// An S3 interceptor that counts each attempt's request body on `bar`, from `offset` (a retry
/// starts the count over).
#[derive(Debug)]
pub(crate) struct CountUpload {
    bar: ProgressBar,
    offset: u64,
}

impl CountUpload {
    pub(crate) fn new(step: &Step, offset: u64) -> Self {
        Self {
            bar: step.counter(offset),
            offset,
        }
    }
}

impl aws_sdk_s3::config::Intercept for CountUpload {
    fn name(&self) -> &'static str {
        "clickrules::progress::CountUpload"
    }

    fn modify_before_transmit(
        &self,
        context: &mut aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &aws_sdk_s3::config::RuntimeComponents,
        _cfg: &mut aws_sdk_s3::config::ConfigBag,
    ) -> Result<(), BoxError> {
        if self.bar.is_hidden() {
            return Ok(());
        }
        self.bar.set_position(self.offset);
        let body = std::mem::replace(
            context.request_mut().body_mut(),
            aws_sdk_s3::primitives::SdkBody::taken(),
        );
        let bar = self.bar.clone();
        let counted = body.map_preserve_contents(move |body| {
            aws_sdk_s3::primitives::SdkBody::from_body_1_x(CountingBody::new(body, bar.clone()))
        });
        *context.request_mut().body_mut() = counted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_quiet_win_over_always() {
        assert!(!Progress::from_flags(ProgressMode::Always, true, false).is_drawn());
        assert!(!Progress::from_flags(ProgressMode::Always, false, true).is_drawn());
        assert!(!Progress::from_flags(ProgressMode::Never, false, false).is_drawn());
        // Tests run with stderr captured: not a terminal, so always forces and auto hides.
        if !std::io::stderr().is_terminal() {
            assert!(Progress::from_flags(ProgressMode::Always, false, false).is_drawn());
            assert!(!Progress::from_flags(ProgressMode::Auto, false, false).is_drawn());
        }
    }

    #[test]
    fn the_counting_body_hands_on_the_same_bytes_in_slices() {
        use http_body::Body as _;
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let bar = ProgressBar::hidden();
        bar.set_length(data.len() as u64);
        let mut body = CountingBody::new(
            aws_sdk_s3::primitives::SdkBody::from(data.clone()),
            bar.clone(),
        );
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let mut out = Vec::new();
        let mut frames = 0;
        while let Poll::Ready(Some(frame)) = Pin::new(&mut body).poll_frame(&mut cx) {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= SLICE);
            out.extend_from_slice(&data);
            frames += 1;
        }
        assert_eq!(out, data);
        assert_eq!(frames, data.len().div_ceil(SLICE));
        assert_eq!(bar.position(), data.len() as u64);
        assert!(body.is_end_stream());
    }
}
