//! The press ledger port: exactly-once effects across retries and duplicate deliveries.
//!
//! A press is claimed before its guest runs, its decision is stored before any action runs
//! (write-ahead, so a retry never runs the guest again), each action's outcome is stored as it
//! completes, and the press ends completed (a redelivery is answered from the ledger) or open
//! for a retry (which runs only what is not done). The state machine is here and in the
//! pipeline; adapters only store it: [`NoLedger`], the in-memory [`MemoryLedger`] (local runs
//! and tests; it implements the same conditional semantics as the DynamoDB adapter), and
//! DynamoDB in `clickrules-aws`.

use std::future::Future;

use crate::record::{OutcomeRecord, PressRecord};
use crate::state::{DeviceKey, StateCommit, StoredState};

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Nothing usable is stored: run the press. `attempt` counts deliveries from 1.
    New {
        /// Which delivery this is.
        attempt: u32,
    },
    /// The decision is stored (with the outcomes so far): execute only what is not done.
    Resume {
        /// Which delivery this is.
        attempt: u32,
        /// The record as stored.
        record: Box<PressRecord>,
    },
    /// The press is complete: answer with its record, do nothing.
    Duplicate {
        /// The record as stored.
        record: Box<PressRecord>,
    },
    /// Another delivery holds a live lease.
    InProgress {
        /// When its lease ends, ms since the epoch.
        lease_until_ms: u64,
    },
}

/// The delivery that holds a press: writes are conditioned on it, so a delivery whose lease
/// expired and was taken over cannot overwrite its successor's entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The press.
    pub press_id: String,
    /// Which delivery holds it (from the claim).
    pub attempt: u32,
}

/// How a press leaves the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Done for good (succeeded, or failed in a way no retry can change): a redelivery is a
    /// duplicate.
    Complete,
    /// Failed in a way a retry may fix: the next delivery claims it at once and resumes from
    /// the stored decision, or decides again if none was stored.
    Retry,
}

/// The ledger could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// The store did not answer, or failed, after the client's retries.
    #[error("the press ledger {table} is unavailable: {message}")]
    Unavailable {
        /// Which table (or store).
        table: String,
        /// What failed.
        message: String,
    },
    /// The store throttled the request after the client's retries.
    #[error("the press ledger {table} throttled the request: {message}")]
    Throttled {
        /// Which table.
        table: String,
        /// The service's explanation.
        message: String,
    },
    /// The store refused the request (permissions, a missing table, a bad key schema).
    #[error("the press ledger {table} refused the request: {message}")]
    Refused {
        /// Which table.
        table: String,
        /// The service's explanation.
        message: String,
    },
    /// A stored press could not be read back.
    #[error("the press ledger holds an unreadable entry for {press_id}: {message}")]
    Corrupt {
        /// The press.
        press_id: String,
        /// What is wrong.
        message: String,
    },
    /// Another press of the same device committed its state first.
    #[error("another press of {device} changed its state first")]
    StateConflict {
        /// The device (`<source>#<device>`).
        device: String,
    },
    /// Another delivery took the press over while this one ran (its lease had expired).
    #[error("press {press_id} was taken over by another delivery; this one stopped")]
    LostLease {
        /// The press.
        press_id: String,
    },
}

/// Stores presses for exactly-once execution.
pub trait Ledger: Send + Sync {
    /// Whether presses are recorded (the record says `off` otherwise).
    fn is_on(&self) -> bool;

