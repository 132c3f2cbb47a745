//! A press ledger in memory, with the same conditional semantics as the DynamoDB adapter:
//! local presses (`press --press-id`) and the tests of the state machine use it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::ledger::{Claim, End, Lease, Ledger, LedgerError};
use crate::record::{OutcomeRecord, PressRecord};
use crate::state::{DeviceKey, StateCommit, StoredState};

#[derive(Debug, Clone)]
enum Entry {
    /// A delivery holds it until `lease_until_ms`; `record` once the decision is stored.
    Running {
        attempt: u32,
        lease_until_ms: u64,
        record: Option<PressRecord>,
    },
    /// Failed, open for the next delivery, which resumes from `record` when it is there.
    Open {
        attempt: u32,
        record: Option<PressRecord>,
    },
    /// Done for good.
    Complete { record: PressRecord },
}

/// Presses kept in a map for the life of the value.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    entries: Mutex<HashMap<String, Entry>>,
    /// Presses per device per minute: `(device, minute) -> count`.
    rates: Mutex<HashMap<(DeviceKey, u64), u32>>,
    states: Mutex<HashMap<DeviceKey, StoredState>>,
    /// Deliveries answered as duplicates, per press.
    duplicates: Mutex<HashMap<String, u32>>,
    requests: AtomicU64,
}

impl MemoryLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests made so far (each method call is one request, as it is for DynamoDB).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The stored record of a press, if any.
    pub fn record(&self, press_id: &str) -> Option<PressRecord> {
        match self.lock().get(press_id)? {
            Entry::Running { record, .. } | Entry::Open { record, .. } => record.clone(),
            Entry::Complete { record } => Some(record.clone()),
        }
    }

    /// How many deliveries of a press were answered as duplicates.
    pub fn duplicates(&self, press_id: &str) -> u32 {
        self.duplicates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(press_id)
            .copied()
            .unwrap_or(0)
    }

    /// A device's committed state (a test reading it back).
    pub fn state(&self, device: &DeviceKey) -> StoredState {
        self.states_lock().get(device).cloned().unwrap_or_default()
    }

    /// Every device's committed state (the CLI writes it to its `--state` file).
    pub fn states(&self) -> HashMap<DeviceKey, StoredState> {
        self.states_lock().clone()
    }

    /// A ledger holding `states` and no presses (the CLI's `--state` file read back).
    pub fn with_states(states: HashMap<DeviceKey, StoredState>) -> Self {
        Self {
            states: Mutex::new(states),
            ..Self::default()
        }
    }

    /// Forgets every device's state (`check` starts each case from empty state).
    pub fn clear_states(&self) {
        self.states_lock().clear();
    }

    /// Sets a device's state outright (a test seeding it).
    pub fn seed_state(&self, device: DeviceKey, state: clickrules_engine::DeviceState) {
        let mut states = self.states_lock();
        let version = states.get(&device).map_or(0, |s| s.version) + 1;
        states.insert(device, StoredState { state, version });
    }

    fn states_lock(&self) -> std::sync::MutexGuard<'_, HashMap<DeviceKey, StoredState>> {
        self.states
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `change` to the press's running entry if `lease` still holds it.
    fn with_lease(
        &self,
        lease: &Lease,
        change: impl FnOnce(&mut Option<PressRecord>) -> Option<Entry>,
    ) -> Result<(), LedgerError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        let lost = || LedgerError::LostLease {
            press_id: lease.press_id.clone(),
        };
        let entry = entries.get_mut(&lease.press_id).ok_or_else(lost)?;
        let Entry::Running {
            attempt, record, ..
        } = entry
        else {
            return Err(lost());
        };
        if *attempt != lease.attempt {
            return Err(lost());
        }
        if let Some(next) = change(record) {
            *entry = next;
        }
        Ok(())
    }
}

fn ended(end: End, attempt: u32, record: &PressRecord, decided: bool) -> Entry {
    match end {
        End::Complete => Entry::Complete {
            record: record.clone(),
        },
        End::Retry => Entry::Open {
            attempt,
            // Without a stored decision the retry decides again (the guest may be fixed).
            record: decided.then(|| record.clone()),
        },
    }
}

impl Ledger for MemoryLedger {
    fn is_on(&self) -> bool {
        true
    }

