//! Durable per-device state (contract 0.2.0): what a press reads, and the writes it buffers,
//! committed by the caller only if the press succeeds.
//!
//! The engine does no I/O: the caller reads the device's state before the press and commits
//! `before.apply(writes)` after it, with the press ledger's decision. Expiry is judged against
//! the press's own time (`received_at_ms`), so a replayed press sees what the original saw.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Keys a device may hold.
pub const MAX_STATE_KEYS: usize = 64;
/// Bytes of one key.
pub const MAX_STATE_KEY_BYTES: usize = 128;
/// Bytes of one value.
pub const MAX_STATE_VALUE_BYTES: usize = 4096;
/// Bytes of all keys and values of a device together (a press rewrites the whole item).
pub const MAX_STATE_BYTES: usize = 16384;
/// `set` and `delete` calls a press may make.
pub const MAX_STATE_WRITES: usize = 16;

/// One stored value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEntry {
    /// The value.
    pub value: String,
    /// When it expires, ms since the epoch; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<u64>,
}

/// A device's state: its keys and values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceState {
    /// Every key, expired ones included until the next write drops them.
    pub entries: BTreeMap<String, StateEntry>,
}

impl DeviceState {
    /// The keys alive at `now_ms`: expired keys are invisible (the store's own expiry is lazy,
    /// up to days late, so correctness never rests on it).
    pub fn live(&self, now_ms: u64) -> DeviceState {
        DeviceState {
            entries: self
                .entries
                .iter()
                .filter(|(_, e)| e.expires_at_ms.is_none_or(|at| at > now_ms))
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect(),
        }
    }

    /// The state after `writes`, made at `now_ms`, with expired keys dropped.
    pub fn apply(&self, writes: &[StateWrite], now_ms: u64) -> DeviceState {
        let mut next = self.live(now_ms);
        for write in writes {
            next.apply_one(write, now_ms);
        }
        next
    }

    fn apply_one(&mut self, write: &StateWrite, now_ms: u64) {
        match &write.change {
            StateChange::Set { value, ttl_seconds } => {
                self.entries.insert(
                    write.key.clone(),
                    StateEntry {
                        value: value.clone(),
                        expires_at_ms: ttl_seconds
                            .map(|s| now_ms.saturating_add(u64::from(s) * 1000)),
                    },
                );
            }
            StateChange::Delete => {
                self.entries.remove(&write.key);
            }
        }
    }

    /// Bytes of keys and values, as the limit counts them.
    pub fn bytes(&self) -> usize {
        self.entries
            .iter()
            .map(|(k, e)| k.len() + e.value.len())
            .sum()
    }

    /// When the last key expires, if every key does: the item may then expire with it.
    pub fn latest_expiry_ms(&self) -> Option<u64> {
        let mut latest = 0;
        for entry in self.entries.values() {
            latest = latest.max(entry.expires_at_ms?);
        }
        (!self.entries.is_empty()).then_some(latest)
    }
}

/// One buffered change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateWrite {
    /// The key.
    pub key: String,
    /// What happens to it.
    #[serde(flatten)]
    pub change: StateChange,
}

/// `set` or `delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum StateChange {
    /// Store a value, expiring after `ttl_seconds` when given.
    Set {
        /// The value.
        value: String,
        /// Seconds until it expires.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ttl_seconds: Option<u32>,
    },
    /// Remove the key.
    Delete,
}

/// What a press did with its device's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateUse {
    /// Keys the guest read, in order of first read.
    pub read: Vec<String>,
    /// Its writes, in order; committed only if the press succeeded.
    pub writes: Vec<StateWrite>,
}

/// The press's view of its device's state: what was committed, with its own writes on top.
#[derive(Debug, Default)]
pub(crate) struct StateBuffer {
    now_ms: u64,
    current: DeviceState,
    writes: Vec<StateWrite>,
    read: Vec<String>,
    seen: BTreeSet<String>,
    /// The first limit a `set` or `delete` hit: the press fails with it if the guest returns
    /// `ok` anyway.
    pub(crate) limit: Option<String>,
}

