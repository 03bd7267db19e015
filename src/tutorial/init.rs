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

use crate::io::weights;
use crate::rng::{Mt19937, SplitMix64};

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
    /// A `.npz` or `.safetensors` checkpoint (see [`crate::io::weights`]).
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
            Init::File(path) => return weights::load(path, sizes, dtype, dev),
        };
        ws.iter()
            .map(|w| w.to_dtype(dtype)?.to_device(dev))
            .collect()
    }
}

/// Float64 CPU tensors `2 * u - 1`, `u` drawn from `sample` in row-major order, layer by layer.
fn uniform_weights(sizes: &[usize], mut sample: impl FnMut() -> f64) -> Result<Vec<Tensor>> {
    crate::nn::check_sizes(sizes)?;
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
        match weights::Format::of(&path) {
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
