//! The collectives over MPI's world communicator (`mpi` feature).

use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::topology::{Communicator, SimpleCommunicator};

fn world() -> SimpleCommunicator {
    SimpleCommunicator::world()
}

/// This process's rank, the world's size, and how many of the world's ranks share this host
/// (`MPI_Comm_split_type` by shared memory).
pub(super) fn world_ranks() -> (usize, usize, usize) {
    let world = world();
    let host = world.split_shared(world.rank());
    (
        world.rank() as usize,
        world.size() as usize,
        host.size() as usize,
    )
}

/// Sums `xs` over the ranks, in place (`MPI_Allreduce`).
pub(super) fn sum_f64(xs: &mut [f64]) {
    let send = xs.to_vec();
    world().all_reduce_into(&send[..], xs, SystemOperation::sum());
}

/// Sums `xs` over the ranks, in place (`MPI_Allreduce`).
pub(super) fn sum_f32(xs: &mut [f32]) {
    let send = xs.to_vec();
    world().all_reduce_into(&send[..], xs, SystemOperation::sum());
}

/// Every rank's `xs`, rank after rank (`MPI_Allgather`).
pub(super) fn gather_u64(xs: &[u64], size: usize) -> Vec<u64> {
    let mut all = vec![0u64; xs.len() * size];
    world().all_gather_into(xs, &mut all[..]);
    all
}

/// `bytes` as rank `root` holds them, on every rank (`MPI_Bcast`, the length first).
pub(super) fn broadcast_bytes(root: usize, bytes: &mut Vec<u8>) {
    let world = world();
    let from = world.process_at_rank(root as i32);
    let mut len = bytes.len() as u64;
    from.broadcast_into(&mut len);
    bytes.resize(len as usize, 0);
    from.broadcast_into(&mut bytes[..]);
}

/// `xs` as rank `root` holds them, on every rank (`MPI_Bcast`).
pub(super) fn broadcast_f64(root: usize, xs: &mut [f64]) {
    world().process_at_rank(root as i32).broadcast_into(xs);
}

/// Ends every rank of the world with `code` (`MPI_Abort`).
pub(super) fn abort(code: i32) -> ! {
    world().abort(code)
}