    async fn claim_windowed(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
        fresh_after_ms: u64,
        request_id: &str,
    ) -> Result<Claim, LedgerError> {
        {
            let mut entries = self.lock();
            let stale = matches!(
                entries.get(press_id),
                Some(Entry::Complete { record }) if crate::ledger::is_earlier_press(record, fresh_after_ms, request_id)
            );
            if stale {
                entries.remove(press_id);
            }
        }
        self.claim(press_id, lease_until_ms, now_ms).await
    }

    async fn admit(
        &self,
        device: &DeviceKey,
        limit: u32,
        now_ms: u64,
    ) -> Result<bool, LedgerError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut rates = self
            .rates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = rates.entry((device.clone(), now_ms / 60_000)).or_insert(0);
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }

    async fn claim(
        &self,
        press_id: &str,
        lease_until_ms: u64,
        now_ms: u64,
    ) -> Result<Claim, LedgerError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        let (claim, attempt, record) = match entries.get(press_id) {
            None => (Claim::New { attempt: 1 }, 1, None),
            Some(Entry::Complete { record }) => {
                return Ok(Claim::Duplicate {
                    record: Box::new(record.clone()),
                });
            }
            Some(Entry::Running {
                lease_until_ms: live,
                ..
            }) if *live > now_ms => {
                return Ok(Claim::InProgress {
                    lease_until_ms: *live,
                });
            }
            Some(Entry::Running {
                attempt, record, ..
            })
            | Some(Entry::Open { attempt, record }) => {
                let next = attempt + 1;
                match record {
                    Some(r) => (
                        Claim::Resume {
                            attempt: next,
                            record: Box::new(r.clone()),
                        },
                        next,
                        Some(r.clone()),
                    ),
                    None => (Claim::New { attempt: next }, next, None),
                }
            }
        };
        entries.insert(
            press_id.to_string(),
            Entry::Running {
                attempt,
                lease_until_ms,
                record,
            },
        );
        Ok(claim)
    }

    async fn load_state(&self, device: &DeviceKey) -> Result<StoredState, LedgerError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(self.states_lock().get(device).cloned().unwrap_or_default())
    }

    async fn commit(
        &self,
        lease: &Lease,
        record: &PressRecord,
        state: Option<&StateCommit>,
    ) -> Result<(), LedgerError> {
        // One write for both, as a DynamoDB transaction: the state's condition is checked
        // first, under both locks, and nothing is written if either condition fails.
        let mut states = self.states_lock();
        if let Some(commit) = state {
            let current = states.get(&commit.device).map_or(0, |s| s.version);
            if current != commit.version {
                self.requests.fetch_add(1, Ordering::Relaxed);
                return Err(LedgerError::StateConflict {
                    device: commit.device.id(),
                });
            }
        }
        self.with_lease(lease, |stored| {
            *stored = Some(record.clone());
            None
        })?;
        if let Some(commit) = state {
            states.insert(
                commit.device.clone(),
                StoredState {
                    state: commit.state.clone(),
                    version: commit.version + 1,
                },
            );
        }
        Ok(())
    }

    async fn outcome(
        &self,
        lease: &Lease,
        number: usize,
        outcome: &OutcomeRecord,
        end: Option<(End, &PressRecord)>,
    ) -> Result<(), LedgerError> {
        self.with_lease(lease, |stored| {
            if let Some(record) = stored.as_mut() {
                let index = number.saturating_sub(1);
                if record.outcomes.len() <= index {
                    record.outcomes.resize(index + 1, outcome.clone());
                }
                record.outcomes[index] = outcome.clone();
            }
            end.map(|(end, record)| ended(end, lease.attempt, record, true))
        })
    }

    async fn end(&self, lease: &Lease, end: End, record: &PressRecord) -> Result<(), LedgerError> {
        self.with_lease(lease, |stored| {
            Some(ended(end, lease.attempt, record, stored.is_some()))
        })
    }

    async fn keep(&self, record: &PressRecord) -> Result<(), LedgerError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.lock();
        if entries.contains_key(&record.press_id) {
            *self
                .duplicates
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .entry(record.press_id.clone())
                .or_default() += 1;
        } else {
            entries.insert(
                record.press_id.clone(),
                Entry::Complete {
                    record: record.clone(),
                },
            );
        }
        Ok(())
    }
}
