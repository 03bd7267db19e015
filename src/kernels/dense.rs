//! Fused ops for bigger models: a dense layer and softmax cross-entropy, each one autograd node.
//!
//! With stock ops a layer `act(x·wᵀ + b)` is four graph nodes (transpose,
//! matmul, broadcast add, activation), and candle's matmul backward always
//! computes the gradients of *both* operands, also the input batch's, which
//! nobody needs. [`dense`] is one node: its forward writes the bias into the
//! output and lets gemm accumulate `x·wᵀ` onto it, then applies the
//! activation in place; its backward returns `∂/∂w`, `∂/∂b` and, only when
//! `x` needs one, `∂/∂x`. [`softmax_cross_entropy`] is one node whose
//! backward is `(softmax − onehot) / rows`.
//!
//! candle's `backward()` still drives both, on the `Linear` layers' own
//! weights. On CUDA the dense layer is the same node, its forward made of
//! candle's own CUDA kernels (cuBLAS matmul, broadcast add, ReLU) and its
//! backward of tensor ops: the ReLU mask as one `sign` and one product,
//! `∂/∂b` as a matmul with a row of ones (candle's sum over the batch
//! dimension reads memory with a stride of one row per thread, and is the
//! slowest op of a large-batch step), and no `∂/∂x` for the input batch.
//! Other devices and dtypes fall back to the stock expressions. The tests
//! compare values and gradients with the stock ops and with finite
//! differences, on every device present.

use super::layer_op::{self, LayerOp};
use super::matmul::{gemm_serial, matmul, matmul_by_rows, View, ROW_TILE};
use super::{is_fusable, on_cpu, threads, values, Real};
use candle_core::{CpuStorage, CustomOp2, DType, Device, Layout, Result, Shape, Storage, Tensor};

/// The activations a fused dense layer supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseActivation {
    /// No activation: logits or regression outputs.
    Identity,
    /// `max(0, x)`. Its gradient at exactly `x = 0` is 0, as PyTorch's; candle's stock `relu`
    /// passes the gradient there (1). The tests check both conventions.
    Relu,
}

/// Whether the dense layer runs as one node here: on the CPU in f32/f64, on CUDA in any float dtype.
fn dense_is_fusable(ts: &[&Tensor]) -> bool {
    let (dtype, device) = (ts[0].dtype(), ts[0].device());
    let same = ts
        .iter()
        .all(|t| t.dtype() == dtype && t.device().same_device(device));
    same && (is_fusable(ts) || (device.is_cuda() && dtype.is_float()))
}

/// `act(x·wᵀ + b)` for a `Linear` weight `w` of shape `(out, in)` and optional bias `b` of shape `(out,)`.
pub fn dense(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: DenseActivation) -> Result<Tensor> {
    let fusable =
        x.rank() == 2 && dense_is_fusable(&[x, w]) && b.is_none_or(|b| dense_is_fusable(&[w, b]));
    if !fusable {
        let z = x.matmul(&w.t()?)?;
        let z = match b {
            Some(b) => z.broadcast_add(b)?,
            None => z,
        };
        return match act {
            DenseActivation::Identity => Ok(z),
            DenseActivation::Relu => z.relu(),
        };
    }
    layer_op::apply(x, w, b, Dense(act))
}

struct Dense(DenseActivation);

/// The forward pass on slices: `act(x·wᵀ + b)`, `rows × out`.
fn forward<T: Real>(
    x: &[T],
    w: &[T],
    b: Option<&[T]>,
    (rows, n_in, n_out): (usize, usize, usize),
    act: DenseActivation,
) -> Result<Vec<T>> {
    let relu = |values: &mut [T]| {
        if act == DenseActivation::Relu {
            // A select and an unconditional store, which the compiler vectorises; a
            // conditional store compiled to a branch that mispredicted on about half the
            // elements. (NaN stays NaN, as in candle's relu, so a diverging run is caught.)
            for v in values {
                *v = if *v < T::zero() { T::zero() } else { *v };
            }
        }
    };
    let (x, w) = (View::new(x, rows, n_in), View::new(w, n_out, n_in));
    let mut out = vec![T::zero(); rows * n_out];
    if rows >= 4 * ROW_TILE || n_out < 2 * ROW_TILE {
        matmul_by_rows(&mut out, x, w.t(), |_, block, x_rows| {
            if let Some(b) = b {
                for row in block.chunks_exact_mut(n_out) {
                    row.copy_from_slice(b);
                }
            }
            gemm_serial(block, x_rows, w.t(), b.is_some())?;
            relu(block);
            Ok(())
        })?;
        return Ok(out);
    }
    // Fewer than 256 rows: compute outᵀ = w·xᵀ, whose rows are the outputs, and transpose
    // back (a copy much cheaper than the product). gemm packs its right operand for every
    // call, and `wᵀ` (in × out, read across w's rows) is as large as the product is long for
    // so few rows; `xᵀ` is small. With more rows the direct product is the faster (the
    // README's Performance section has the measurements). The outputs' rows also split between
    // threads where the batch's are too few to.
    let mut out_t = vec![T::zero(); n_out * rows];
    matmul_by_rows(&mut out_t, w, x.t(), |first, block, w_rows| {
        if let Some(b) = b {
            for (row, &bias) in block.chunks_exact_mut(rows).zip(&b[first..]) {
                row.fill(bias);
            }
        }
        gemm_serial(block, w_rows, x.t(), b.is_some())?;
        relu(block);
        Ok(())
    })?;
    for (r, row) in out.chunks_exact_mut(n_out).enumerate() {
        for (o, v) in row.iter_mut().enumerate() {
            *v = out_t[o * rows + r];
        }
    }
    Ok(out)
}

