//! The ranks' gradients summed into one, so that every rank takes the step a single process
//! would take on the whole global batch.

use candle_core::backprop::GradStore;
use candle_core::{DType, Result, Tensor, Var, WithDType};

use super::Ranks;

/// Replaces the gradients of `vars` in `grads` by their sum over the ranks, each rank's first
/// multiplied by its `weight` (its rows over the global batch's, for a loss that is a mean over
/// the rows; 1 for a sum); `scalars` (a step's loss, a stop flag) are summed alongside.
///
/// One `MPI_Allreduce` carries every gradient, in the variables' dtype (f64, else f32); a
/// second, of f64s, the scalars and, per variable, how many ranks had a gradient for it: a
/// variable none had keeps none, as in a single process. A rank with no rows passes an empty
/// store and weight 0.
pub fn sum_gradients(
    ranks: Ranks,
    grads: &mut GradStore,
    vars: &[Var],
    weight: f64,
    scalars: &mut [f64],
) -> Result<()> {
    // Gradients on a GPU of an NCCL group are summed there (a group of one rank included).
    #[cfg(feature = "nccl")]
    if super::nccl::joined() && vars.first().is_some_and(|v| v.device().is_cuda()) {
        return on_gpus(ranks, grads, vars, weight, scalars);
    }
    if !ranks.is_parallel() {
        return Ok(());
    }
    let counts = counts(ranks, grads, vars, scalars);
    match vars.first().is_some_and(|v| v.dtype() == DType::F64) {
        true => {
            let (mut flat, offsets) = flatten(grads, vars, weight)?;
            ranks.sum(&mut flat);
            put_back(grads, vars, &counts, &offsets, &flat)?;
        }
        false => {
            let (mut flat, offsets) = flatten(grads, vars, weight as f32)?;
            ranks.sum_f32(&mut flat);
            put_back(grads, vars, &counts, &offsets, &flat)?;
        }
    }
    scalars.copy_from_slice(&counts[vars.len()..]);
    Ok(())
}

/// Over all ranks: per variable, how many ranks have a gradient for it, then `scalars` summed.
fn counts(ranks: Ranks, grads: &GradStore, vars: &[Var], scalars: &[f64]) -> Vec<f64> {
    let mut counts: Vec<f64> = (vars.iter())
        .map(|v| f64::from(u8::from(grads.get(v).is_some())))
        .chain(scalars.iter().copied())
        .collect();
    ranks.sum(&mut counts);
    counts
}

/// [`sum_gradients`] through NCCL: the gradients, weighted, joined on the GPU into one tensor,
/// summed by one NCCL all-reduce and cut apart again; the counts and `scalars` through MPI.
#[cfg(feature = "nccl")]
fn on_gpus(
    ranks: Ranks,
    grads: &mut GradStore,
    vars: &[Var],
    weight: f64,
    scalars: &mut [f64],
) -> Result<()> {
    let counts = counts(ranks, grads, vars, scalars);
    let parts = (vars.iter())
        .map(|v| match grads.get(v) {
            Some(g) => (g * weight)?.flatten_all(),
            None => Tensor::zeros(v.elem_count(), v.dtype(), v.device()),
        })
        .collect::<Result<Vec<_>>>()?;
    let summed = super::nccl::sum(&Tensor::cat(&parts, 0)?)?;
    let mut offset = 0;
    for (i, var) in vars.iter().enumerate() {
        let n = var.elem_count();
        if counts[i] > 0.0 {
            let sum = summed.narrow(0, offset, n)?.reshape(var.shape())?;
            grads.insert(var.as_tensor(), sum);
        }
        offset += n;
    }
    scalars.copy_from_slice(&counts[vars.len()..]);
    Ok(())
}

/// The gradients of `vars` times `weight`, one after the other in one buffer on the host (zeros
/// for a variable without one), and where each starts.
fn flatten<T>(grads: &GradStore, vars: &[Var], weight: T) -> Result<(Vec<T>, Vec<usize>)>
where
    T: WithDType + std::ops::Mul<Output = T>,
{
    let total: usize = vars.iter().map(|v| v.elem_count()).sum();
    let (mut flat, mut offsets) = (Vec::with_capacity(total), Vec::with_capacity(vars.len()));
    for var in vars {
        offsets.push(flat.len());
        match grads.get(var) {
            Some(g) => {
                let values = g.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()?;
                flat.extend(values.into_iter().map(|x| x * weight));
            }
            None => flat.resize(flat.len() + var.elem_count(), T::zero()),
        }
    }
    Ok((flat, offsets))
}

/// The summed gradients, each from `offsets[i]` of `flat`, into `grads` (in each variable's
/// dtype, on its device) for the variables some rank had one for.
fn put_back<T: WithDType>(
    grads: &mut GradStore,
    vars: &[Var],
    counts: &[f64],
    offsets: &[usize],
    flat: &[T],
) -> Result<()> {
    for (i, var) in vars.iter().enumerate() {
        if counts[i] == 0.0 {
            continue;
        }
        let values = &flat[offsets[i]..offsets[i] + var.elem_count()];
        let sum = Tensor::from_slice(values, var.shape(), var.device())?.to_dtype(var.dtype())?;
        grads.insert(var.as_tensor(), sum);
    }
    Ok(())
}
