//! Initial weights, uniform in [-1, 1), from a seed or a file.
//!
//! Weights are drawn in float64 on the host, in the tutorial's layout (`w_i` of
//! shape `(sizes[i], sizes[i + 1])`, row-major, layer after layer), and only
//! then converted to the run's dtype and moved to its device: the same seed
//! gives the same weights everywhere.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use candle_core::{DType, Device, Result, Tensor};

use crate::checkpoint;

/// The seed of `--init` when none is given.
pub const DEFAULT_SEED: u64 = 1;

/// Where the initial weights come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Init {
    /// `numpy:SEED`: exactly what `np.random.seed(SEED)` then
    /// `2 * np.random.random((n_in, n_out)) - 1` per layer draws.
    Numpy(u32),
    /// `uniform:SEED`: the crate's own seeded generator ([`SplitMix64`]).
    Uniform(u64),
    /// A `.npz` or `.safetensors` checkpoint (see [`checkpoint`]).
    File(PathBuf),
}

impl Default for Init {
    fn default() -> Self {
        Init::Uniform(DEFAULT_SEED)
    }
}

impl Init {
    /// The initial weights for layer sizes `sizes`, in the tutorial's layout.
    pub fn weights(&self, sizes: &[usize], dtype: DType, dev: &Device) -> Result<Vec<Tensor>> {
        let ws = match self {
            Init::Numpy(seed) => {
                let mut rng = Mt19937::new(*seed);
                uniform_weights(sizes, || rng.random_sample())?
            }
            Init::Uniform(seed) => {
                let mut rng = SplitMix64::new(*seed);
                uniform_weights(sizes, || rng.next_f64())?
            }
            Init::File(path) => return checkpoint::load(path, sizes, dtype, dev),
        };
        ws.iter()
            .map(|w| w.to_dtype(dtype)?.to_device(dev))
            .collect()
    }
}

/// Float64 CPU tensors `2 * u - 1`, `u` drawn from `sample` in row-major order, layer by layer.
fn uniform_weights(sizes: &[usize], mut sample: impl FnMut() -> f64) -> Result<Vec<Tensor>> {
    crate::model::check_sizes(sizes)?;
    sizes
        .windows(2)
        .map(|pair| {
            let (n_in, n_out) = (pair[0], pair[1]);
            let values: Vec<f64> = (0..n_in * n_out).map(|_| 2.0 * sample() - 1.0).collect();
            Tensor::from_vec(values, (n_in, n_out), &Device::Cpu)
        })
        .collect()
}

impl FromStr for Init {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        if let Some(seed) = s.strip_prefix("numpy:") {
            return seed.parse().map(Init::Numpy).map_err(|_| {
                format!(
                    "bad numpy seed '{seed}': numpy seeds are whole numbers from 0 to 4294967295"
                )
            });
        }
        if let Some(seed) = s.strip_prefix("uniform:") {
            return seed.parse().map(Init::Uniform).map_err(|_| {
                format!("bad uniform seed '{seed}': write a whole number from 0 to 18446744073709551615")
            });
        }
        let path = PathBuf::from(s);
        match checkpoint::Format::of(&path) {
            Ok(_) => Ok(Init::File(path)),
            Err(_) => Err(format!(
                "unknown init '{s}': use numpy:SEED, uniform:SEED, or a PATH ending in .npz or .safetensors"
            )),
        }
    }
}

impl fmt::Display for Init {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Init::Numpy(seed) => write!(f, "numpy:{seed}"),
            Init::Uniform(seed) => write!(f, "uniform:{seed}"),
            Init::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// numpy's legacy generator: MT19937 seeded by `init_genrand`, as `np.random.seed(int)` does.
#[derive(Clone)]
pub struct Mt19937 {
    state: [u32; 624],
    index: usize,
}

impl Mt19937 {
    const N: usize = 624;
    const M: usize = 397;

    /// The generator after `np.random.seed(seed)`.
    pub fn new(seed: u32) -> Self {
        let mut state = [0u32; Self::N];
        state[0] = seed;
        for i in 1..Self::N {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Self {
            state,
            index: Self::N,
        }
    }

    /// The next tempered 32-bit output.
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= Self::N {
            self.twist();
        }
        let mut y = self.state[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A double in [0, 1) from two draws, as `np.random.random()` makes it.
    pub fn random_sample(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) / 9_007_199_254_740_992.0
    }

    fn twist(&mut self) {
        for i in 0..Self::N {
            let y = (self.state[i] & 0x8000_0000) | (self.state[(i + 1) % Self::N] & 0x7fff_ffff);
            let mut next = self.state[(i + Self::M) % Self::N] ^ (y >> 1);
            if y & 1 == 1 {
                next ^= 0x9908_b0df;
            }
            self.state[i] = next;
        }
        self.index = 0;
    }
}

/// The crate's own small seeded generator (Vigna's SplitMix64).
#[derive(Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator whose whole output is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A double in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / 9_007_199_254_740_992.0
    }
}
