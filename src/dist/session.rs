//! The MPI session of a program: joined at its start, left (`MPI_Finalize`) when dropped.

use candle_core::Result;

use super::Ranks;

/// Variables that MPI launchers set in each process they start: Open MPI's `mpirun`
/// (`OMPI_COMM_WORLD_SIZE`), PMIx (`PMIX_RANK`: Open MPI, Slurm's `srun --mpi=pmix`), PMI and
/// PMI-2 (`PMI_SIZE`: MPICH's and Intel MPI's `mpiexec`, `srun --mpi=pmi2`).
pub const LAUNCHERS: &[&str] = &["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"];

/// This process's place among the ranks of one training, and the MPI library kept open for it.
///
/// Without the `mpi` feature, or outside `mpirun`, it is rank 0 of 1.
pub struct Session {
    ranks: Ranks,
    #[cfg(feature = "mpi")]
    _universe: Option<mpi::environment::Universe>,
}

impl Session {
    /// Joins MPI's world where the program was built with the `mpi` feature and a launcher
    /// started it (see [`LAUNCHERS`]); else a single process, which then pays nothing for MPI
    /// (a singleton `MPI_Init` took a third of a second).
    pub fn start() -> Result<Self> {
        #[cfg(feature = "mpi")]
        if LAUNCHERS.iter().any(|v| std::env::var_os(v).is_some()) {
            // Funneled: only the main thread calls MPI (candle's workers and the batch loader never do).
            let Some((universe, _)) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            else {
                fail!("MPI was initialized twice: start one session per process")
            };
            let (rank, size, on_host) = super::calls::world_ranks();
            let ranks = Ranks::new(rank, size, on_host)?;
            return Ok(Self {
                ranks,
                _universe: Some(universe),
            });
        }
        Ok(Self {
            ranks: Ranks::single(),
            #[cfg(feature = "mpi")]
            _universe: None,
        })
    }

    /// The ranks of the training this process is one of.
    pub fn ranks(&self) -> Ranks {
        self.ranks
    }
}
