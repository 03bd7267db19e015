//! CPU threads: how many the kernels use, and the split of their work over candle's pool.
//!
//! The count is settled once per process, the first time a kernel asks
//! ([`current`]): `RAYON_NUM_THREADS` where the user set a valid one, else the
//! cores this process may run on that other processes are not keeping busy at
//! that moment. A library caller needs to call nothing for it.
//!
//! candle's own CPU matmul (the stock kernels) asks for its thread count on
//! every call; when `RAYON_NUM_THREADS` is unset it answers by reading the CPU
//! topology from `/proc` each time, which costs more than a whole training
//! step of the tutorial's network (the README measures it). The fused kernels
//! never ask it. A program that runs the stock kernels can set the variable
//! once at start-up with [`init`], which is `unsafe` because changing the
//! environment is unsound while other threads may read it; the examples call
//! it first thing in `main`. [`scoped`] runs a closure with another count for
//! the kernels on the calling thread alone: the kernels split their work as for
//! that count, on at most as many threads as candle's pool holds. [`exactly`]
//! runs the split work on that many threads of its own, whatever the pool and
//! the machine's load, and says how many ran (the tests compare one thread with
//! two so). [`for_each_chunk_mut`] splits the kernels' work over the worker
//! threads candle's own ops use.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

/// The variable candle and rayon read for their thread count.
pub const VAR: &str = "RAYON_NUM_THREADS";

/// The settled count; 0 until the first kernel asks.
static SETTLED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// A count for this thread alone, set by [`scoped`].
    static SCOPED: Cell<Option<usize>> = const { Cell::new(None) };
    /// Inside [`exactly`]: split work runs on threads of its own, that many.
    static EXACTLY: Cell<Option<usize>> = const { Cell::new(None) };
    /// Inside [`exactly`]: the most threads that one split of work has run on so far.
    static RAN: Cell<usize> = const { Cell::new(0) };
}

/// The number of threads the kernels use now: [`scoped`]'s count on this thread, else the process's.
pub fn current() -> usize {
    if let Some(n) = SCOPED.with(Cell::get) {
        return n;
    }
    match SETTLED.load(Ordering::Relaxed) {
        0 => {
            let n = from_env().unwrap_or_else(idle_cores);
            // A racing thread may have settled first; the first value stays.
            match SETTLED.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(first) => first,
            }
        }
        n => n,
    }
}

/// Runs `f` with the kernels on `threads` threads on the calling thread (at least 1), then restores the count.
pub fn scoped<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCOPED.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(SCOPED.with(|c| c.replace(Some(threads.max(1)))));
    f()
}

/// Runs `f` with the kernels' work split over exactly `threads` threads (at least 1), and returns
/// its result with the most threads that one split of work inside it ran on.
///
/// The kernels split their work as under [`scoped`], but each split runs on `threads` threads
/// of its own, the chunks dealt out in turn (chunk `i` to thread `i mod threads`), not on
/// candle's pool: that pool is sized once per process from the idle cores, and its workers
/// take chunks as they come, so on a busy machine [`scoped`]`(2, …)` may run on one thread.
/// Meant for tests that compare results across thread counts; spawning threads for every
/// split is slower than the pool.
pub fn exactly<R>(threads: usize, f: impl FnOnce() -> R) -> (R, usize) {
    struct Restore(Option<usize>, usize);
    impl Drop for Restore {
        fn drop(&mut self) {
            EXACTLY.with(|c| c.set(self.0));
            RAN.with(|c| c.set(self.1));
        }
    }
    let threads = threads.max(1);
    let _restore = Restore(
        EXACTLY.with(|c| c.replace(Some(threads))),
        RAN.with(|c| c.replace(0)),
    );
    let out = scoped(threads, f);
    (out, RAN.with(Cell::get))
}

/// Settles the thread count for the whole process and tells candle's stock ops through `RAYON_NUM_THREADS`.
///
/// `Some(n)` uses `n` threads; `None` keeps a valid `RAYON_NUM_THREADS` that
/// the user set, and otherwise uses the cores that other processes are not
/// keeping busy now. Returns the count.
///
/// # Safety
/// Sets an environment variable: no other thread may exist that could read or
/// write the environment meanwhile (call it first thing in `main`).
pub unsafe fn init(threads: Option<usize>) -> usize {
    let n = threads
        .filter(|&n| n > 0)
        .or_else(from_env)
        .unwrap_or_else(idle_cores);
    SETTLED.store(n, Ordering::Relaxed);
    // Sound because the caller promises that no other thread touches the environment now.
    std::env::set_var(VAR, n.to_string());
    n
}

