//! Gradients summed on the GPUs through NCCL (the `nccl` feature, which takes `cuda` and `mpi`):
//! one GPU per rank, the NCCL id made by rank 0 and sent to the others through MPI, as candle's
//! multi-process example shares it. Once a rank has [`join`]ed, [`super::sum_gradients`] sums
//! gradients that live on its GPU in one NCCL all-reduce, without a trip through the host.

use std::cell::RefCell;

use candle_core::backend::BackendStorage;
use candle_core::cuda::cudarc::driver::{DeviceRepr, ValidAsZeroBits};
use candle_core::cuda::cudarc::nccl::{Comm, Id, NcclType, ReduceOp};
use candle_core::cuda::{CudaDType, CudaStorage};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor};

use super::Ranks;

thread_local! {
    /// The communicator this thread joined (NCCL's are not shared between threads; training
    /// runs on one).
    static COMM: RefCell<Option<Comm>> = const { RefCell::new(None) };
}

/// An NCCL error as a candle error.
fn nccl(e: impl std::fmt::Debug) -> candle_core::Error {
    candle_core::Error::Msg(format!("NCCL: {e:?}"))
}

/// Joins the NCCL group of `ranks` on `dev`, this rank's GPU (one per rank: `CUDA_VISIBLE_DEVICES`,
/// or Slurm's `--gpus-per-task=1`): rank 0 makes the id, MPI sends it to the others. A group of
/// one rank works too (its sums are its own values).
pub fn join(ranks: Ranks, dev: &Device) -> Result<()> {
    let Device::Cuda(cuda) = dev else {
        fail!("NCCL sums gradients on GPUs: give each rank --device cuda")
    };
    let mut bytes: Vec<u8> = match ranks.is_root() {
        true => (Id::new().map_err(nccl)?.internal().iter())
            .map(|c| *c as u8)
            .collect(),
        false => Vec::new(),
    };
    ranks.broadcast_bytes(0, &mut bytes);
    let mut internal = [0 as std::ffi::c_char; 128];
    if bytes.len() != internal.len() {
        fail!("NCCL: rank 0 sent an id of {} bytes, not 128", bytes.len())
    }
    for (to, from) in internal.iter_mut().zip(&bytes) {
        *to = *from as std::ffi::c_char;
    }
    let id = Id::uninit(internal);
    let comm = Comm::from_rank(cuda.cuda_stream(), ranks.rank(), ranks.size(), id).map_err(nccl)?;
    COMM.with(|c| *c.borrow_mut() = Some(comm));
    Ok(())
}

/// Whether this thread has joined an NCCL group.
pub fn joined() -> bool {
    COMM.with(|c| c.borrow().is_some())
}

/// `xs` (f32 or f64, on this rank's GPU) summed over the ranks by NCCL, on every rank.
pub(super) fn sum(xs: &Tensor) -> Result<Tensor> {
    xs.contiguous()?.apply_op1_no_bwd(&AllReduce)
}

/// NCCL's all-reduce (a sum) as a candle op on CUDA storage.
struct AllReduce;

impl CustomOp1 for AllReduce {
    fn name(&self) -> &'static str {
        "nccl-all-reduce"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        fail!("NCCL sums tensors on GPUs, not on the CPU")
    }

    fn cuda_fwd(&self, s: &CudaStorage, l: &Layout) -> Result<(CudaStorage, Shape)> {
        let Some((start, end)) = l.contiguous_offsets() else {
            fail!("NCCL sums contiguous tensors")
        };
        let summed = match s.dtype() {
            DType::F32 => all_reduce::<f32>(s, start..end)?,
            DType::F64 => all_reduce::<f64>(s, start..end)?,
            other => fail!(
                "NCCL sums f32 or f64 gradients here, not {}",
                other.as_str()
            ),
        };
        Ok((summed, l.shape().clone()))
    }
}

/// Elements `range` of `s` summed over the ranks into new storage on the same GPU.
fn all_reduce<T>(s: &CudaStorage, range: std::ops::Range<usize>) -> Result<CudaStorage>
where
    T: CudaDType + NcclType + DeviceRepr + ValidAsZeroBits,
{
    let src = s.as_cuda_slice::<T>()?.slice(range.clone());
    let mut dst = s.device.alloc_zeros::<T>(range.len())?;
    COMM.with(|c| match c.borrow().as_ref() {
        Some(comm) => comm
            .all_reduce(&src, &mut dst, &ReduceOp::Sum)
            .map_err(nccl),
        None => fail!("NCCL: this rank joined no group (dist::nccl::join)"),
    })?;
    Ok(CudaStorage::wrap_cuda_slice(dst, s.device.clone()))
}
