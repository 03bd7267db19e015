//! The fused conv-net ops (convolution with bias and ReLU, max-pool, dropout) compute what
//! candle's stock ops compute: values and gradients, in f64 and f32, on odd shapes, with
//! stride and padding, on one thread and on two (threads of their own, counted).
//!
//! Expected values come from candle's stock ops (`conv2d`, broadcast add, ReLU as `z·[z > 0]`,
//! a reshape and `max` over each pooling window), from pooling and dropout masks written here
//! (first maximum of each window; SplitMix64 written from its published definition), and from
//! central finite differences in f64.
//!
//! The tolerances: both sides add the same products in other orders, so they differ by the
//! rounding of sums. A sum of n terms rounds n times, each by at most u (2⁻⁵³ in f64, 2⁻²⁴ in
//! f32) of a partial sum; rounding errors of random data add up like a random walk, to about
//! √n·u of the values' size (Higham, *Accuracy and Stability of Numerical Algorithms*, §4.2),
//! where the worst case is n·u. The sums are longest in the kernel and bias gradients, one term
//! per image and output position (N·Ho·Wo, up to 5·26·26 = 3380 here); a value sums C·K·K
//! products (up to 45), an input gradient O·K·K (up to 75). So each comparison allows
//! [`ROUNDING`]·√n·u of the largest expected value, n the length of its sums: 8·√3380·2⁻²⁴
//! ≈ 2.8e-5 for f32's kernel gradients, 8·√46·2⁻⁵³ ≈ 6.0e-15 for f64's values.

mod common;

use candle_core::{DType, Device, Tensor, Var, D};
use common::{probe_backward, random, relative_diff, relu_as_pytorch, values, SplitMix64};
use simple_nn::kernels::{self, threads, DenseActivation};

/// How many √n·u two orders of one sum may differ by, relative to the largest value (see the
/// file's summary). Measured on these cases: at most 0.75, in f64 and in f32.
const ROUNDING: f64 = 8.0;

/// The difference allowed, relative to the largest expected value, between two orders of sums of
/// `terms` terms in `dtype`.
fn rounding(dtype: DType, terms: usize) -> f64 {
    let u = match dtype {
        DType::F64 => f64::EPSILON / 2.0,
        _ => f64::from(f32::EPSILON) / 2.0,
    };
    ROUNDING * (terms.max(1) as f64).sqrt() * u
}

/// The stock ops: candle's `conv2d`, the bias broadcast over positions, ReLU as PyTorch
/// differentiates it (the fused op's gradient at exactly 0 is PyTorch's 0; candle's `relu` passes 1).
fn stock_conv(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    pad: usize,
    act: DenseActivation,
) -> Tensor {
    let z = x.conv2d(w, pad, stride, 1, 1).unwrap();
    let z = match b {
        Some(b) => z
            .broadcast_add(&b.reshape((1, b.dim(0).unwrap(), 1, 1)).unwrap())
            .unwrap(),
        None => z,
    };
    match act {
        DenseActivation::Identity => z,
        DenseActivation::Relu => relu_as_pytorch(&z),
    }
}

/// The shapes checked: (images, channels in, H, W, channels out, kernel, stride, padding).
/// Odd sizes, non-square images, 1×1 kernels, padding wider than the kernel's reach, strides
/// that leave a remainder, one image, and a 1×1 image under a 5×5 kernel. (candle's stock backward needs as many rows as
/// columns left past the last window, so the stock side cannot check shapes where they differ;
/// the finite differences below check one.)
/// (N, C, H, W, O, K, stride, padding).
type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

/// The output's height and width.
fn out_size(&(_, _, h, w, _, k, stride, pad): &Case) -> (usize, usize) {
    (
        (h + 2 * pad - k) / stride + 1,
        (w + 2 * pad - k) / stride + 1,
    )
}

