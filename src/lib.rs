//! The tutorial's 3→4→1 sigmoid network in candle, proven equal to its hand-written deltas, and
//! the same code grown into bigger models.
//!
//! A popular tutorial (a variant of "a neural network in 11 lines of Python")
//! trains a tiny sigmoid network on XOR with hand-written backprop. This crate
//! builds the same network from candle-nn `Linear` layers, trains it through
//! candle's autograd and `SGD`, and keeps the hand-written version
//! ([`tutorial::reference`]) beside it so the tests can show that the two take
//! the same steps. It also reproduces the tutorial's code as printed, with its
//! two bugs.
//!
//! The modules are layers; each uses only those listed before it, and inside a
//! module's folder no files import each other in a circle (a test,
//! `tests/architecture.rs`, reads `src/` and fails on an import against either
//! rule):
//!
//! | module | owns |
//! |---|---|
//! | [`error`] | one-line error messages |
//! | [`rng`] | the seeded generators (numpy's MT19937, SplitMix64) |
//! | [`device`] | `cpu`, `cuda[:N]`, `metal`, `auto` |
//! | [`kernels`] | fused CPU/CUDA ops, the in-place SGD, the thread policy |
//! | [`dist`] | the ranks of a data-parallel training (MPI with the `mpi` feature), their collectives |
//! | [`data`] | samples in memory, CSV, MNIST IDX, synthetic sets; knows nothing of training |
//! | [`nn`] | layers, models, losses, optimizers, schedules, the training loop |
//! | [`io`] | atomic writes, `.npz` checks, weight files, model files, reports |
//! | [`run`] | a training run from a data source to a trained model (`nn train`) |
//! | [`tutorial`] | the article's data, the hand-written reference, its trainer and modes |
//! | [`plot`] | loss curves as SVG |
//! | [`bench`](mod@bench) | the `nn bench` workload, helpers of the side-by-side benchmarks |
//! | [`cli`] | parsers of command-line values, with errors that name the range |
//!
//! ```
//! use simple_nn::candle::{DType, Device, Module};
//! use simple_nn::tutorial::{Dataset, Init, Mode, Trainer};
//!
//! # fn main() -> simple_nn::candle::Result<()> {
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

/// A field-less enum whose values have names: `FromStr` and `Display` over one table of names,
/// and an error that lists them (`unknown loss 'x': use cross-entropy, mse, bce or half-sse`).
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident($what:literal) {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, as a command line writes it.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// This value as a command line writes it.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(format!(
                        "unknown {} '{s}': use {}",
                        $what,
                        crate::error::one_of(Self::NAMES)
                    )),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

/// mimalloc serves the many small tensors each training step makes and drops, and keeps the
/// buffers it frees, where the system allocator maps and faults the large ones anew at every
/// step (the README's Performance section has what it saves). Turn the `mimalloc` feature off
/// (`default-features = false`) in a program that sets a global allocator of its own.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

pub mod error;
pub mod rng;

pub mod device;

pub mod kernels;

pub mod dist;

pub mod data;

pub mod nn;

pub mod io;

pub mod run;

pub mod tutorial;

pub mod bench;
pub mod cli;
pub mod plot;

/// The candle crates this one is built on, so that a caller needs no dependency lines of its own.
pub mod candle {
    pub use candle_core::*;
    pub use candle_nn as nn;
}

pub use device::DeviceSpec;
pub use kernels::Kernels;
