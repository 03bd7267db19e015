//! An error that every rank meets at once (a failed start-up check, rank 0's failed
//! evaluation), which rank 0 alone reports.

use std::sync::atomic::{AtomicBool, Ordering};

/// Set once this process has made a [`Shared`] error.
static RAISED: AtomicBool = AtomicBool::new(false);

/// Errors that every rank has, the same on each: rank 0 prints them, the others end quietly
/// (without the `MPI_Abort` that an error of one rank's own needs).
pub struct Shared;

impl Shared {
    /// `message` as the error that every rank returns.
    pub fn error(message: String) -> candle_core::Error {
        RAISED.store(true, Ordering::Relaxed);
        candle_core::Error::Msg(message)
    }

    /// Whether this process made a shared error: the one it ends with, as it stops at the first.
    pub fn raised() -> bool {
        RAISED.load(Ordering::Relaxed)
    }
}
