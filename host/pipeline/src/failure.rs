//! Why a press failed as a whole, typed, and what that means for retrying it.

use std::sync::Arc;

use clickrules_engine::PressError;

use crate::executor::{ActionError, PreflightError};
use crate::ledger::LedgerError;
use crate::record::ErrorInfo;
use crate::source::SourceError;

/// Why no guest could decide the press.
#[derive(Debug, Clone)]
pub struct SourceFailure {
    kind: &'static str,
    retryable: bool,
    error: Arc<dyn SourceError>,
}

impl SourceFailure {
    pub(crate) fn new<E: SourceError>(error: E) -> Self {
        Self {
            kind: error.kind(),
            retryable: error.is_retryable(),
            error: Arc::new(error),
        }
    }

    /// The source's own error, when it is of type `E`.
    pub fn downcast<E: SourceError>(&self) -> Option<&E> {
        let error: &(dyn std::error::Error + 'static) = self.error.as_ref();
        error.downcast_ref::<E>()
    }

    /// The source's name for it.
    pub fn kind(&self) -> &'static str {
        self.kind
    }
}

impl std::fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

/// Why a press failed as a whole.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    /// No guest could be obtained; nothing ran.
    #[error("no guest to run: {0}")]
    GuestSource(SourceFailure),
    /// The event was bad, or the guest failed (and no fallback rescued the press).
    #[error("{0}")]
    Press(PressError),
    /// The actions cannot be carried out as a whole; none ran.
    #[error("{0}")]
    Preflight(#[from] PreflightError),
    /// Some actions failed; the record's outcomes list each.
    #[error("{failed} of {total} actions failed; the first: {first}")]
    Actions {
        /// How many failed.
        failed: usize,
        /// How many there were.
        total: usize,
        /// The first failure.
        first: ActionError,
        /// Whether any of the failures may pass on a retry.
        retryable: bool,
    },
    /// The press ledger could not be read or written; with a ledger configured no action
    /// runs unrecorded, so none ran after this.
    #[error("{0}")]
    Ledger(#[from] LedgerError),
    /// A redelivery of a press that already failed for good: nothing ran again.
    #[error("the press failed before and is not run again: {}", failure.message)]
    Repeated {
        /// The stored failure.
        failure: ErrorInfo,
    },
    /// Another delivery of this press holds a live lease.
    #[error(
        "press {press_id} is being handled by another delivery until {lease_until_ms} (ms since \
         the epoch); nothing was done"
    )]
    InProgress {
        /// The press.
        press_id: String,
        /// When that delivery's lease ends.
        lease_until_ms: u64,
    },
    /// Other presses of the same device kept committing their state first; the press was
    /// decided this many times and nothing was done. Retryable: the next delivery decides on
    /// the state as it is then.
    #[error(
        "other presses of {device} changed its state first, {attempts} times; nothing was done"
    )]
    StateConflict {
        /// The device (`<source>#<device>`).
        device: String,
        /// How many times the press was decided.
        attempts: u32,
    },
    /// The guest uses per-device state and no press ledger is configured to keep it
    /// (`CLICKRULES_LEDGER_TABLE`); nothing ran.
    #[error(
        "guest {guest} uses device state (it imports clickrules:handler/state), which lives in \
         the press ledger: set CLICKRULES_LEDGER_TABLE (locally: press --state FILE)"
    )]
    StateUnavailable {
        /// The guest.
        guest: String,
    },
    /// The device is not in the source's allow-list (`CLICKRULES_ALLOWED_DEVICES`): nothing
    /// ran.
    #[error(
        "{source_name} device {device} is not in the allow-list (CLICKRULES_ALLOWED_DEVICES); nothing was done"
    )]
    UnknownDevice {
        /// The source.
        source_name: &'static str,
        /// The device as normalised.
        device: String,
    },
    /// The device pressed more often than the limit allows this minute: nothing ran, so a
    /// stuck button or a flood cannot run up invocations of the snapshot function.
    #[error(
        "{device} was pressed more than {limit_per_minute} times this minute (CLICKRULES_RATE_LIMIT_PER_MINUTE); nothing was done"
    )]
    RateLimited {
        /// The device (`<source>#<device>`).
        device: String,
        /// The limit.
        limit_per_minute: u32,
    },
    /// An HTTPS request was refused before anything ran: a bad or missing signature, an
    /// unknown button, a wrong method, content type or size.
    #[error("the request was refused ({kind}): {message}")]
    Refused {
        /// A stable name: `unauthorized`, `method_not_allowed`, `body_too_large`, ...
        kind: &'static str,
        /// The precise reason, for the record (the caller is told less).
        message: String,
    },
}

impl Failure {
    /// A stable, machine-readable name for the failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::GuestSource(_) => "guest_source",
            Self::Press(e) => e.kind(),
            Self::Preflight(_) => "preflight",
            Self::Actions { .. } => "actions",
            Self::Ledger(_) => "ledger",
            Self::InProgress { .. } => "in_progress",
            Self::Repeated { .. } => "repeated",
            Self::StateConflict { .. } => "state_conflict",
            Self::StateUnavailable { .. } => "state_unavailable",
            Self::UnknownDevice { .. } => "unknown_device",
            Self::RateLimited { .. } => "rate_limited",
            Self::Refused { kind, .. } => kind,
        }
    }

    /// Whether delivering the press again may succeed. A bad event, rejected actions, a missing
    /// topic and refused actions fail the same way every time; a guest that trapped or timed
    /// out may pass after a fix or on a less loaded machine.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::GuestSource(s) => s.retryable,
            Self::Press(
                PressError::Event(_)
                | PressError::InvalidActions(_)
                | PressError::StateLimit { .. },
            ) => false,
            Self::Press(_) => true,
            Self::Preflight(_) => false,
            Self::Actions { retryable, .. } => *retryable,
            Self::Ledger(_) | Self::InProgress { .. } => true,
            Self::Repeated { .. } => false,
            Self::StateConflict { .. } => true,
            Self::StateUnavailable { .. } => false,
            Self::UnknownDevice { .. } | Self::RateLimited { .. } | Self::Refused { .. } => false,
        }
    }

    /// Whether the press belongs in the dead-letter queue when no retry can fix it: not a
    /// press the deployment turned away on purpose (a flood, an unknown device, a forged
    /// request), which would fill the queue with what an attacker sends.
    pub fn is_dead_letter(&self) -> bool {
        !self.is_retryable()
            && !matches!(
                self,
                Self::UnknownDevice { .. } | Self::RateLimited { .. } | Self::Refused { .. }
            )
    }

    /// As the record carries it.
    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            kind: self.kind().to_string(),
            message: self.to_string(),
            retryable: Some(self.is_retryable()),
            backtrace: Vec::new(),
        }
    }
}

/// An engine error as the record carries it.
pub(crate) fn press_error_info(e: &PressError) -> ErrorInfo {
    ErrorInfo {
        kind: e.kind().to_string(),
        message: e.to_string(),
        retryable: None,
        backtrace: match e {
            PressError::Trap { backtrace, .. } => backtrace.clone(),
            _ => Vec::new(),
        },
    }
}
