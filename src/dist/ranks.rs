//! The ranks that train one model: this process's rank, how many there are, the share of a
//! global batch each takes, and the small collectives a training loop needs.

use std::ops::Range;

use candle_core::Result;

use super::calls;

/// This process's place among the `size` processes that train one model together (rank 0 of 1
/// for a single process). Rank 0 is the one that prints and writes files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ranks {
    rank: usize,
    size: usize,
    /// How many of the ranks run on this host (this one included).
    on_host: usize,
}

impl Default for Ranks {
    fn default() -> Self {
        Self::single()
    }
}

impl Ranks {
    /// A single process: rank 0 of 1.
    pub fn single() -> Self {
        Self {
            rank: 0,
            size: 1,
            on_host: 1,
        }
    }

    /// Rank `rank` of `size`, `on_host` of them on this host, as MPI's world says.
    #[cfg(feature = "mpi")]
    pub(super) fn new(rank: usize, size: usize, on_host: usize) -> Result<Self> {
        if size == 0 || rank >= size || !(1..=size).contains(&on_host) {
            fail!("MPI says this is rank {rank} of {size}, {on_host} on this host: start the program with mpirun -np N")
        }
        Ok(Self {
            rank,
            size,
            on_host,
        })
    }

    /// This process's rank, from 0.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// How many ranks train the model.
    pub fn size(&self) -> usize {
        self.size
    }

    /// How many ranks run on this host, this one included (they share its cores).
    pub fn on_host(&self) -> usize {
        self.on_host
    }

    /// Whether this is rank 0, the one that prints and writes.
    pub fn is_root(&self) -> bool {
        self.rank == 0
    }

    /// Whether more than one process trains.
    pub fn is_parallel(&self) -> bool {
        self.size > 1
    }

    /// This rank's rows of a global batch of `rows`: the `rank`-th of `size` consecutive
    /// shares, as even as whole rows allow (`rows·rank/size .. rows·(rank+1)/size`).
    pub fn share(&self, rows: usize) -> Range<usize> {
        rows * self.rank / self.size..rows * (self.rank + 1) / self.size
    }

    /// Sums `xs` over the ranks, in place, on every rank.
    pub fn sum(&self, xs: &mut [f64]) {
        if self.is_parallel() {
            calls::sum_f64(xs)
        }
    }

    /// Sums `xs` over the ranks, in place, on every rank.
    pub fn sum_f32(&self, xs: &mut [f32]) {
        if self.is_parallel() {
            calls::sum_f32(xs)
        }
    }

    /// Whether `flag` holds on any rank (a stop asked of one rank stops them all).
    pub fn any(&self, flag: bool) -> bool {
        let mut xs = [f64::from(u8::from(flag))];
        self.sum(&mut xs);
        xs[0] > 0.0
    }

    /// Every rank's `xs` (each rank's of the same length), rank after rank.
    pub fn gather(&self, xs: &[u64]) -> Vec<u64> {
        match self.is_parallel() {
            true => calls::gather_u64(xs, self.size),
            false => xs.to_vec(),
        }
    }

    /// The bytes that rank `root` holds, on every rank.
    pub fn broadcast_bytes(&self, root: usize, bytes: &mut Vec<u8>) {
        if self.is_parallel() {
            calls::broadcast_bytes(root, bytes)
        }
    }

    /// What `compute` gives on rank 0, on every rank: the others wait for it. An error on
    /// rank 0 is its own; the others end with one that points to it.
    pub fn from_root<const N: usize>(
        &self,
        compute: impl FnOnce() -> Result<[f64; N]>,
    ) -> Result<[f64; N]> {
        if !self.is_parallel() {
            return compute();
        }
        // One more number: whether rank 0 succeeded.
        let mut xs = vec![0.0; N + 1];
        let mine = match self.is_root() {
            true => Some(compute()),
            false => None,
        };
        if let Some(Ok(values)) = &mine {
            xs[0] = 1.0;
            xs[1..].copy_from_slice(values);
        }
        calls::broadcast_f64(0, &mut xs);
        match mine {
            Some(Err(e)) => Err(e),
            _ if xs[0] != 1.0 => Err(super::Shared::error(
                "rank 0 failed (its own line says why)".into(),
            )),
            _ => {
                let mut values = [0.0; N];
                values.copy_from_slice(&xs[1..]);
                Ok(values)
            }
        }
    }

    /// Ends every rank now with exit status `code` (`MPI_Abort`): what a rank does on an error
    /// that the others cannot know of, which would leave them waiting in a collective forever.
    pub fn abort(&self, code: i32) -> ! {
        calls::abort(code)
    }
}