/// `(rows, in, out)` of a dense layer's operands, checked to fit together.
fn dims(x: &Layout, w: &Layout, b: Option<&Layout>) -> Result<(usize, usize, usize)> {
    let (rows, n_in) = x.shape().dims2()?;
    let (n_out, w_in) = w.shape().dims2()?;
    if n_in != w_in || b.is_some_and(|b| b.shape().dims() != [n_out]) {
        candle_core::bail!(
            "dense: x {:?}, w {:?} and the bias do not fit together",
            x.shape(),
            w.shape()
        )
    }
    Ok((rows, n_in, n_out))
}

impl LayerOp for Dense {
    const NAME: &'static str = "dense";

    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)> {
        let sizes = dims(x.1, w.1, b.map(|b| b.1))?;
        let (rows, _, n_out) = sizes;
        let storage = match x.0 {
            CpuStorage::F64(_) => CpuStorage::F64(forward(
                values(x.0, x.1)?,
                values(w.0, w.1)?,
                b.map(|b| values(b.0, b.1)).transpose()?,
                sizes,
                self.0,
            )?),
            CpuStorage::F32(_) => CpuStorage::F32(forward(
                values(x.0, x.1)?,
                values(w.0, w.1)?,
                b.map(|b| values(b.0, b.1)).transpose()?,
                sizes,
                self.0,
            )?),
            _ => candle_core::bail!("dense: only f32 and f64 are fused"),
        };
        Ok((storage, Shape::from((rows, n_out))))
    }

    /// The forward pass with candle's CUDA kernels: `x·wᵀ` by cuBLAS, then the bias and the activation.
    #[cfg(feature = "cuda")]
    fn cuda_forward(
        &self,
        x: (&candle_core::CudaStorage, &Layout),
        w: (&candle_core::CudaStorage, &Layout),
        b: Option<(&candle_core::CudaStorage, &Layout)>,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        use candle_core::backend::BackendStorage;
        let (rows, n_in, n_out) = dims(x.1, w.1, b.map(|b| b.1))?;
        let out = Layout::contiguous((rows, n_out));
        let z =
            x.0.matmul(w.0, (1, rows, n_out, n_in), x.1, &w.1.transpose(0, 1)?)?;
        let z = match b {
            Some((b, bl)) => {
                z.binary_impl::<candle_core::op::Add>(b, &out, &bl.broadcast_as((rows, n_out))?)?
            }
            None => z,
        };
        let z = match self.0 {
            DenseActivation::Identity => z,
            DenseActivation::Relu => z.unary_impl::<candle_core::op::Relu>(&out)?,
        };
        Ok((z, out.shape().clone()))
    }

    /// `(∂/∂x if wanted, ∂/∂w, ∂/∂b)` from the output `res` and its gradient.
    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let need_dx = x.track_op();
        if !x.device().is_cpu() {
            return self.backward_ops(x, w, res, grad, need_dx);
        }
        let grad = grad.contiguous()?;
        let (rows, n_in) = x.dims2()?;
        let n_out = w.dim(0)?;
        let sizes = (rows, n_in, n_out);
        on_cpu(&[x, w, res, &grad], "dense", |cpu| match x.dtype() {
            DType::F64 => backward_tensors::<f64>(cpu, sizes, self.0, need_dx),
            _ => backward_tensors::<f32>(cpu, sizes, self.0, need_dx),
        })
    }
}