    /// Claims `press_id` with a lease until `lease_until_ms`, or reports what is stored.
    fn claim(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send;

    /// Claims a press identified by a device's own counter, which wraps and resets on reboot:
    /// as [`Ledger::claim`], except that a complete entry for a press received before
    /// `fresh_after_ms` and delivered under another request id is an earlier press that
    /// reused the counter, and is replaced. (A redelivery of the same invocation keeps its
    /// request id however late it comes, and stays a duplicate.)
    fn claim_windowed(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
        fresh_after_ms: u64,
        request_id: &str,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send;

    /// Counts a press of `device` in the minute holding `now_ms`; `false` when the device has
    /// made `limit` presses this minute already (the press is then not counted).
    fn admit(
        &self,
        device: &DeviceKey,
        limit: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send;

    /// The device's state as committed, strongly consistent (state lives beside the presses).
    fn load_state(
        &self,
        device: &DeviceKey,
    ) -> impl Future<Output = Result<StoredState, LedgerError>> + Send;

    /// Stores the decision (the record so far) before any action runs, and with `state` the
    /// device's new state in the same write, if the device is still at the version read
    /// ([`LedgerError::StateConflict`] otherwise, and nothing is written).
    fn commit(
        &self,
        lease: &Lease,
        record: &PressRecord,
        state: Option<&StateCommit>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Stores outcome `number` (from 1); with `end`, also ends the press with `record` in the
    /// same write.
    fn outcome(
        &self,
        lease: &Lease,
        number: usize,
        outcome: &OutcomeRecord,
        end: Option<(End, &PressRecord)>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Ends the press with `record`, without an outcome to store.
    fn end(
        &self,
        lease: &Lease,
        end: End,
        record: &PressRecord,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send;

    /// Keeps, for history, a delivery that stored nothing itself: one that carried no press,
    /// came from a device not allowed, or was answered from the ledger (a duplicate, a press
    /// in progress). A stored press is never replaced; a duplicate is counted on it.
    fn keep(&self, record: &PressRecord) -> impl Future<Output = Result<(), LedgerError>> + Send;
}

/// Whether a complete `stored` press under a device counter is an earlier press that reused
/// the counter: received before `fresh_after_ms`, by another invocation than `request_id`.
pub fn is_earlier_press(stored: &PressRecord, fresh_after_ms: u64, request_id: &str) -> bool {
    stored.request_id != request_id
        && stored
            .click
            .as_ref()
            .is_some_and(|c| c.received_at_ms < fresh_after_ms)
}

/// No ledger: every delivery runs in full.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoLedger;

impl Ledger for NoLedger {
    fn is_on(&self) -> bool {
        false
    }

    async fn claim(&self, _: &str, _: u64, _: u64) -> Result<Claim, LedgerError> {
        Ok(Claim::New { attempt: 1 })
    }

    async fn claim_windowed(
        &self,
        _: &str,
        _: u64,
        _: u64,
        _: u64,
        _: &str,
    ) -> Result<Claim, LedgerError> {
        Ok(Claim::New { attempt: 1 })
    }

    /// Without a ledger nothing is counted: rate limits need the ledger table.
    async fn admit(&self, _: &DeviceKey, _: u32, _: u64) -> Result<bool, LedgerError> {
        Ok(true)
    }

    async fn load_state(&self, _: &DeviceKey) -> Result<StoredState, LedgerError> {
        Ok(StoredState::default())
    }

    async fn commit(
        &self,
        _: &Lease,
        _: &PressRecord,
        _: Option<&StateCommit>,
    ) -> Result<(), LedgerError> {
        Ok(())
    }

    async fn outcome(
        &self,
        _: &Lease,
        _: usize,
        _: &OutcomeRecord,
        _: Option<(End, &PressRecord)>,
    ) -> Result<(), LedgerError> {
        Ok(())
    }

    async fn end(&self, _: &Lease, _: End, _: &PressRecord) -> Result<(), LedgerError> {
        Ok(())
    }

    async fn keep(&self, _: &PressRecord) -> Result<(), LedgerError> {
        Ok(())
    }
}

/// A shared ledger (the CLI keeps its local one to write the state file after the press).
impl<L: Ledger> Ledger for std::sync::Arc<L> {
    fn is_on(&self) -> bool {
        (**self).is_on()
    }

    fn claim(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send {
        (**self).claim(press_id, lease_until_ms, now_ms)
    }

    fn claim_windowed(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
        fresh_after_ms: u64,
        request_id: &str,
    ) -> impl Future<Output = Result<Claim, LedgerError>> + Send {
        (**self).claim_windowed(press_id, lease_until_ms, now_ms, fresh_after_ms, request_id)
    }

    fn admit(
        &self,
        device: &DeviceKey,
        limit: u32,
        now_ms: u64,
    ) -> impl Future<Output = Result<bool, LedgerError>> + Send {
        (**self).admit(device, limit, now_ms)
    }

    fn load_state(
        &self,
        device: &DeviceKey,
    ) -> impl Future<Output = Result<StoredState, LedgerError>> + Send {
        (**self).load_state(device)
    }

    fn commit(
        &self,
        lease: &Lease,
        record: &PressRecord,
        state: Option<&StateCommit>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        (**self).commit(lease, record, state)
    }

    fn outcome(
        &self,
        lease: &Lease,
        number: usize,
        outcome: &OutcomeRecord,
        end: Option<(End, &PressRecord)>,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        (**self).outcome(lease, number, outcome, end)
    }

    fn end(
        &self,
        lease: &Lease,
        end: End,
        record: &PressRecord,
    ) -> impl Future<Output = Result<(), LedgerError>> + Send {
        (**self).end(lease, end, record)
    }

    fn keep(&self, record: &PressRecord) -> impl Future<Output = Result<(), LedgerError>> + Send {
        (**self).keep(record)
    }
}