/// The length of the longest sum behind each result of a case: a value (C·K·K products and the
/// bias), ∂/∂x (at most O·K·K), ∂/∂w and ∂/∂b (N·Ho·Wo).
fn sum_lengths(case: &Case) -> [(&'static str, usize); 4] {
    let &(n, c, _, _, o, k, _, _) = case;
    let (ho, wo) = out_size(case);
    [
        ("values", c * k * k + 1),
        ("x", o * k * k),
        ("w", n * ho * wo),
        ("b", n * ho * wo),
    ]
}

const CASES: [Case; 9] = [
    (2, 3, 9, 7, 5, 3, 1, 0),
    (3, 2, 8, 8, 4, 3, 2, 1),
    (1, 1, 7, 11, 3, 5, 1, 2),
    (4, 5, 6, 6, 7, 1, 1, 0),
    (2, 3, 9, 9, 2, 3, 3, 2),
    (5, 1, 28, 28, 6, 3, 1, 0),
    (2, 2, 5, 5, 3, 3, 1, 3),
    (17, 3, 10, 8, 4, 2, 2, 0),
    // A kernel wider than the image: every output column reads padding on one side.
    (1, 1, 1, 1, 2, 5, 1, 2),
];

/// Gradients of `sum(out · probe)` for x, w and b, through the fused op or the stock ops.
fn conv_gradients(
    fused: bool,
    [x, w, b]: [&Tensor; 3],
    (stride, pad, act): (usize, usize, DenseActivation),
) -> (Tensor, [Tensor; 3]) {
    let vars = [x, w, b].map(|t| Var::from_tensor(t).unwrap());
    let [x, w, b] = [&vars[0], &vars[1], &vars[2]].map(|v| v.as_tensor());
    let out = if fused {
        kernels::conv2d(x, w, Some(b), stride, pad, act).unwrap()
    } else {
        stock_conv(x, w, Some(b), stride, pad, act)
    };
    let grads = probe_backward(&out, 99);
    let grads = [&vars[0], &vars[1], &vars[2]].map(|v| grads.get(v).unwrap().clone());
    (out, grads)
}

#[test]
fn fused_conv_equals_stock_conv_in_values_and_gradients() {
    for threads in [1, 2] {
        let ((), ran) = threads::exactly(threads, || {
            for dtype in [DType::F64, DType::F32] {
                for (i, case) in CASES.iter().enumerate() {
                    let &(n, c, h, w, o, k, stride, pad) = case;
                    for act in [DenseActivation::Identity, DenseActivation::Relu] {
                        let seed = 10 * i as u64;
                        let x = random(&[n, c, h, w], seed, dtype);
                        let kernels = random(&[o, c, k, k], seed + 1, dtype);
                        let bias = random(&[o], seed + 2, dtype);
                        let args = [&x, &kernels, &bias];
                        let (fused, fused_grads) = conv_gradients(true, args, (stride, pad, act));
                        let (stock, stock_grads) = conv_gradients(false, args, (stride, pad, act));
                        let label = format!("{dtype:?} case {i} {act:?} {threads} thread(s)");
                        assert_eq!(fused.dims(), stock.dims(), "{label}");
                        assert_eq!(fused.dtype(), dtype, "{label}");
                        let results = [&fused, &fused_grads[0], &fused_grads[1], &fused_grads[2]]
                            .into_iter()
                            .zip([&stock, &stock_grads[0], &stock_grads[1], &stock_grads[2]]);
                        for ((name, terms), (f, s)) in sum_lengths(case).into_iter().zip(results) {
                            let diff = relative_diff(f, s);
                            let bound = rounding(dtype, terms);
                            assert!(diff <= bound, "{label} {name}: {diff:e} > {bound:e}");
                        }
                    }
                }
            }
        });
        assert_eq!(ran, threads, "the threads that ran");
    }
}

#[test]
fn fused_conv_without_bias_equals_stock_conv() {
    let x = random(&[3, 2, 7, 7], 1, DType::F64);
    let w = Var::from_tensor(&random(&[4, 2, 3, 3], 2, DType::F64)).unwrap();
    let fused = kernels::conv2d(&x, w.as_tensor(), None, 2, 1, DenseActivation::Relu).unwrap();
    let stock = stock_conv(&x, w.as_tensor(), None, 2, 1, DenseActivation::Relu);
    // Values: 2·3·3 products; ∂/∂w: one term per image and output position, 3·4·4.
    assert!(relative_diff(&fused, &stock) <= rounding(DType::F64, 18));
    let (fused_dw, stock_dw) = (probe_backward(&fused, 5), probe_backward(&stock, 5));
    let (f, s) = (fused_dw.get(&w).unwrap(), stock_dw.get(&w).unwrap());
    assert!(relative_diff(f, s) <= rounding(DType::F64, 48));
}

/// The data batch is not a variable: no gradient is computed for it (the stock conv computes one).
#[test]
fn fused_conv_skips_the_gradient_of_data() {
    let x = random(&[2, 3, 6, 6], 3, DType::F32);
    let w = Var::from_tensor(&random(&[2, 3, 3, 3], 4, DType::F32)).unwrap();
    let out = kernels::conv2d(&x, w.as_tensor(), None, 1, 0, DenseActivation::Relu).unwrap();
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none());
    assert!(grads.get(w.as_tensor()).is_some());
}