impl Dense {
    /// The backward pass in tensor ops, for devices without a hand-written one.
    fn backward_ops(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
        need_dx: bool,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)> {
        let delta = match self.0 {
            DenseActivation::Identity => grad.clone(),
            // The output is max(0, z) ≥ 0, so its sign is the mask z > 0.
            DenseActivation::Relu => (grad * res.sign()?)?,
        };
        let dw = delta.t()?.matmul(x)?;
        let ones = Tensor::ones((1, delta.dim(0)?), delta.dtype(), delta.device())?;
        let db = ones.matmul(&delta)?.squeeze(0)?;
        let dx = need_dx.then(|| delta.matmul(w)).transpose()?;
        Ok((dx, dw, db))
    }
}

/// The backward pass on CPU storages `[x, w, res, grad]`, results as CPU tensors.
fn backward_tensors<T: Real>(
    cpu: &[(&CpuStorage, &Layout)],
    (rows, n_in, n_out): (usize, usize, usize),
    act: DenseActivation,
    need_dx: bool,
) -> Result<(Option<Tensor>, Tensor, Tensor)> {
    let [x, w, res, grad] = [cpu[0], cpu[1], cpu[2], cpu[3]].map(|(s, l)| values::<T>(s, l));
    let (x, w, res, grad) = (x?, w?, res?, grad?);
    let delta: Vec<T> = match act {
        DenseActivation::Identity => grad.to_vec(),
        DenseActivation::Relu => res
            .iter()
            .zip(grad)
            .map(|(&r, &g)| if r > T::zero() { g } else { T::zero() })
            .collect(),
    };
    let d = View::new(&delta, rows, n_out);
    let (x, w) = (View::new(x, rows, n_in), View::new(w, n_out, n_in));
    let mut dw = vec![T::zero(); n_out * n_in];
    let mut dx = need_dx.then(|| vec![T::zero(); rows * n_in]);
    match dx.as_deref_mut() {
        // ∂/∂w and ∂/∂x are independent products of similar size: with threads to spare,
        // one thread takes each whole, so that neither packs an operand twice.
        Some(dx) if threads::current() > 1 && rows * n_in * n_out >= 1 << 18 => {
            let mut products = [&mut dw[..], dx];
            threads::for_each_chunk_mut(&mut products, 1, |i, product| match i {
                0 => gemm_serial(&mut product[0][..], d.t(), x, false),
                _ => gemm_serial(&mut product[0][..], d, w, false),
            })?;
        }
        dx => {
            matmul(&mut dw, d.t(), x, false)?;
            if let Some(dx) = dx {
                matmul(dx, d, w, false)?;
            }
        }
    }
    let mut db = vec![T::zero(); n_out];
    for row in delta.chunks_exact(n_out.max(1)) {
        for (s, &v) in db.iter_mut().zip(row) {
            *s += v;
        }
    }
    let dx = dx
        .map(|dx| Tensor::from_vec(dx, (rows, n_in), &Device::Cpu))
        .transpose()?;
    Ok((
        dx,
        Tensor::from_vec(dw, (n_out, n_in), &Device::Cpu)?,
        Tensor::from_vec(db, n_out, &Device::Cpu)?,
    ))
}

/// Softmax cross-entropy of `logits` `(rows, classes)` against class ids `labels` `(rows,)`, averaged over rows.
pub fn softmax_cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    let fusable = logits.rank() == 2
        && is_fusable(&[logits])
        && labels.dtype() == DType::U32
        && labels.device().is_cpu()
        && labels.dims() == [logits.dim(0)?];
    if !fusable {
        return candle_nn::loss::cross_entropy(logits, labels);
    }
    logits
        .contiguous()?
        .apply_op2(&labels.contiguous()?, SoftmaxCrossEntropy)
}

struct SoftmaxCrossEntropy;

/// Per row: the softmax (written into `probabilities`) and `−log softmax[label]`; returns the mean loss.
fn softmax_rows<T: Real>(
    logits: &[T],
    labels: &[u32],
    classes: usize,
    probabilities: &mut Vec<T>,
) -> Result<T> {
    let mut total = T::zero();
    probabilities.clear();
    probabilities.extend_from_slice(logits);
    for (row, &label) in probabilities.chunks_exact_mut(classes).zip(labels) {
        let label = label as usize;
        if label >= classes {
            candle_core::bail!("label {label} is out of range for {classes} classes")
        }
        let max = row
            .iter()
            .copied()
            .fold(row[0], |m, v| if v > m { v } else { m });
        let shifted_label = row[label] - max;
        let mut sum = T::zero();
        for v in row.iter_mut() {
            *v = (*v - max).exp();
            sum += *v;
        }
        // −log softmax[label] = log Σ e^(z − max) − (z_label − max): no overflow, no log(0).
        total += sum.ln() - shifted_label;
        for v in row.iter_mut() {
            *v /= sum;
        }
    }
    Ok(total / T::from_f64(labels.len().max(1) as f64))
}

