//! Causal multi-head self-attention as one autograd node: `softmax(q·kᵀ/√d + mask)·v` for every
//! head of every sequence, from the packed `c_attn` output to the heads merged back.
//!
//! The input is `qkv`, shape `(b, t, 3c)`: queries, keys and values side by side, as one
//! projection makes them (nanoGPT's `c_attn`), each split into `n_head` heads of `d = c/n_head`
//! features. The output `(b, t, c)` has the heads side by side again, ready for `c_proj`. In
//! between, the fused op never makes the `(b, heads, t, t)` weights a tensor: for each query it
//! computes its scores against the keys at or before it only (the masked ones are never
//! computed, so their weight is exactly 0 and no gradient reaches them), takes their softmax,
//! and sums the values. It keeps one number per query for the backward, the log of the softmax's
//! denominator; the backward recomputes the weights from it, and uses
//! `Σ_j p_ij·(∂L/∂p_ij) = (∂L/∂y_i)·y_i` (as FlashAttention does) instead of a second pass:
//!
//! `∂L/∂s_ij = p_ij·((∂L/∂y_i)·v_j − (∂L/∂y_i)·y_i)`, then `∂L/∂q_i = Σ_j ∂L/∂s_ij·k_j/√d`,
//! `∂L/∂k_j = Σ_i ∂L/∂s_ij·q_i/√d`, `∂L/∂v_j = Σ_i p_ij·∂L/∂y_i`.
//!
//! The sequences of a batch are split over the kernels' threads, each written by one task, so
//! the bits do not depend on the thread count. [`causal_attention_stock`] is the same function in
//! candle's stock ops (heads split by reshapes, a `-∞` mask added before a softmax built from
//! ops that have a backward); the fused op falls back to it off the CPU.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Result, Shape, Tensor, D};

use super::bf16::Right;
use super::linear::{bf16_backward, bf16_forward};
use super::math::{dot, vectorized, Float};
use super::matmul::View;
use super::tiles::{self, Rows};
use super::{is_fusable, on_cpu, threads, values, Precision};

/// Causal self-attention of `qkv` `(b, t, 3c)` with `n_head` heads: `(b, t, 3c) -> (b, t, c)`.
pub fn causal_attention(qkv: &Tensor, n_head: usize) -> Result<Tensor> {
    causal_attention_in(qkv, n_head, Precision::Full)
}

/// [`causal_attention`] with its four products (`q·kᵀ`, `p·v` and, in the backward, `∂y·vᵀ`,
/// `∂s·k`, `∂sᵀ·q`, `pᵀ·∂y`) in `precision`: in bf16 each reads the bf16 roundings of its
/// operands and sums in f32 ([`Precision::Bf16`]), the softmax staying f32 (bf16 takes f32).
pub fn causal_attention_in(qkv: &Tensor, n_head: usize, precision: Precision) -> Result<Tensor> {
    dims(qkv.shape(), n_head)?;
    if precision == Precision::Bf16 && qkv.dtype() != DType::F32 {
        fail!(
            "attention: bf16 products round f32 operands, and these are {}: give the model f32 weights",
            qkv.dtype().as_str()
        )
    }
    if !is_fusable(&[qkv]) {
        return causal_attention_stock_in(qkv, n_head, precision);
    }
    qkv.contiguous()?.apply_op1(Attention {
        n_head,
        precision,
        lse: OnceLock::new(),
    })
}

/// The same attention in candle's stock ops: `(b, t, 3c) -> (b, t, c)`.
pub fn causal_attention_stock(qkv: &Tensor, n_head: usize) -> Result<Tensor> {
    causal_attention_stock_in(qkv, n_head, Precision::Full)
}

