//! Where finished records go (the log line in the Lambda, a list in tests), and where a press
//! that no retry can fix is sent (the dead-letter queue).

use std::future::Future;
use std::sync::Mutex;

use crate::record::PressRecord;

/// Receives every record once, when its press is finished.
pub trait RecordSink: Send + Sync {
    /// Takes one finished record.
    fn record(&self, record: &PressRecord);
}

/// Drops records: the caller prints or asserts on the returned record itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSink;

impl RecordSink for NoSink {
    fn record(&self, _: &PressRecord) {}
}

/// Keeps every record, in order.
#[derive(Debug, Default)]
pub struct MemorySink {
    records: Mutex<Vec<PressRecord>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records received so far.
    pub fn records(&self) -> Vec<PressRecord> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl RecordSink for MemorySink {
    fn record(&self, record: &PressRecord) {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(record.clone());
    }
}

/// Takes presses that cannot succeed on retry, with their event and record, so they are kept
/// without pointless retries.
pub trait DeadLetters: Send + Sync {
    /// Whether a destination is configured; without one such presses fail their invocation,
    /// and the platform's own retries and dead-letter path keep them.
    fn is_on(&self) -> bool;

    /// Sends one press (the event as delivered, its record, the function it invoked); an error
    /// makes the invocation fail instead.
    fn send(
        &self,
        event: &[u8],
        record: &PressRecord,
        function_arn: Option<&str>,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// No dead-letter destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDeadLetters;

impl DeadLetters for NoDeadLetters {
    fn is_on(&self) -> bool {
        false
    }

    async fn send(&self, _: &[u8], _: &PressRecord, _: Option<&str>) -> Result<(), String> {
        Err("no dead-letter destination is configured".into())
    }
}

/// Keeps dead letters in memory, for tests.
#[derive(Debug, Default)]
pub struct MemoryDeadLetters {
    sent: Mutex<Vec<(Vec<u8>, PressRecord)>>,
}

impl MemoryDeadLetters {
    /// An empty destination.
    pub fn new() -> Self {
        Self::default()
    }

    /// What was sent, in order.
    pub fn sent(&self) -> Vec<(Vec<u8>, PressRecord)> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl DeadLetters for MemoryDeadLetters {
    fn is_on(&self) -> bool {
        true
    }

    async fn send(
        &self,
        event: &[u8],
        record: &PressRecord,
        _: Option<&str>,
    ) -> Result<(), String> {
        self.sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((event.to_vec(), record.clone()));
        Ok(())
    }
}
