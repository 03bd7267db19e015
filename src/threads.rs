//! CPU threads: candle's thread count, settled once at start-up, and work split over candle's pool.
//!
//! candle 0.11 asks for its thread count on every CPU matmul. When
//! `RAYON_NUM_THREADS` is unset it answers by reading the CPU topology from
//! `/proc` each time, which costs tens of microseconds: more than the whole
//! training step of the tutorial's network. Setting the variable once makes
//! that lookup a cheap read. Call [`init`] first thing in `main`, while the
//! program has a single thread. [`for_each_chunk_mut`] splits the fused ops'
//! own work over the same worker threads candle's ops use.

use std::sync::{Mutex, PoisonError};

/// The variable candle and rayon read for their thread count.
pub const VAR: &str = "RAYON_NUM_THREADS";

/// Fixes the number of CPU threads candle uses and returns it.
///
/// `Some(n)` uses `n` threads; `None` keeps a valid `RAYON_NUM_THREADS` that
/// the user set, and otherwise uses the cores this process may run on that other
/// processes are not keeping busy at start-up.
pub fn init(threads: Option<usize>) -> usize {
    let from_env = std::env::var(VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let n = threads
        .or(from_env)
        .filter(|&n| n > 0)
        .unwrap_or_else(idle_cores);
    std::env::set_var(VAR, n.to_string());
    n
}

/// The cores this process may run on, less those other processes keep busy right now.
///
/// Every parallel stretch of a step ends at a barrier, so a thread that shares its core with
/// a busy process holds up the others: on two cores with one taken, two threads ran at 0.7×
/// the speed of one. The count of running tasks in `/proc/loadavg` (this one included) is
/// read three times, 2 ms apart, and the smallest taken, so that a passing process does not
/// count. Elsewhere than Linux, all the cores.
fn idle_cores() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let running = || -> Option<usize> {
        let loadavg = std::fs::read_to_string("/proc/loadavg").ok()?;
        let (running, _total) = loadavg.split_whitespace().nth(3)?.split_once('/')?;
        running.parse().ok()
    };
    let mut others = usize::MAX;
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        match running() {
            Some(n) => others = others.min(n.saturating_sub(1)),
            None => return cores,
        }
    }
    cores.saturating_sub(others).max(1)
}

/// The thread count candle uses now (after [`init`], the one it settled).
pub fn current() -> usize {
    candle_core::utils::get_num_threads()
}

/// Runs `f(index, chunk)` on each `chunk_len`-long chunk of `data` (the last may be shorter),
/// spread over candle's own CPU worker pool; returns the first error met.
///
/// candle's elementwise ops run on that pool, whose workers spin for a while after each op
/// before they sleep. Work split over a second pool (rayon's) competes with those spinning
/// workers for the same cores, and on two cores the step got slower with two threads than
/// with one; on candle's pool the same workers take every parallel stretch of the step.
/// `f` must not call candle ops itself: the pool does not nest.
pub fn for_each_chunk_mut<T: Send, E: Send>(
    data: &mut [T],
    chunk_len: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let chunk_len = chunk_len.max(1);
    if current() <= 1 || data.len() <= chunk_len {
        return data
            .chunks_mut(chunk_len)
            .enumerate()
            .try_for_each(|(i, chunk)| f(i, chunk));
    }
    // One lock per chunk, each taken once: the pool hands every index to exactly one thread.
    let chunks: Vec<Mutex<&mut [T]>> = data.chunks_mut(chunk_len).map(Mutex::new).collect();
    let first_error = Mutex::new(None);
    candle_core::utils::barrier_pool().execute_chunked(chunks.len(), |range| {
        for i in range {
            let mut chunk = chunks[i].lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = f(i, &mut chunk) {
                first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(e);
            }
        }
    });
    match first_error
        .into_inner()
        .unwrap_or_else(PoisonError::into_inner)
    {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_is_visited_once_and_the_first_error_comes_back() {
        let mut data = vec![0usize; 1000];
        for_each_chunk_mut(&mut data, 64, |i, chunk| {
            for (j, v) in chunk.iter_mut().enumerate() {
                *v += i * 64 + j;
            }
            Ok::<(), String>(())
        })
        .unwrap();
        assert!(data.iter().enumerate().all(|(i, &v)| v == i));
        let err = for_each_chunk_mut(&mut data, 64, |i, _| match i {
            3 => Err(format!("chunk {i}")),
            _ => Ok(()),
        });
        assert_eq!(err, Err("chunk 3".to_string()));
    }
}
