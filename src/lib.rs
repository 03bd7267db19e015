//! The tutorial's 3→4→1 sigmoid network in candle, proven equal to its hand-written deltas.
//!
//! A popular tutorial (a variant of "a neural network in 11 lines of Python")
//! trains a tiny sigmoid network on XOR with hand-written backprop. This crate
//! builds the same network from candle-nn `Linear` layers, trains it through
//! candle's autograd and `SGD`, and keeps the hand-written version
//! ([`reference`]) beside it so the tests can show that the two take the same
//! steps. It also reproduces the tutorial's code as printed, with its two bugs.
//!
//! ```
//! use candle_core::{DType, Device, Module};
//! use simple_nn::{data::Dataset, init::Init, train::{Mode, Trainer}};
//!
//! # fn main() -> candle_core::Result<()> {
//! let dev = Device::Cpu;
//! let (xs, ys) = Dataset::Article.tensors(DType::F64, &dev)?;
//! let ws = Init::Numpy(1).weights(&[3, 4, 1], DType::F64, &dev)?;
//! let mut trainer = Trainer::new(Mode::Autograd, &ws, 1.0)?;
//! for _ in 0..2000 {
//!     trainer.step(&xs, &ys)?;
//! }
//! let prediction = trainer.mlp().forward(&xs)?.round()?.flatten_all()?.to_vec1::<f64>()?;
//! assert_eq!(prediction, [0.0, 1.0, 1.0, 0.0, 0.0]);
//! # Ok(())
//! # }
//! ```

/// Returns early with a one-line `candle_core::Error::Msg`, without the
/// backtrace that `candle_core::bail!` attaches when `RUST_BACKTRACE` is set.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(candle_core::Error::Msg(format!($($arg)*)))
    };
}

pub mod atomic;
pub mod bench;
pub mod checkpoint;
pub mod csv;
pub mod data;
pub mod dense;
pub mod device;
pub mod error;
pub mod fit;
pub mod fused;
pub mod idx;
pub mod init;
pub mod loss;
pub mod model;
pub mod optim;
pub mod plot;
pub mod reference;
pub mod samples;
pub mod synthetic;
pub mod threads;
pub mod train;

pub use data::Dataset;
pub use device::DeviceSpec;
pub use fused::Kernels;
pub use init::Init;
pub use model::Mlp;
pub use samples::{Samples, Source};
pub use train::{Mode, Trainer};
