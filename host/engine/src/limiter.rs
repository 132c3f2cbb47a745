//! Memory cap and peak-memory accounting for one press.

use wasmtime::ResourceLimiter;

/// Table slots a guest may grow to; interpreters (JS, Python) need tens of thousands.
pub(crate) const MAX_TABLE_ELEMENTS: usize = 200_000;

/// Raised from `memory.grow` past the cap, so the press ends at once with a typed error rather
/// than as whatever the guest's allocator does when growth fails.
#[derive(Debug, thiserror::Error)]
#[error("memory limit of {limit} bytes exceeded: {requested} bytes requested")]
pub(crate) struct MemoryLimitExceeded {
    pub(crate) limit: u64,
    pub(crate) requested: u64,
}

/// Caps the sum of all the guest's linear memories and remembers the largest sum seen.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    limit: u64,
    total: u64,
    peak: u64,
}

impl MemoryLimiter {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            total: 0,
            peak: 0,
        }
    }

    pub(crate) fn peak(&self) -> u64 {
        self.peak
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let requested = self.total - (current as u64).min(self.total) + desired as u64;
        if requested > self.limit {
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.limit,
                requested,
            }));
        }
        self.total = requested;
        self.peak = self.peak.max(requested);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}