/// Central differences in f64 for some kernel weights and input values, through the ReLU, on
/// a shape that leaves a row but no column past the last window (which candle's stock backward
/// cannot size). The loss `Σ probe·relu(conv)` is piecewise linear in each weight and input, so a
/// central difference that crosses no kink has no truncation error at all: what is left is the
/// rounding of the two losses (a few u = 2⁻⁵³ times the sum of the products' sizes, some tens
/// here) divided by 2h = 2e-6, about 1e-9 (measured: at most 1.3e-9). The bound is 1e-8, where
/// a smooth function's truncation error h²·|f‴|/6 would have asked for 1e-7; a step across a
/// kink would show as an error of the gradient's own size.
#[test]
fn fused_conv_gradients_pass_finite_differences() {
    let (stride, pad) = (2, 1);
    let x = random(&[2, 2, 7, 6], 5, DType::F64);
    let w = random(&[3, 2, 3, 3], 6, DType::F64);
    let b = random(&[3], 7, DType::F64);
    let (out, [dx, dw, _]) =
        conv_gradients(true, [&x, &w, &b], (stride, pad, DenseActivation::Relu));
    let probe = random(out.dims(), 99, DType::F64);
    let loss = |x: &Tensor, w: &Tensor| {
        let out = kernels::conv2d(x, w, Some(&b), stride, pad, DenseActivation::Relu).unwrap();
        (out * &probe)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let nudge = |t: &Tensor, at: usize, by: f64| {
        let mut v = values(t);
        v[at] += by;
        Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
    };
    let h = 1e-6;
    let (dx, dw) = (values(&dx), values(&dw));
    for at in [0, 7, 20, 53] {
        let numeric = (loss(&x, &nudge(&w, at, h)) - loss(&x, &nudge(&w, at, -h))) / (2.0 * h);
        assert!(
            (dw[at] - numeric).abs() < 1e-8,
            "w[{at}]: {} vs {numeric}",
            dw[at]
        );
    }
    for at in [0, 9, 33, 120] {
        let numeric = (loss(&nudge(&x, at, h), &w) - loss(&nudge(&x, at, -h), &w)) / (2.0 * h);
        assert!(
            (dx[at] - numeric).abs() < 1e-8,
            "x[{at}]: {} vs {numeric}",
            dx[at]
        );
    }
}

/// One thread or two, the same bits: the kernel and bias gradients are summed over a partition
/// of the batch that does not depend on the threads. The two-thread run is known to have run on
/// two threads (`threads::exactly` counts them), whatever the machine's load.
#[test]
fn fused_conv_results_do_not_depend_on_the_threads() {
    let x = Var::from_tensor(&random(&[33, 3, 12, 12], 8, DType::F32)).unwrap();
    let w = Var::from_tensor(&random(&[8, 3, 3, 3], 9, DType::F32)).unwrap();
    let b = Var::from_tensor(&random(&[8], 10, DType::F32)).unwrap();
    let run = |threads, pool| {
        let (all, ran) = threads::exactly(threads, || {
            let [xt, wt, bt] = [&x, &w, &b].map(|v| v.as_tensor());
            let out = kernels::conv2d_max_pool(xt, wt, Some(bt), 1, 1, DenseActivation::Relu, pool)
                .unwrap();
            let grads = probe_backward(&out, 3);
            let mut all = vec![values(&out)];
            all.extend([&x, &w, &b].map(|v| values(grads.get(v).unwrap())));
            all
        });
        assert_eq!(ran, threads, "pool {pool}: the threads that ran");
        all
    };
    for pool in [1, 2] {
        let (one, two) = (run(1, pool), run(2, pool));
        assert!(one[0].iter().any(|&v| v != 0.0), "pool {pool}: all zero");
        assert_eq!(one, two, "pool {pool}");
    }
}

/// The stock pooling: a reshape into windows and a `max` over each, whose gradient goes whole
/// to each maximum (values drawn at random have no ties).
fn stock_max_pool(x: &Tensor, k: usize) -> Tensor {
    let (n, c, h, w) = x.dims4().unwrap();
    x.narrow(2, 0, h - h % k)
        .unwrap()
        .narrow(3, 0, w - w % k)
        .unwrap()
        .reshape((n, c, h / k, k, w / k, k))
        .unwrap()
        .permute((0, 1, 2, 4, 3, 5))
        .unwrap()
        .reshape((n, c, h / k, w / k, k * k))
        .unwrap()
        .max(D::Minus1)
        .unwrap()
}

#[test]
fn fused_max_pool_equals_stock_pooling_in_values_and_gradients() {
    for threads in [1, 2] {
        for dtype in [DType::F64, DType::F32] {
            for (shape, k) in [([2, 3, 8, 6], 2), ([1, 2, 9, 9], 3), ([3, 70, 24, 24], 2)] {
                let x = Var::from_tensor(&random(&shape, 11, dtype)).unwrap();
                let ((fused, fused_dx), ran) = threads::exactly(threads, || {
                    let out = simple_nn::nn::max_pool(x.as_tensor(), k).unwrap();
                    let grads = probe_backward(&out, 12);
                    (out, grads.get(&x).unwrap().clone())
                });
                let stock = stock_max_pool(x.as_tensor(), k);
                let grads = probe_backward(&stock, 12);
                let case = format!("{shape:?} k {k} {dtype:?} {threads} thread(s)");
                // Each input is in one window at most: its gradient is one probe value or 0, and
                // the maxima are the inputs themselves, so both sides agree to the bit.
                assert_eq!(values(&fused), values(&stock), "{case}");
                assert_eq!(values(&fused_dx), values(grads.get(&x).unwrap()), "{case}");
                // The largest shape has planes enough for two threads; the others may be one.
                if shape[1] == 70 {
                    assert_eq!(ran, threads, "{case}: the threads that ran");
                }
            }
        }
    }
}

/// Dropout by its documented rule (`src/kernels/dropout.rs`), drawn here from this file's own
/// SplitMix64: value `i` is kept when the `i`-th draw of SplitMix64(seed) is at least `p`, and a
/// kept value is multiplied, in the data's dtype, by `1/(1 − p)` rounded to f32.
fn dropout_by_its_rule(xs: &[f64], p: f64, seed: u64, dtype: DType) -> Vec<f64> {
    let scale = (1.0 / (1.0 - p)) as f32;
    let mut rng = SplitMix64(seed);
    xs.iter()
        .map(|&x| {
            let by = if rng.next_f64() >= p { scale } else { 0.0 };
            match dtype {
                DType::F32 => f64::from(x as f32 * by),
                _ => x * f64::from(by),
            }
        })
        .collect()
}

/// The fused dropout keeps, zeroes and scales the values its documented rule says, computed here
/// from SplitMix64 written out (not the crate's draws): the same bits forward, and the backward
/// is the same mask on the gradient; on one thread and on two (the stream drawn in parts). The
/// stock dropout (`--kernels stock`) follows the same rule.
#[test]
fn fused_dropout_follows_its_rule_bit_for_bit() {
    let (p, seed) = (0.3, 42);
    for dtype in [DType::F64, DType::F32] {
        // More values than one thread's share, so that the stream is drawn in parts.
        let x = Var::from_tensor(&random(&[3, 5, 71, 97], 13, dtype)).unwrap();
        let probe = random(x.dims(), 14, dtype);
        // The gradient: the probe through the same mask (candle adds it into zeros, so a dropped
        // value's gradient is +0 whatever the probe's sign).
        let expected = (
            dropout_by_its_rule(&values(&x), p, seed, dtype),
            dropout_by_its_rule(&values(&probe), p, seed, dtype)
                .into_iter()
                .map(|g| g + 0.0)
                .collect(),
        );
        let run = |fused: bool| {
            let out = match fused {
                true => kernels::dropout(x.as_tensor(), p, seed).unwrap(),
                false => kernels::dropout::stock(x.as_tensor(), p, seed).unwrap(),
            };
            let grads = (&out * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (values(&out), values(grads.get(&x).unwrap()))
        };
        let bits = |(a, b): &(Vec<f64>, Vec<f64>)| {
            [a, b].map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        };
        assert!(bits(&run(false)) == bits(&expected), "{dtype:?} stock");
        for threads in [1, 2] {
            let (fused, ran) = threads::exactly(threads, || run(true));
            assert_eq!(ran, threads, "{dtype:?}: the threads that ran");
            assert!(
                bits(&fused) == bits(&expected),
                "{dtype:?} fused, {threads} thread(s)"
            );
        }
        // And the rule drops about p: 103305 values, so the share's standard deviation is
        // √(0.3·0.7/103305) ≈ 0.0014; 0.01 is 7 of them.
        let dropped = expected.0.iter().filter(|&&v| v == 0.0).count() as f64;
        let share = dropped / expected.0.len() as f64;
        assert!((share - p).abs() < 0.01, "{share}");
    }
}

/// Max-pooling written out for the test: each k×k window (stride k; the rows and columns past
/// the last whole window left out) scanned row by row, the first of equal maxima taken, as
/// PyTorch takes it; the output gathers those positions (`index_select`), so the gradient goes
/// to them alone.
fn first_max_pool(x: &Tensor, k: usize) -> Tensor {
    let (n, c, h, w) = x.dims4().unwrap();
    let v = values(x);
    let (ho, wo) = (h / k, w / k);
    let mut at = Vec::with_capacity(n * c * ho * wo);
    for plane in 0..n * c {
        for i in 0..ho {
            for j in 0..wo {
                let mut best = plane * h * w + i * k * w + j * k;
                for p in 0..k {
                    for q in 0..k {
                        let here = plane * h * w + (i * k + p) * w + j * k + q;
                        if v[here] > v[best] {
                            best = here;
                        }
                    }
                }
                at.push(best as u32);
            }
        }
    }
    let at = Tensor::new(at.as_slice(), x.device()).unwrap();
    x.flatten_all()
        .unwrap()
        .index_select(&at, 0)
        .unwrap()
        .reshape((n, c, ho, wo))
        .unwrap()
}

/// How many k×k windows of `x` hold their maximum more than once, of how many.
fn tied_windows(x: &Tensor, k: usize) -> (usize, usize) {
    let (n, c, h, w) = x.dims4().unwrap();
    let v = values(x);
    let mut tied = 0;
    for plane in 0..n * c {
        for i in 0..h / k {
            for j in 0..w / k {
                let window: Vec<f64> = (0..k * k)
                    .map(|pq| v[plane * h * w + (i * k + pq / k) * w + j * k + pq % k])
                    .collect();
                let top = window.iter().copied().fold(f64::MIN, f64::max);
                tied += usize::from(window.iter().filter(|&&u| u == top).count() > 1);
            }
        }
    }
    (tied, n * c * (h / k) * (w / k))
}

/// Convolution, ReLU and max-pool as one node equal the three ops in a row, values and
/// gradients, on outputs that leave rows and columns past the last window. The pooling in the
/// row is [`first_max_pool`], written for the test: outputs that lie wholly in the padding (the
/// bias alone) tie, and a tied window's gradient must go to one maximum, as PyTorch and the
/// fused op send it, not to each, as the stock `max` does. (Which maximum cannot show here: a
/// position in the padding passes its gradient to the bias alone. The next test shows it.)
#[test]
fn fused_conv_relu_max_pool_equals_the_stock_ops_in_a_row() {
    for threads in [1, 2] {
        for dtype in [DType::F64, DType::F32] {
            for (i, case) in CASES.iter().enumerate() {
                let &(n, c, h, w, o, k, stride, pad) = case;
                for (act, pool) in [
                    (DenseActivation::Relu, 2),
                    (DenseActivation::Identity, 2),
                    (DenseActivation::Relu, 3),
                ] {
                    let seed = 10 * i as u64 + 5;
                    let x = Var::from_tensor(&random(&[n, c, h, w], seed, dtype)).unwrap();
                    let kernels =
                        Var::from_tensor(&random(&[o, c, k, k], seed + 1, dtype)).unwrap();
                    let bias = Var::from_tensor(&random(&[o], seed + 2, dtype)).unwrap();
                    let (ho, wo) = out_size(case);
                    if ho < pool || wo < pool {
                        continue;
                    }
                    let [xt, kt, bt] = [&x, &kernels, &bias].map(|v| v.as_tensor());
                    let run = |fused: bool| {
                        let (out, ran) = threads::exactly(threads, || {
                            let out = if fused {
                                kernels::conv2d_max_pool(xt, kt, Some(bt), stride, pad, act, pool)
                                    .unwrap()
                            } else {
                                let z = stock_conv(xt, kt, Some(bt), stride, pad, act);
                                first_max_pool(&z, pool)
                            };
                            let grads = probe_backward(&out, 77);
                            let grads =
                                [&x, &kernels, &bias].map(|v| grads.get(v).unwrap().clone());
                            (out, grads)
                        });
                        if fused && n > 1 {
                            assert_eq!(ran, threads, "case {i}: the threads that ran");
                        }
                        out
                    };
                    let ((fused, fused_grads), (stock, stock_grads)) = (run(true), run(false));
                    let label =
                        format!("{dtype:?} case {i} {act:?} pool {pool} {threads} thread(s)");
                    assert_eq!(fused.dims(), stock.dims(), "{label}");
                    let results = [&fused, &fused_grads[0], &fused_grads[1], &fused_grads[2]]
                        .into_iter()
                        .zip([&stock, &stock_grads[0], &stock_grads[1], &stock_grads[2]]);
                    for ((name, terms), (f, s)) in sum_lengths(case).into_iter().zip(results) {
                        let diff = relative_diff(f, s);
                        let bound = rounding(dtype, terms);
                        assert!(diff <= bound, "{label} {name}: {diff:e} > {bound:e}");
                    }
                }
            }
        }
    }
}

/// A window whose maxima tie sends its gradient to the first of them in row order, as PyTorch
/// does: the max-pool op and the convolution with max-pool joined to it (a 1×1 unit kernel, so
/// that its output is its input), against [`first_max_pool`], on inputs of 0 and 1 where many
/// windows tie.
#[test]
fn a_tied_window_sends_its_gradient_to_its_first_maximum() {
    // By hand first: every value of the 2×2 window is 1, so the top-left one takes the gradient.
    let x =
        Var::from_tensor(&Tensor::ones((1, 1, 2, 2), DType::F64, &Device::Cpu).unwrap()).unwrap();
    let out = simple_nn::nn::max_pool(x.as_tensor(), 2).unwrap();
    let grads = out.sum_all().unwrap().backward().unwrap();
    assert_eq!(values(grads.get(&x).unwrap()), [1.0, 0.0, 0.0, 0.0]);
    for dtype in [DType::F64, DType::F32] {
        for (shape, k) in [([2, 1, 8, 6], 2), ([1, 1, 9, 10], 3)] {
            let ones = random(&shape, 21, DType::F64).ge(0.3).unwrap();
            let x = Var::from_tensor(&ones.to_dtype(dtype).unwrap()).unwrap();
            let unit = Tensor::ones((1, 1, 1, 1), dtype, &Device::Cpu).unwrap();
            let expected = probe_backward(&first_max_pool(x.as_tensor(), k), 22);
            let expected = values(expected.get(&x).unwrap());
            let pooled = simple_nn::nn::max_pool(x.as_tensor(), k).unwrap();
            let joined = kernels::conv2d_max_pool(
                x.as_tensor(),
                &unit,
                None,
                1,
                0,
                DenseActivation::Identity,
                k,
            )
            .unwrap();
            for (name, out) in [("max-pool", pooled), ("conv + max-pool", joined)] {
                let grads = probe_backward(&out, 22);
                assert_eq!(
                    values(grads.get(&x).unwrap()),
                    expected,
                    "{name} {shape:?} k {k} {dtype:?}"
                );
            }
            let (tied, windows) = tied_windows(x.as_tensor(), k);
            assert!(
                3 * tied > windows,
                "{shape:?}: {tied} of {windows} windows tie"
            );
        }
    }
}