impl StateBuffer {
    pub(crate) fn new(before: &DeviceState, now_ms: u64) -> Self {
        Self {
            now_ms,
            current: before.live(now_ms),
            ..Self::default()
        }
    }

    pub(crate) fn get(&mut self, key: &str) -> Option<String> {
        if self.seen.insert(key.to_string()) {
            self.read.push(key.to_string());
        }
        self.current.entries.get(key).map(|e| e.value.clone())
    }

    pub(crate) fn set(
        &mut self,
        key: &str,
        value: &str,
        ttl_seconds: Option<u32>,
    ) -> Result<(), String> {
        let write = StateWrite {
            key: key.to_string(),
            change: StateChange::Set {
                value: value.to_string(),
                ttl_seconds,
            },
        };
        self.check(key, Some(value))?;
        self.commit_write(write);
        Ok(())
    }

    pub(crate) fn delete(&mut self, key: &str) {
        if self.check(key, None).is_ok() {
            self.commit_write(StateWrite {
                key: key.to_string(),
                change: StateChange::Delete,
            });
        }
    }

    fn commit_write(&mut self, write: StateWrite) {
        self.current.apply_one(&write, self.now_ms);
        self.writes.push(write);
    }

    /// Whether a write of `key` (to `value`, or a delete) stays within every limit.
    fn check(&mut self, key: &str, value: Option<&str>) -> Result<(), String> {
        let over = |limit: &mut Option<String>, why: String| {
            limit.get_or_insert_with(|| why.clone());
            Err(why)
        };
        if self.writes.len() >= MAX_STATE_WRITES {
            return over(
                &mut self.limit,
                format!("a press may make at most {MAX_STATE_WRITES} state writes"),
            );
        }
        if key.is_empty() || key.len() > MAX_STATE_KEY_BYTES {
            return over(&mut self.limit, key_too_long(key.len()));
        }
        let Some(value) = value else {
            return Ok(());
        };
        if value.len() > MAX_STATE_VALUE_BYTES {
            return over(&mut self.limit, value_too_long(key, value.len()));
        }
        let existing = self.current.entries.get(key);
        let keys = self.current.entries.len() + usize::from(existing.is_none());
        if keys > MAX_STATE_KEYS {
            return over(
                &mut self.limit,
                format!("a device may hold at most {MAX_STATE_KEYS} state keys"),
            );
        }
        let bytes = self.current.bytes() - existing.map_or(0, |e| key.len() + e.value.len())
            + key.len()
            + value.len();
        if bytes > MAX_STATE_BYTES {
            return over(
                &mut self.limit,
                format!(
                    "a device's state may hold at most {MAX_STATE_BYTES} bytes; this write \
                     makes it {bytes}"
                ),
            );
        }
        Ok(())
    }

    /// Refuses a write for `why` (found before its strings were copied), remembering it.
    pub(crate) fn refuse(&mut self, why: String) -> Result<(), String> {
        self.limit.get_or_insert_with(|| why.clone());
        Err(why)
    }

    pub(crate) fn into_use(self) -> (StateUse, Option<String>) {
        (
            StateUse {
                read: self.read,
                writes: self.writes,
            },
            self.limit,
        )
    }
}

/// The error for a key of `len` bytes (an empty or over-long one).
pub(crate) fn key_too_long(len: usize) -> String {
    format!("state key of {len} bytes; keys are 1 to {MAX_STATE_KEY_BYTES} bytes")
}

