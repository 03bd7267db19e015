//! Settling candle's CPU thread count once, at start-up, before any tensor op.
//!
//! candle 0.11 asks for its thread count on every CPU matmul. When
//! `RAYON_NUM_THREADS` is unset it answers by reading the CPU topology from
//! `/proc` each time, which costs tens of microseconds: more than the whole
//! training step of the tutorial's network. Setting the variable once makes
//! that lookup a cheap read. Call [`init`] first thing in `main`, while the
//! program has a single thread.

/// The variable candle and rayon read for their thread count.
pub const VAR: &str = "RAYON_NUM_THREADS";

/// Fixes the number of CPU threads candle uses and returns it.
///
/// `Some(n)` uses `n` threads; `None` keeps a valid `RAYON_NUM_THREADS` that
/// the user set, and otherwise uses the threads this process may run on.
pub fn init(threads: Option<usize>) -> usize {
    let from_env = std::env::var(VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let n = threads
        .or(from_env)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    std::env::set_var(VAR, n.to_string());
    n
}

/// The thread count candle uses now (after [`init`], the one it settled).
pub fn current() -> usize {
    candle_core::utils::get_num_threads()
}