/// A valid `RAYON_NUM_THREADS`, if the user set one.
fn from_env() -> Option<usize> {
    std::env::var(VAR)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
}

/// The cores this process may run on, less those other processes keep busy right now.
///
/// Every parallel stretch of a step ends at a barrier, so a thread that shares its core with
/// a busy process holds up the others: on two cores with one taken, two threads ran slower
/// than one did. The count of running tasks in `/proc/loadavg` (this one included) is
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

/// Runs `f(index, chunk)` on each `chunk_len`-long chunk of `data` (the last may be shorter),
/// spread over candle's own CPU worker pool; returns the first error met.
///
/// candle's elementwise ops run on that pool, whose workers spin for a while after each op
/// before they sleep. Work split over a second pool (rayon's) competes with those spinning
/// workers for the same cores, and on two cores the step got slower with two threads than
/// with one; on candle's pool the same workers take every parallel stretch of the step.
/// `f` must not call candle ops itself: the pool does not nest. One thread ([`current`]) runs every chunk here.
pub fn for_each_chunk_mut<T: Send, E: Send>(
    data: &mut [T],
    chunk_len: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let chunk_len = chunk_len.max(1);
    if let Some(threads) = EXACTLY.with(Cell::get) {
        return on_threads_of_its_own(threads, data, chunk_len, f);
    }
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

/// [`for_each_chunk_mut`] inside [`exactly`]: chunk `i` on thread `i mod threads` of
/// `threads` spawned for it (the calling thread alone when there is one chunk, or one thread);
/// records how many threads ran chunks.
fn on_threads_of_its_own<T: Send, E: Send>(
    threads: usize,
    data: &mut [T],
    chunk_len: usize,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    let record = |ran: usize| RAN.with(|c| c.set(c.get().max(ran)));
    if threads <= 1 || data.len() <= chunk_len {
        record(1);
        return data
            .chunks_mut(chunk_len)
            .enumerate()
            .try_for_each(|(i, chunk)| f(i, chunk));
    }
    let mut chunks: Vec<(usize, &mut [T])> = data.chunks_mut(chunk_len).enumerate().collect();
    let mut dealt: Vec<Vec<(usize, &mut [T])>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, chunk) in chunks.drain(..) {
        dealt[i % threads].push((i, chunk));
    }
    let ran = Mutex::new(std::collections::HashSet::new());
    let results: Vec<Result<(), (usize, E)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = dealt
            .into_iter()
            .filter(|chunks| !chunks.is_empty())
            .map(|chunks| {
                let (f, ran) = (&f, &ran);
                scope.spawn(move || {
                    ran.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(std::thread::current().id());
                    chunks
                        .into_iter()
                        .try_for_each(|(i, chunk)| f(i, chunk).map_err(|e| (i, e)))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    record(
        ran.into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .len(),
    );
    // The error of the lowest chunk, as the calling thread alone would meet it first.
    match results
        .into_iter()
        .filter_map(Result::err)
        .min_by_key(|(i, _)| *i)
    {
        Some((_, e)) => Err(e),
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

    /// Under `exactly(n, …)` a split of more than `n` chunks runs on `n` distinct threads, every
    /// chunk once, and the count comes back; one chunk, or one thread, runs on the caller alone.
    #[test]
    fn exactly_runs_each_split_on_that_many_threads_and_says_so() {
        for threads in [1, 2, 3] {
            let (data, ran) = exactly(threads, || {
                let mut data = vec![0usize; 1000];
                let ids = Mutex::new(std::collections::HashSet::new());
                for_each_chunk_mut(&mut data, 64, |i, chunk| {
                    ids.lock().unwrap().insert(std::thread::current().id());
                    for (j, v) in chunk.iter_mut().enumerate() {
                        *v += i * 64 + j;
                    }
                    Ok::<(), ()>(())
                })
                .unwrap();
                assert_eq!(ids.into_inner().unwrap().len(), threads);
                assert_eq!(current(), threads);
                data
            });
            assert!(data.iter().enumerate().all(|(i, &v)| v == i));
            assert_eq!(ran, threads);
        }
        let ((), ran) = exactly(2, || {
            for_each_chunk_mut(&mut [0u8; 10], 64, |_, _| Ok::<(), ()>(())).unwrap();
        });
        assert_eq!(ran, 1, "one chunk");
        let ((), ran) = exactly(2, || {});
        assert_eq!(ran, 0, "no split at all");
        let err = exactly(2, || {
            for_each_chunk_mut(&mut [0u8; 1000], 64, |i, _| match i {
                3 | 8 => Err(i),
                _ => Ok(()),
            })
        });
        assert_eq!(err, (Err(3), 2), "the first chunk's error");
    }
}
