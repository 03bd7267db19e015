//! Seeded orders of samples: the train/validation split, each epoch's minibatches, and the
//! shard-by-shard order of samples read from a file.

use candle_core::Result;

use super::set::Samples;
use crate::rng::SplitMix64;

impl Samples {
    /// Seeded shuffle, then the first (1 - valid_fraction) part is train, the rest validation.
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
        let mut order = permutation(n, seed);
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

    /// One epoch's minibatches, seeded: a shuffle of all the samples, or, for samples read
    /// from a file, a shuffle that reads it a part at a time: the samples cut into shards of
    /// consecutive ones (about 1 MB each), the shards in a shuffled order, and the samples of
    /// each window of 32 shards shuffled together. Every sample comes once per epoch either
    /// way, and the order depends on the seed and the data alone (not on the memory budget),
    /// so a resumed run takes the batches the uninterrupted one would have.
    pub fn epoch_batches(&self, batch_size: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
        if !self.sharded {
            return epoch_batches(self.len(), batch_size, seed);
        }
        if batch_size == 0 {
            fail!("batch size 0: use a batch size of at least 1");
        }
        let row = self.n_features.max(1);
        let shard = ((1usize << 20) / row).max(1);
        Ok(stream_order(self.len(), shard, 32, seed)
            .chunks(batch_size)
            .map(<[usize]>::to_vec)
            .collect())
    }
}

/// A seeded Fisher–Yates shuffle of `0..len`.
fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
    order
}

/// A seeded order of `0..len` that reads it a part at a time: shards of `shard` consecutive
/// indices in a shuffled order, the indices of each `window` shards in a row shuffled together.
pub fn stream_order(len: usize, shard: usize, window: usize, seed: u64) -> Vec<usize> {
    let shard = shard.max(1);
    let shards = permutation(len.div_ceil(shard), seed);
    let mut rng = SplitMix64::new(seed ^ 0x5851_f42d_4c95_7f2d);
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

/// One epoch's minibatches: a seeded permutation of 0..len cut into batches of batch_size (the last may be smaller).
pub fn epoch_batches(len: usize, batch_size: usize, seed: u64) -> Result<Vec<Vec<usize>>> {
    if batch_size == 0 {
        fail!("batch size 0: use a batch size of at least 1");
    }
    Ok(permutation(len, seed)
        .chunks(batch_size)
        .map(<[usize]>::to_vec)
        .collect())
}
