//! The MPI session of a program: joined at its start, left (`MPI_Finalize`) when dropped.

use candle_core::Result;

use super::Ranks;

/// This process's place among the ranks of one training, and the MPI library kept open for it.
///
/// Without the `mpi` feature, or outside `mpirun`, it is rank 0 of 1.
pub struct Session {
    ranks: Ranks,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl Session {
    /// Joins MPI's world where the program was built with the `mpi` feature (a process started
    /// without `mpirun` is a world of one); else a single process.
    pub fn start() -> Result<Self> {
        #[cfg(feature = "mpi")]
        {
            // Funneled: only the main thread calls MPI (candle's workers and the batch loader never do).
            let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            else {
                fail!("MPI was initialized twice: start one session per process")
            };
            let (rank, size, on_host) = super::calls::world_ranks();
            let ranks = Ranks::new(rank, size, on_host)?;
            Ok(Self {
                ranks,
                _universe: Some(universe),
            })
        }
        #[cfg(not(feature = "mpi"))]
        Ok(Self {
            ranks: Ranks::single(),
        })
    }

    /// The ranks of the training this process is one of.
    pub fn ranks(&self) -> Ranks {
        self.ranks
    }
}
