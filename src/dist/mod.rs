//! Data-parallel training over processes: the ranks that train one model together, the
//! collectives they need (gradients summed, a flag agreed, numbers broadcast from rank 0) and
//! the start-up check that they train the same thing.
//!
//! A program runs as one rank of [`Ranks`]; a single process is rank 0 of 1, and every
//! collective is then nothing at all. Built with the `mpi` feature and started by `mpirun -np N`
//! (or `srun --mpi=pmix`), a [`Session`] joins MPI's world and its ranks are the world's. Each
//! rank trains on its [`share`](Ranks::share) of every global batch; [`sum_gradients`] adds the
//! ranks' weighted gradients with `MPI_Allreduce`, so every rank takes the same step. Knows
//! nothing of models or data.

mod agree;
mod gradients;
#[cfg(feature = "nccl")]
pub mod nccl;
mod ranks;
mod session;
mod shared;

#[cfg(feature = "mpi")]
#[path = "mpi_calls.rs"]
mod calls;
#[cfg(not(feature = "mpi"))]
#[path = "no_calls.rs"]
mod calls;

pub use agree::{fingerprint, first_difference};
pub use gradients::sum_gradients;
pub use ranks::Ranks;
pub use session::{Session, LAUNCHERS};
pub use shared::Shared;
