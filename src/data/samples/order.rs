//! Seeded orders of samples: the train/validation split, each epoch's minibatches, and the
//! shard-by-shard order of samples read from a file.

use candle_core::Result;

use super::set::Samples;
use crate::rng::{self, Purpose, SplitMix64};

impl Samples {
    /// A shuffle from `seed`'s split stream, then the first (1 - valid_fraction) part is train,
    /// the rest validation.
    ///
    /// `valid_fraction` must lie in [0, 1); the validation set gets
    /// `round(len * valid_fraction)` samples, so 0 gives an empty one. It is an
    /// error if the training part would be empty.
    pub fn split(&self, valid_fraction: f64, seed: u64) -> Result<(Samples, Samples)> {
        if !(0.0..1.0).contains(&valid_fraction) {
            fail!(
                "validation fraction {valid_fraction} is out of range: use a number from 0 (no validation) up to, but not including, 1"
            );
        }
        let n = self.len();
        let n_valid = ((n as f64) * valid_fraction).round() as usize;
        let n_train = n - n_valid.min(n);
        if n_train == 0 {
            fail!(
                "validation fraction {valid_fraction} of {n} samples leaves no training samples: use a smaller fraction or more data"
            );
        }
        let mut order = permutation(n, &mut rng::stream(seed, Purpose::Split, 0));
        if self.sharded {
            // Each part in file order, so that its epochs read the file shard by shard.
            order[..n_train].sort_unstable();
            order[n_train..].sort_unstable();
        }
        Ok((
            self.select(&order[..n_train]),
            self.select(&order[n_train..]),
        ))
    }

    /// Epoch `epoch`'s minibatches (counted from 0), from `seed`'s order stream for that epoch:
    /// a shuffle of all the samples, or, for samples read
    /// from a file, a shuffle that reads it a part at a time: the samples cut into shards of
    /// consecutive ones (about 1 MB each), the shards in a shuffled order, and the samples of
    /// each window of 32 shards shuffled together. Every sample comes once per epoch either
    /// way, and the order depends on the seed and the data alone (not on the memory budget),
    /// so a resumed run takes the batches the uninterrupted one would have.
    pub fn epoch_batches(
        &self,
        batch_size: usize,
        seed: u64,
        epoch: usize,
    ) -> Result<Vec<Vec<usize>>> {
        if !self.sharded {
            return epoch_batches(self.len(), batch_size, seed, epoch);
        }
        if batch_size == 0 {
            fail!("batch size 0: use a batch size of at least 1");
        }
        let row = self.n_features.max(1);
        let shard = ((1usize << 20) / row).max(1);
        let mut rng = rng::stream(seed, Purpose::Order, epoch as u64);
        Ok(stream_order(self.len(), shard, 32, &mut rng)
            .chunks(batch_size)
            .map(<[usize]>::to_vec)
            .collect())
    }
}

/// A Fisher–Yates shuffle of `0..len` drawn from `rng`.
fn permutation(len: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// An order of `0..len`, drawn from `rng`, that reads it a part at a time: shards of `shard`
/// consecutive indices in a shuffled order, the indices of each `window` shards in a row
/// shuffled together.
pub fn stream_order(len: usize, shard: usize, window: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let shard = shard.max(1);
    let shards = permutation(len.div_ceil(shard), rng);
    let mut order = Vec::with_capacity(len);
    for group in shards.chunks(window.max(1)) {
        let start = order.len();
        for &s in group {
            order.extend(s * shard..((s + 1) * shard).min(len));
        }
        let part = &mut order[start..];
        for i in (1..part.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            part.swap(i, j);
        }
    }
    order
}

/// Epoch `epoch`'s minibatches (counted from 0): a permutation of 0..len from `seed`'s order
/// stream for that epoch, cut into batches of batch_size (the last may be smaller).
pub fn epoch_batches(
    len: usize,
    batch_size: usize,
    seed: u64,
    epoch: usize,
) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        fail!("batch size 0: use a batch size of at least 1");
    }
    let mut rng = rng::stream(seed, Purpose::Order, epoch as u64);
    Ok(permutation(len, &mut rng)
        .chunks(batch_size)
        .map(<[usize]>::to_vec)
        .collect())
}
