//! Fused ops: the same arithmetic as candle's stock ops in fewer autograd nodes, on the CPU (and CUDA for the dense layer).
//!
//! A layer picks its kernels once, when the model is built ([`Kernels`]); after
//! that its `forward` is a plain `Module::forward` and candle's `backward()`
//! drives the fused nodes as it drives any other. Every op here falls back to
//! the stock tensor expression it fuses where it does not run (another device,
//! an integer or half dtype), and the tests compare each with that expression.
//!
//! - [`sigmoid`]: the tutorial's layer `σ(x·wᵀ)`, its loss `½·Σ(ŷ − y)²`, and the
//!   hand-written deltas on the same kernels;
//! - [`sigmoid_net`]: the tutorial's whole network and its loss as one node;
//! - [`dense`](mod@dense): `act(x·wᵀ + b)` on gemm, and softmax cross-entropy;
//! - [`conv`]: `act(conv2d(x, w) + b)` as im2col and gemm, forward and backward, with the
//!   max-pool that follows it where there is one;
//! - [`pool`]: max-pooling whose gradient goes whole to each window's maximum;
//! - [`dropout`](mod@dropout): dropout that keeps its mask for the backward;
//! - [`sgd`]: SGD that updates the weights in place;
//! - [`subnormal`]: optimizer state flushed to zero where it goes subnormal;
//! - [`threads`]: how many CPU threads the kernels use, and the split of work over them.

pub mod adamw;
#[cfg(target_arch = "x86_64")]
mod amx;
pub mod attention;
mod bf16;
pub mod conv;
pub mod dense;
pub mod dropout;
pub mod gelu;
pub mod layer_norm;
mod layer_op;
pub mod linear;
mod math;
mod matmul;
pub mod norm;
mod operand;
pub mod pool;
pub mod sgd;
pub mod sigmoid;
pub mod sigmoid_net;
pub mod subnormal;
pub mod threads;
mod tiles;

pub use conv::{conv2d, conv2d_max_pool};
pub use dense::{dense, softmax_cross_entropy, DenseActivation};
pub use dropout::dropout;
pub use pool::max_pool;
pub use sgd::FusedSgd;
pub use sigmoid::{half_sse, linear_sigmoid, manual_step};
pub use sigmoid_net::sigmoid_net_loss;
pub use subnormal::flush_subnormals;

use candle_core::{CpuStorage, DType, Layout, Result, Tensor, WithDType};

named_enum! {
    /// Which implementation of a model's ops runs: chosen once, when the model is built.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Kernels("kernels") {
        /// candle's own tensor ops and candle-nn's `SGD` (`stock`): the path the proofs use.
        Stock = "stock",
        /// The fused ops of this module (`fused`): the same numbers, several times faster.
        #[default]
        Fused = "fused",
    }
}

named_enum! {
    /// What the matrix products of a model's projections read: their operands as stored, or
    /// the operands rounded to bf16 and summed in f32 (weights, gradients and every other op
    /// stay f32), as PyTorch's CPU autocast runs a linear layer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Precision("precision") {
        /// The operands as stored (`full`).
        #[default]
        Full = "full",
        /// The operands' bf16 roundings, f32 sums (`bf16`): on AMX where the CPU has it.
        Bf16 = "bf16",
    }
}

impl Precision {
    /// How a GPT asked to train in `dtype` on `dev` keeps its weights and runs its products:
    /// `bf16` on the CPU's fused kernels keeps f32 weights (the optimizer's master copy) and
    /// multiplies their bf16 roundings, as PyTorch's CPU autocast does; any other request keeps
    /// its weights in `dtype` and multiplies them as they are.
    pub fn for_dtype(dtype: DType, dev: &candle_core::Device, kernels: Kernels) -> (DType, Self) {
        match (dtype, kernels) {
            (DType::BF16, Kernels::Fused) if dev.is_cpu() => (DType::F32, Self::Bf16),
            _ => (dtype, Self::Full),
        }
    }
}

/// The float types the CPU kernels run on.
pub(crate) trait Real:
    WithDType
    + Send
    + Sync
    + PartialOrd
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
{
    fn exp(self) -> Self;
    fn ln(self) -> Self;
    /// These values as f32s, where they are f32s (bf16 products take f32 operands).
    fn f32s(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }
    /// These values as f32s to write, where they are f32s.
    fn f32s_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        let _ = values;
        None
    }
}

macro_rules! real {
    ($t:ty { $($more:tt)* }) => {
        impl Real for $t {
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            $($more)*
        }
    };
}
real!(f32 {
    fn f32s(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    }
    fn f32s_mut(values: &mut [f32]) -> Option<&mut [f32]> {
        Some(values)
    }
});
real!(f64 {});

/// Whether the CPU kernels take these tensors: all on the CPU, all f32 or all f64.
pub(crate) fn is_fusable(ts: &[&Tensor]) -> bool {
    let dtype = ts[0].dtype();
    matches!(dtype, DType::F32 | DType::F64)
        && ts.iter().all(|t| t.device().is_cpu() && t.dtype() == dtype)
}

/// Runs `f` on the CPU storages and layouts of `tensors`, read-locked for the call; `op` names
/// the op in the error where one of them is on another device.
pub(crate) fn on_cpu<R>(
    tensors: &[&Tensor],
    op: &str,
    f: impl FnOnce(&[(&CpuStorage, &Layout)]) -> Result<R>,
) -> Result<R> {
    let guards: Vec<_> = tensors.iter().map(|t| t.storage_and_layout()).collect();
    let mut cpu = Vec::with_capacity(guards.len());
    for (storage, layout) in &guards {
        let candle_core::Storage::Cpu(s) = &**storage else {
            candle_core::bail!("{op} backward: tensors left the CPU")
        };
        cpu.push((s, *layout));
    }
    f(&cpu)
}

/// The contiguous values of a CPU storage.
pub(crate) fn values<'a, T: WithDType>(
    storage: &'a CpuStorage,
    layout: &Layout,
) -> Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&storage.as_slice::<T>()?[start..end]),
        None => Err(candle_core::Error::RequiresContiguous { op: "fused" }.bt()),
    }
}
