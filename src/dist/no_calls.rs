//! The collectives of a build without the `mpi` feature: a single process, where a collective
//! is never reached (a `Ranks` of more than one cannot be made).

/// Sums `xs` over the ranks: of one, nothing to do.
pub(super) fn sum_f64(_: &mut [f64]) {}

/// Sums `xs` over the ranks: of one, nothing to do.
pub(super) fn sum_f32(_: &mut [f32]) {}

/// Every rank's `xs`: of one, its own.
pub(super) fn gather_u64(xs: &[u64], _: usize) -> Vec<u64> {
    xs.to_vec()
}

/// `bytes` as rank 0 holds them: its own.
pub(super) fn broadcast_bytes(_: usize, _: &mut Vec<u8>) {}

/// `xs` as rank 0 holds them: its own.
pub(super) fn broadcast_f64(_: usize, _: &mut [f64]) {}

/// Ends the process with `code`.
pub(super) fn abort(code: i32) -> ! {
    std::process::exit(code)
}