/// The error for a value of `len` bytes under `key`.
pub(crate) fn value_too_long(key: &str, len: usize) -> String {
    let key: String = key.chars().take(32).collect();
    format!(
        "state value of {len} bytes under {key:?}; values are at most {MAX_STATE_VALUE_BYTES} bytes"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str, Option<u64>)]) -> DeviceState {
        DeviceState {
            entries: pairs
                .iter()
                .map(|(k, v, exp)| {
                    (
                        k.to_string(),
                        StateEntry {
                            value: v.to_string(),
                            expires_at_ms: *exp,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_press_reads_its_own_writes_and_expired_keys_are_gone() {
        let before = state(&[("count", "4", None), ("cooldown", "1", Some(1_000))]);
        let mut buffer = StateBuffer::new(&before, 2_000);
        assert_eq!(
            buffer.get("cooldown"),
            None,
            "expired at 1000, read at 2000"
        );
        assert_eq!(buffer.get("count").as_deref(), Some("4"));
        buffer.set("count", "5", None).unwrap();
        assert_eq!(buffer.get("count").as_deref(), Some("5"));
        buffer.delete("count");
        assert_eq!(buffer.get("count"), None);
        let (used, limit) = buffer.into_use();
        assert_eq!(used.read, ["cooldown", "count"]);
        assert_eq!(used.writes.len(), 2);
        assert!(limit.is_none());
        let after = before.apply(&used.writes, 2_000);
        assert!(after.entries.is_empty(), "{after:?}");
    }

    #[test]
    fn ttl_counts_from_the_press_time() {
        let mut buffer = StateBuffer::new(&DeviceState::default(), 10_000);
        buffer.set("k", "v", Some(60)).unwrap();
        let (used, _) = buffer.into_use();
        let after = DeviceState::default().apply(&used.writes, 10_000);
        assert_eq!(after.entries["k"].expires_at_ms, Some(70_000));
        assert_eq!(after.latest_expiry_ms(), Some(70_000));
        assert_eq!(after.live(70_000).entries.len(), 0);
        assert_eq!(after.live(69_999).entries.len(), 1);
    }

    #[test]
    fn limits_obeyed_at_the_edge() {
        let mut buffer = StateBuffer::new(&DeviceState::default(), 0);
        let key = "k".repeat(MAX_STATE_KEY_BYTES);
        let value = "v".repeat(MAX_STATE_VALUE_BYTES);
        assert!(buffer.set(&key, &value, None).is_ok());
        for i in 0..(MAX_STATE_WRITES - 1) {
            assert!(buffer.set(&format!("{i}"), "x", None).is_ok());
        }
        assert!(buffer.into_use().1.is_none());
    }

    #[test]
    fn limits_violated_each_return_the_error_and_remember_it() {
        type Case = Box<dyn Fn(&mut StateBuffer) -> Result<(), String>>;
        let cases: Vec<Case> = vec![
            Box::new(|b| b.set(&"k".repeat(MAX_STATE_KEY_BYTES + 1), "v", None)),
            Box::new(|b| b.set("", "v", None)),
            Box::new(|b| b.set("k", &"v".repeat(MAX_STATE_VALUE_BYTES + 1), None)),
            Box::new(|b| {
                for i in 0..MAX_STATE_WRITES {
                    b.set(&format!("{i}"), "x", None)?;
                }
                b.set("one-more", "x", None)
            }),
            Box::new(|b| {
                for i in 0..4 {
                    b.set(&format!("{i}"), &"v".repeat(MAX_STATE_VALUE_BYTES), None)?;
                }
                b.set("4", "v", None)
            }),
        ];
        for (n, case) in cases.iter().enumerate() {
            let mut buffer = StateBuffer::new(&DeviceState::default(), 0);
            assert!(case(&mut buffer).is_err(), "case {n}");
            assert!(buffer.into_use().1.is_some(), "case {n}");
        }
        // 64 keys held: a 65th is refused, overwriting one is not.
        let full = DeviceState {
            entries: (0..MAX_STATE_KEYS)
                .map(|i| {
                    (
                        format!("k{i}"),
                        StateEntry {
                            value: "v".into(),
                            expires_at_ms: None,
                        },
                    )
                })
                .collect(),
        };
        let mut buffer = StateBuffer::new(&full, 0);
        assert!(buffer.set("k0", "w", None).is_ok());
        assert!(buffer.set("new", "w", None).is_err());
    }
}