/// [`causal_attention_stock`] with its products in `precision`, rounded as the fused op's are
/// ([`stock_product`](super::linear::stock_product)'s roundings).
pub fn causal_attention_stock_in(
    qkv: &Tensor,
    n_head: usize,
    precision: Precision,
) -> Result<Tensor> {
    let (b, t, c, d) = dims(qkv.shape(), n_head)?;
    let heads = |i: usize| -> Result<Tensor> {
        qkv.narrow(2, i * c, c)?
            .reshape((b, t, n_head, d))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
    let product = |a: &Tensor, b: &Tensor| match precision {
        Precision::Full => a.matmul(b),
        Precision::Bf16 => bf16_backward(&bf16_forward(a)?.matmul(&bf16_forward(b)?)?),
    };
    let scores = (product(&q, &k.t()?.contiguous()?)? / (d as f64).sqrt())?;
    let mask: Vec<f32> = (0..t * t)
        .map(|n| {
            if n % t > n / t {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, (t, t), &Device::Cpu)?
        .to_dtype(qkv.dtype())?
        .to_device(qkv.device())?;
    let weights = candle_nn::ops::softmax(&scores.broadcast_add(&mask)?, D::Minus1)?;
    product(&weights, &v)?.transpose(1, 2)?.reshape((b, t, c))
}

/// `(b, t, c, d)` of a packed `qkv` of shape `(b, t, 3c)` with `n_head` heads of `d` features.
fn dims(shape: &Shape, n_head: usize) -> Result<(usize, usize, usize, usize)> {
    let (b, t, c3) = shape.dims3()?;
    if n_head == 0 || c3 == 0 || c3 % (3 * n_head) != 0 {
        fail!(
            "attention: the packed queries, keys and values {:?} do not split into 3 × {n_head} heads",
            shape.dims()
        )
    }
    Ok((b, t, c3 / 3, c3 / 3 / n_head))
}

struct Attention {
    n_head: usize,
    precision: Precision,
    /// Per sequence, head and query: `log Σ_j e^(s_ij)`, left by the forward for the backward.
    lse: OnceLock<CpuStorage>,
}

/// The sizes of one call: `t` positions, `c` features, `h` heads of `d`.
#[derive(Clone, Copy)]
struct Sizes {
    t: usize,
    c: usize,
    h: usize,
    d: usize,
}

impl Sizes {
    /// Where head `h`'s query (`part` 0), key (1) or value (2) of position `i` starts in a sequence's `qkv`.
    fn at(&self, i: usize, part: usize, h: usize) -> usize {
        i * 3 * self.c + part * self.c + h * self.d
    }
}

/// `kt[e·t + j] = qkv[j, part, h, e]`: head `h`'s keys (or values), one row per feature.
#[inline(always)]
fn transpose_head<T: Float>(qkv: &[T], z: Sizes, part: usize, h: usize, kt: &mut [T]) {
    for j in 0..z.t {
        let row = &qkv[z.at(j, part, h)..][..z.d];
        for (e, &v) in row.iter().enumerate() {
            kt[e * z.t + j] = v;
        }
    }
}

/// The end of the keys that the block of query rows from `r0` needs: the causal mask's edge,
/// rounded out to the block ([`tiles::product`]'s 4 rows).
#[inline(always)]
fn block_end(r0: usize, t: usize) -> usize {
    (r0 + 4).min(t)
}

/// The scores computed for the block of query rows from `r0`: up to [`block_end`], rounded out
/// to whole tiles of columns. The tiles past the diagonal are never computed; in the tiles it
/// crosses, the masked scores are computed and then never read.
#[inline(always)]
fn score_end(r0: usize, t: usize) -> usize {
    block_end(r0, t).next_multiple_of(tiles::TILE_COLS).min(t)
}

/// Head `h`'s scores `s[i][j] = q_i·k_j` for the keys each block of queries needs (`s` is `t × t`).
#[inline(always)]
fn scores<T: Float>(qkv: &[T], z: Sizes, h: usize, kt: &[T], s: &mut [T]) {
    let q = Rows {
        data: &qkv[z.at(0, 0, h)..],
        ld: 3 * z.c,
    };
    let kt = Rows { data: kt, ld: z.t };
    tiles::product::<T, false>(s, z.t, q, kt, z.t, |r0| score_end(r0, z.t), |_| 0..z.d);
}

/// One sequence's forward: `y` `(t, c)` and the log-denominators `lse` `(h, t)`.
#[inline(always)]
fn forward_sequence<T: Float>(qkv: &[T], z: Sizes, y: &mut [T], lse: &mut [T]) {
    let scale = T::from_f64(1.0 / (z.d as f64).sqrt());
    let mut kt = vec![T::zero(); z.d * z.t];
    let mut p = vec![T::zero(); z.t * z.t];
    for h in 0..z.h {
        transpose_head(qkv, z, 1, h, &mut kt);
        scores(qkv, z, h, &kt, &mut p);
        for i in 0..z.t {
            let row = &mut p[i * z.t..][..block_end(i & !3, z.t)];
            lse[h * z.t + i] = softmax_row(row, i, scale);
        }
        let v = Rows {
            data: &qkv[z.at(0, 2, h)..],
            ld: 3 * z.c,
        };
        let p = Rows { data: &p, ld: z.t };
        let out = &mut y[h * z.d..];
        tiles::product::<T, false>(out, z.c, p, v, z.t, |_| z.d, |r0| 0..block_end(r0, z.t));
    }
}

/// Query `i`'s row of scores made its weights, in place: `softmax(row[..=i]·scale)`, zeros after
/// (the masked keys); returns `log Σ_j e^(s_ij)`.
#[inline(always)]
fn softmax_row<T: Float>(row: &mut [T], i: usize, scale: T) -> T {
    let (kept, masked) = row.split_at_mut(i + 1);
    let mut max = kept[0] * scale;
    for v in kept.iter_mut() {
        *v *= scale;
        max = if *v > max { *v } else { max };
    }
    for v in kept.iter_mut() {
        *v = (*v - max).exp_fast();
    }
    let sum = super::math::sum(kept);
    let inv = T::one() / sum;
    for v in kept.iter_mut() {
        *v *= inv;
    }
    masked.fill(T::zero());
    max + sum.ln()
}

/// Head `h`'s queries (`part` 0), keys (1) or values (2) of a sequence's `qkv`, `t × d`.
fn head(qkv: &[f32], z: Sizes, part: usize, h: usize) -> View<'_, f32> {
    View {
        rs: 3 * z.c,
        ..View::new(&qkv[z.at(0, part, h)..], z.t, z.d)
    }
}

/// `out (t × d) = a·b` in bf16, written to the columns of head `h` of rows `ld` apart in `dst`.
fn product_into(dst: &mut [f32], ld: usize, h: usize, z: Sizes, a: View<f32>, b: View<f32>) {
    let mut out = vec![0f32; z.t * z.d];
    // The views are built inside their slices, of sizes that fit: the product cannot refuse.
    let _ = Right::serial(b).product(&mut out, a, false);
    for (row, o) in dst.chunks_mut(ld).zip(out.chunks_exact(z.d)) {
        row[h * z.d..][..z.d].copy_from_slice(o);
    }
}

/// [`forward_sequence`] with bf16 products: all `t × t` scores by one product (the masked ones
/// computed and dropped; AMX's tiles are cheaper than skipping them), then `p·v`.
fn forward_sequence_bf16(qkv: &[f32], z: Sizes, y: &mut [f32], lse: &mut [f32]) {
    let scale = 1.0 / (z.d as f32).sqrt();
    let mut p = vec![0f32; z.t * z.t];
    for h in 0..z.h {
        let (q, k) = (head(qkv, z, 0, h), head(qkv, z, 1, h));
        let _ = Right::serial(k.t()).product(&mut p, q, false);
        for (i, row) in p.chunks_exact_mut(z.t).enumerate() {
            lse[h * z.t + i] = softmax_row(row, i, scale);
        }
        product_into(y, z.c, h, z, View::new(&p, z.t, z.t), head(qkv, z, 2, h));
    }
}

/// [`backward_sequence`] with bf16 products, each over all `t × t` positions (the weights and
/// their gradient zero above the diagonal), and the softmax's `Σ_j p_ij·∂p_ij` summed as it
/// stands: `∂y_i·y_i` equals it only for exact products.
fn backward_sequence_bf16(qkv: &[f32], dy: &[f32], lse: &[f32], z: Sizes, dqkv: &mut [f32]) {
    let scale = 1.0 / (z.d as f32).sqrt();
    let (mut p, mut ds) = (vec![0f32; z.t * z.t], vec![0f32; z.t * z.t]);
    for h in 0..z.h {
        let (q, k, v) = (head(qkv, z, 0, h), head(qkv, z, 1, h), head(qkv, z, 2, h));
        let dy_h = View {
            rs: z.c,
            ..View::new(&dy[h * z.d..], z.t, z.d)
        };
        let _ = Right::serial(k.t()).product(&mut p, q, false);
        let _ = Right::serial(v.t()).product(&mut ds, dy_h, false);
        for i in 0..z.t {
            let (p, ds) = (&mut p[i * z.t..][..z.t], &mut ds[i * z.t..][..z.t]);
            let lse = lse[h * z.t + i];
            for p in &mut p[..=i] {
                *p = (*p * scale - lse).exp_fast();
            }
            // Σ_j p_ij·∂p_ij itself: with rounded products it is no longer ∂y_i·y_i.
            let p_dp = dot(&p[..=i], &ds[..=i]);
            for (p, ds) in p[..=i].iter().zip(ds[..=i].iter_mut()) {
                *ds = *p * (*ds - p_dp) * scale;
            }
            p[i + 1..].fill(0.0);
            ds[i + 1..].fill(0.0);
        }
        let (p, ds) = (View::new(&p, z.t, z.t), View::new(&ds, z.t, z.t));
        let ld3 = 3 * z.c;
        product_into(dqkv, ld3, h, z, ds, k);
        product_into(&mut dqkv[z.c..], ld3, h, z, ds.t(), q);
        product_into(&mut dqkv[2 * z.c..], ld3, h, z, p.t(), dy_h);
    }
}

/// One sequence's backward: `dqkv` `(t, 3c)` from its `qkv`, output `y`, its gradient `dy` and `lse`.
#[inline(always)]
fn backward_sequence<T: Float>(qkv: &[T], y: &[T], dy: &[T], lse: &[T], z: Sizes, dqkv: &mut [T]) {
    let scale = T::from_f64(1.0 / (z.d as f64).sqrt());
    let square = || vec![T::zero(); z.t * z.t];
    let (mut kt, mut vt) = (vec![T::zero(); z.d * z.t], vec![T::zero(); z.d * z.t]);
    let (mut p, mut ds) = (square(), square());
    let ld3 = 3 * z.c;
    for h in 0..z.h {
        transpose_head(qkv, z, 1, h, &mut kt);
        transpose_head(qkv, z, 2, h, &mut vt);
        scores(qkv, z, h, &kt, &mut p);
        let dy_rows = Rows {
            data: &dy[h * z.d..],
            ld: z.c,
        };
        let vt_rows = Rows { data: &vt, ld: z.t };
        let ends = |r0| score_end(r0, z.t);
        tiles::product::<T, false>(&mut ds, z.t, dy_rows, vt_rows, z.t, ends, |_| 0..z.d);
        for i in 0..z.t {
            let end = block_end(i & !3, z.t);
            let (p, ds) = (&mut p[i * z.t..][..end], &mut ds[i * z.t..][..end]);
            let lse = lse[h * z.t + i];
            let dy_y = dot(
                &dy[i * z.c + h * z.d..][..z.d],
                &y[i * z.c + h * z.d..][..z.d],
            );
            for (p, ds) in p[..=i].iter_mut().zip(ds[..=i].iter_mut()) {
                *p = (*p * scale - lse).exp_fast();
                *ds = *p * (*ds - dy_y) * scale;
            }
            p[i + 1..].fill(T::zero());
            ds[i + 1..].fill(T::zero());
        }
        let (ds_rows, k_rows) = (
            Rows { data: &ds, ld: z.t },
            Rows {
                data: &qkv[z.at(0, 1, h)..],
                ld: ld3,
            },
        );
        let dq = &mut dqkv[z.at(0, 0, h)..];
        tiles::product::<T, false>(
            dq,
            ld3,
            ds_rows,
            k_rows,
            z.t,
            |_| z.d,
            |r0| 0..block_end(r0, z.t),
        );
        // ∂/∂k_j = Σ_{i ≥ j} ds[i][j]·q_i and ∂/∂v_j = Σ_{i ≥ j} p[i][j]·dy_i: `ds` and `p` read
        // down their columns, from the first row of the block of keys (above the diagonal they
        // hold zeros, or are not read).
        let q_rows = Rows {
            data: &qkv[z.at(0, 0, h)..],
            ld: ld3,
        };
        let dk = &mut dqkv[z.at(0, 1, h)..];
        tiles::product::<T, true>(dk, ld3, ds_rows, q_rows, z.t, |_| z.d, |r0| r0..z.t);
        let p_rows = Rows { data: &p, ld: z.t };
        let dv = &mut dqkv[z.at(0, 2, h)..];
        tiles::product::<T, true>(dv, ld3, p_rows, dy_rows, z.t, |_| z.d, |r0| r0..z.t);
    }
}

/// One sequence's share of the output and of the log-denominators.
struct Sequence<'a, T> {
    out: &'a mut [T],
    lse: &'a mut [T],
}

fn forward<T: Float>(qkv: &[T], b: usize, z: Sizes, precision: Precision) -> (Vec<T>, Vec<T>) {
    let mut y = vec![T::zero(); b * z.t * z.c];
    let mut lse = vec![T::zero(); b * z.h * z.t];
    let mut tasks: Vec<Sequence<T>> = y
        .chunks_mut(z.t * z.c)
        .zip(lse.chunks_mut(z.h * z.t))
        .map(|(out, lse)| Sequence { out, lse })
        .collect();
    let _ = threads::for_each_chunk_mut(&mut tasks, 1, |n, task| {
        let Sequence { out, lse } = &mut task[0];
        let qkv = &qkv[n * z.t * 3 * z.c..][..z.t * 3 * z.c];
        match (precision, T::f32s(qkv), T::f32s_mut(out), T::f32s_mut(lse)) {
            (Precision::Bf16, Some(qkv), Some(out), Some(lse)) => vectorized(
                #[inline(always)]
                || forward_sequence_bf16(qkv, z, out, lse),
            ),
            _ => vectorized(
                #[inline(always)]
                || forward_sequence(qkv, z, out, lse),
            ),
        }
        Ok::<(), ()>(())
    });
    (y, lse)
}

fn backward<T: Float>(
    qkv: &[T],
    y: &[T],
    dy: &[T],
    lse: &[T],
    z: Sizes,
    precision: Precision,
) -> Vec<T> {
    let mut dqkv = vec![T::zero(); qkv.len()];
    let (n_in, n_out, n_lse) = (z.t * 3 * z.c, z.t * z.c, z.h * z.t);
    let _ = threads::for_each_chunk_mut(&mut dqkv, n_in, |n, dqkv| {
        let (qkv, y) = (&qkv[n * n_in..][..n_in], &y[n * n_out..][..n_out]);
        let (dy, lse) = (&dy[n * n_out..][..n_out], &lse[n * n_lse..][..n_lse]);
        let f32s = (T::f32s(qkv), T::f32s(dy), T::f32s(lse));
        match (precision, f32s, T::f32s_mut(dqkv)) {
            (Precision::Bf16, (Some(qkv), Some(dy), Some(lse)), Some(dqkv)) => vectorized(
                #[inline(always)]
                || backward_sequence_bf16(qkv, dy, lse, z, dqkv),
            ),
            _ => vectorized(
                #[inline(always)]
                || backward_sequence(qkv, y, dy, lse, z, dqkv),
            ),
        }
        Ok::<(), ()>(())
    });
    dqkv
}

impl Attention {
    fn sizes(&self, shape: &Shape) -> Result<(usize, Sizes)> {
        let (b, t, c, d) = dims(shape, self.n_head)?;
        Ok((
            b,
            Sizes {
                t,
                c,
                h: self.n_head,
                d,
            },
        ))
    }
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "causal-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (b, z) = self.sizes(layout.shape())?;
        let (out, lse) = match storage {
            CpuStorage::F64(_) => {
                let (y, lse) = forward::<f64>(values(storage, layout)?, b, z, self.precision);
                (CpuStorage::F64(y), CpuStorage::F64(lse))
            }
            CpuStorage::F32(_) => {
                let (y, lse) = forward::<f32>(values(storage, layout)?, b, z, self.precision);
                (CpuStorage::F32(y), CpuStorage::F32(lse))
            }
            _ => candle_core::bail!("attention: only f32 and f64 are fused"),
        };
        if self.lse.set(lse).is_err() {
            candle_core::bail!("attention: one op ran its forward twice")
        }
        Ok((out, Shape::from((b, z.t, z.c))))
    }

    fn bwd(&self, qkv: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let Some(lse) = self.lse.get() else {
            candle_core::bail!("attention backward before its forward")
        };
        let (_, z) = self.sizes(qkv.shape())?;
        let (res, grad) = (res.contiguous()?, grad.contiguous()?);
        let dqkv = on_cpu(&[qkv, &res, &grad], "attention", |cpu| {
            let [(q, ql), (y, yl), (g, gl)] = [cpu[0], cpu[1], cpu[2]];
            match qkv.dtype() {
                DType::F64 => Tensor::from_vec(
                    backward::<f64>(
                        values(q, ql)?,
                        values(y, yl)?,
                        values(g, gl)?,
                        lse.as_slice()?,
                        z,
                        self.precision,
                    ),
                    qkv.shape(),
                    &Device::Cpu,
                ),
                _ => Tensor::from_vec(
                    backward::<f32>(
                        values(q, ql)?,
                        values(y, yl)?,
                        values(g, gl)?,
                        lse.as_slice()?,
                        z,
                        self.precision,
                    ),
                    qkv.shape(),
                    &Device::Cpu,
                ),
            }
        })?;
        Ok(Some(dqkv))
    }
}
