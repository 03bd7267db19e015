//! The memory budget of loading data: a data set that would take more is never allocated: it
//! is read from disk as batches need it where the loader can (MNIST's IDX files), and refused
//! before anything is allocated, in one line naming the sizes and the flag, where it cannot.
//!
//! The budget is settled once per process, the first time a loader asks ([`budget`]): what
//! [`set`] gave (the examples' `--max-memory`), else half the memory the machine has available
//! at that moment (`MemAvailable` in `/proc/meminfo`; 4 GiB where that cannot be read).
//! [`scoped`] runs a closure with another budget on the calling thread alone (the tests use
//! small ones). Loaders know a set's size before they read it: IDX headers declare it (read
//! before a gzipped file is inflated, so a small file that inflates to gigabytes is never
//! inflated into memory); a table's encoded inputs are counted after its first pass, before any
//! is written.
//!
//! A model to train has a budget of its own ([`model_budget`], `--max-model-memory`), settled the
//! same way: [`crate::nn::footprint`] counts what training a network takes (parameters,
//! gradients, the optimizer's state, one batch's layer outputs) before any of it is allocated
//! and refuses a network over it. It is apart from the data's because the data's is also the
//! knob that sends a data set to disk (`--max-memory 12M` streams MNIST), which a model cannot
//! follow; with both defaults at half the available memory, a data set and a model that each
//! fit take at most what was available together.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::Result;

/// The settled budget in bytes; 0 until the first loader asks.
static SETTLED: AtomicU64 = AtomicU64::new(0);

/// The settled budget of a model to train, in bytes; 0 until first asked.
static MODEL: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// A budget for this thread alone, set by [`scoped`].
    static SCOPED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Where the machine's available memory cannot be read.
const FALLBACK: u64 = 4 << 30;

/// The budget in bytes now: [`scoped`]'s on this thread, else the process's.
pub fn budget() -> u64 {
    if let Some(bytes) = SCOPED.with(Cell::get) {
        return bytes;
    }
    settled(&SETTLED)
}

/// Sets the budget for the whole process (at least one byte).
pub fn set(bytes: u64) {
    SETTLED.store(bytes.max(1), Ordering::Relaxed);
}

/// The budget in bytes of a model to train, apart from the data's: what [`set_model_budget`]
/// gave (the examples' `--max-model-memory`), else half the memory available when first asked.
pub fn model_budget() -> u64 {
    settled(&MODEL)
}

/// Sets the budget of a model to train for the whole process (at least one byte).
pub fn set_model_budget(bytes: u64) {
    MODEL.store(bytes.max(1), Ordering::Relaxed);
}

/// The budget `slot` holds, settled to half the available memory the first time it is asked.
fn settled(slot: &AtomicU64) -> u64 {
    match slot.load(Ordering::Relaxed) {
        0 => {
            let bytes = available().map_or(FALLBACK, |a| (a / 2).max(1));
            match slot.compare_exchange(0, bytes, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => bytes,
                Err(first) => first,
            }
        }
        bytes => bytes,
    }
}

/// Runs `f` with a budget of `bytes` on the calling thread, then restores the one before.
pub fn scoped<R>(bytes: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<u64>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|c| c.replace(Some(bytes.max(1)))));
    f()
}

/// An error unless `bytes` fit the budget; `what` says what would take them.
pub fn check(what: &str, bytes: u64) -> Result<()> {
    let budget = budget();
    if bytes > budget {
        fail!(
            "{what} would take {} in memory, more than the data budget of {} (--max-memory; by default half the memory available): raise --max-memory if the machine has the room, or use a smaller part of the data",
            size(bytes),
            size(budget)
        );
    }
    Ok(())
}

/// `7.3 TB`, `3.1 GB`, `512.0 MB`, `900 bytes`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 40 => format!("{:.1} TB", b as f64 / (1u64 << 40) as f64),
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / f64::from(1u32 << 30)),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / f64::from(1u32 << 20)),
        b if b >= 1 << 10 => format!("{:.1} KB", b as f64 / 1024.0),
        b => format!("{b} bytes"),
    }
}

/// The memory available on this machine now, from `/proc/meminfo`.
fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}