impl CustomOp2 for SoftmaxCrossEntropy {
    fn name(&self) -> &'static str {
        "softmax-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        z: &CpuStorage,
        zl: &Layout,
        y: &CpuStorage,
        yl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, classes) = zl.shape().dims2()?;
        let labels = values::<u32>(y, yl)?;
        let storage = match z {
            CpuStorage::F64(_) => CpuStorage::F64(vec![softmax_rows(
                values::<f64>(z, zl)?,
                labels,
                classes,
                &mut Vec::new(),
            )?]),
            CpuStorage::F32(_) => CpuStorage::F32(vec![softmax_rows(
                values::<f32>(z, zl)?,
                labels,
                classes,
                &mut Vec::new(),
            )?]),
            _ => candle_core::bail!("softmax-cross-entropy: only f32 and f64 are fused"),
        };
        Ok((storage, Shape::from(())))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        labels: &Tensor,
        _loss: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        fn gradient<T: Real>(logits: &Tensor, labels: &Tensor, grad: &Tensor) -> Result<Tensor> {
            let (rows, classes) = logits.dims2()?;
            let (zg, yg) = (logits.storage_and_layout(), labels.storage_and_layout());
            let (Storage::Cpu(z), Storage::Cpu(y)) = (&*zg.0, &*yg.0) else {
                candle_core::bail!("softmax-cross-entropy backward: tensors left the CPU")
            };
            let labels = values::<u32>(y, yg.1)?;
            let mut p = Vec::new();
            softmax_rows(values::<T>(z, zg.1)?, labels, classes, &mut p)?;
            let scale = grad.to_scalar::<T>()? / T::from_f64(rows.max(1) as f64);
            for (row, &label) in p.chunks_exact_mut(classes).zip(labels) {
                row[label as usize] -= T::one();
                for v in row.iter_mut() {
                    *v *= scale;
                }
            }
            Tensor::from_vec(p, (rows, classes), &Device::Cpu)
        }
        let dz = match logits.dtype() {
            DType::F64 => gradient::<f64>(logits, labels, grad)?,
            _ => gradient::<f32>(logits, labels, grad)?,
        };
        Ok((Some(dz), None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tensor-op backward (what CUDA runs) equals the hand-written CPU backward, checked on
    /// the CPU so that every build tests it.
    #[test]
    fn tensor_op_backward_equals_the_cpu_backward() {
        let values = |n: usize, seed: usize| -> Vec<f64> {
            // Deterministic values in (-1, 1) with zeros among the ReLU outputs below.
            (0..n)
                .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f64 / 1001.5 - 1.0)
                .collect()
        };
        let (rows, n_in, n_out) = (11, 7, 5);
        let x = Tensor::from_vec(values(rows * n_in, 1), (rows, n_in), &Device::Cpu).unwrap();
        let w = Tensor::from_vec(values(n_out * n_in, 2), (n_out, n_in), &Device::Cpu).unwrap();
        let grad = Tensor::from_vec(values(rows * n_out, 3), (rows, n_out), &Device::Cpu).unwrap();
        let z = x.matmul(&w.t().unwrap()).unwrap();
        for act in [DenseActivation::Identity, DenseActivation::Relu] {
            let res = match act {
                DenseActivation::Identity => z.clone(),
                DenseActivation::Relu => z.relu().unwrap(),
            };
            let dense = Dense(act);
            let (dx, dw, db) = dense.backward(&x, &w, &res, &grad).unwrap();
            let (ops_dx, ops_dw, ops_db) = dense.backward_ops(&x, &w, &res, &grad, true).unwrap();
            assert!(dx.is_none(), "x is data here: no gradient asked for");
            let delta = match act {
                DenseActivation::Identity => grad.clone(),
                DenseActivation::Relu => {
                    let mask = z.gt(0.0).unwrap().to_dtype(DType::F64).unwrap();
                    (&grad * mask).unwrap()
                }
            };
            let expected_dx = delta.matmul(&w).unwrap();
            for (name, a, b) in [
                ("w", &ops_dw, &dw),
                ("b", &ops_db, &db),
                ("x", &ops_dx.unwrap(), &expected_dx),
            ] {
                let diff = (a - b)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .max(0)
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap();
                assert!(diff <= 1e-14, "{act:?} ∂/∂{name}: {diff:e}");
            }
        }
    }
}
