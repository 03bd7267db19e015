//! The fused conv-net ops (convolution with bias and ReLU, max-pool, dropout) compute what
//! candle's stock ops compute: values and gradients, in f64 and f32, on odd shapes, with
//! stride and padding, on one thread and on two.
//!
//! Expected values come from candle's stock ops (`conv2d`, broadcast add, `relu`, a reshape and
//! `max` over each pooling window, a mask tensor times the data) and from central finite
//! differences in f64. The tolerances are relative to the largest stock value: both sides
//! round the same sums in another order, so a few units of the dtype's precision times the
//! sums' length (at most 5·3·3 = 45 products here).

mod common;

use candle_core::{DType, Device, Tensor, Var, D};
use common::{max_abs_diff, values};
use simple_nn::kernels::{self, threads, DenseActivation};
use simple_nn::rng::SplitMix64;

/// A tensor of the given shape with values uniform in [-1, 1) drawn from `seed`.
fn random(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
    let mut rng = SplitMix64::new(seed);
    let n = shape.iter().product();
    let data: Vec<f64> = (0..n).map(|_| 2.0 * rng.next_f64() - 1.0).collect();
    Tensor::from_vec(data, shape, &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// `max |a − b| / max |b|`.
fn relative_diff(a: &Tensor, b: &Tensor) -> f64 {
    let scale = values(b).iter().fold(0f64, |m, v| m.max(v.abs()));
    max_abs_diff(a, b).unwrap() / scale.max(f64::MIN_POSITIVE)
}

/// The stock ops: candle's `conv2d`, the bias broadcast over positions, ReLU as `z·[z > 0]`
/// (PyTorch's and the fused op's gradient at exactly 0; candle's `relu` passes 1 there).
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
        DenseActivation::Relu => {
            let positive = z.gt(0.0).unwrap().to_dtype(z.dtype()).unwrap();
            (&z * positive).unwrap()
        }
    }
}

/// The shapes checked: (images, channels in, H, W, channels out, kernel, stride, padding).
/// Odd sizes, non-square images, 1×1 kernels, padding wider than the kernel's reach, strides
/// that leave a remainder, one image, and a 1×1 image under a 5×5 kernel. (candle's stock backward needs as many rows as
/// columns left past the last window, so the stock side cannot check shapes where they differ;
/// the finite differences below check one.)
/// (N, C, H, W, O, K, stride, padding).
type Case = (usize, usize, usize, usize, usize, usize, usize, usize);

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
    let probe = random(out.dims(), 99, out.dtype());
    let grads = (&out * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let grads = [&vars[0], &vars[1], &vars[2]].map(|v| grads.get(v).unwrap().clone());
    (out, grads)
}

#[test]
fn fused_conv_equals_stock_conv_in_values_and_gradients() {
    for threads in [1, 2] {
        threads::scoped(threads, || {
            for (dtype, tolerance) in [(DType::F64, 1e-13), (DType::F32, 1e-5)] {
                for (i, &(n, c, h, w, o, k, stride, pad)) in CASES.iter().enumerate() {
                    for act in [DenseActivation::Identity, DenseActivation::Relu] {
                        let seed = 10 * i as u64;
                        let x = random(&[n, c, h, w], seed, dtype);
                        let kernels = random(&[o, c, k, k], seed + 1, dtype);
                        let bias = random(&[o], seed + 2, dtype);
                        let args = [&x, &kernels, &bias];
                        let (fused, fused_grads) = conv_gradients(true, args, (stride, pad, act));
                        let (stock, stock_grads) = conv_gradients(false, args, (stride, pad, act));
                        let case = format!("{dtype:?} case {i} {act:?} {threads} thread(s)");
                        assert_eq!(fused.dims(), stock.dims(), "{case}");
                        assert_eq!(fused.dtype(), dtype, "{case}");
                        let diff = relative_diff(&fused, &stock);
                        assert!(diff <= tolerance, "{case} values: {diff:e}");
                        for (name, f, s) in [
                            ("x", &fused_grads[0], &stock_grads[0]),
                            ("w", &fused_grads[1], &stock_grads[1]),
                            ("b", &fused_grads[2], &stock_grads[2]),
                        ] {
                            let diff = relative_diff(f, s);
                            assert!(diff <= tolerance, "{case} ∂/∂{name}: {diff:e}");
                        }
                    }
                }
            }
        })
    }
}

#[test]
fn fused_conv_without_bias_equals_stock_conv() {
    let x = random(&[3, 2, 7, 7], 1, DType::F64);
    let w = Var::from_tensor(&random(&[4, 2, 3, 3], 2, DType::F64)).unwrap();
    let fused = kernels::conv2d(&x, w.as_tensor(), None, 2, 1, DenseActivation::Relu).unwrap();
    let stock = stock_conv(&x, w.as_tensor(), None, 2, 1, DenseActivation::Relu);
    assert!(relative_diff(&fused, &stock) <= 1e-13);
    let fused_dw = fused.sum_all().unwrap().backward().unwrap();
    let stock_dw = stock.sum_all().unwrap().backward().unwrap();
    let (f, s) = (fused_dw.get(&w).unwrap(), stock_dw.get(&w).unwrap());
    assert!(relative_diff(f, s) <= 1e-13);
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
/// cannot size).
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
            (dw[at] - numeric).abs() < 1e-7,
            "w[{at}]: {} vs {numeric}",
            dw[at]
        );
    }
    for at in [0, 9, 33, 120] {
        let numeric = (loss(&nudge(&x, at, h), &w) - loss(&nudge(&x, at, -h), &w)) / (2.0 * h);
        assert!(
            (dx[at] - numeric).abs() < 1e-7,
            "x[{at}]: {} vs {numeric}",
            dx[at]
        );
    }
}

/// One thread or two, the same bits: the kernel and bias gradients are summed over a partition
/// of the batch that does not depend on the threads.
#[test]
fn fused_conv_results_do_not_depend_on_the_threads() {
    let x = Var::from_tensor(&random(&[33, 3, 12, 12], 8, DType::F32)).unwrap();
    let w = Var::from_tensor(&random(&[8, 3, 3, 3], 9, DType::F32)).unwrap();
    let b = Var::from_tensor(&random(&[8], 10, DType::F32)).unwrap();
    let run = |threads, pool| {
        threads::scoped(threads, || {
            let [xt, wt, bt] = [&x, &w, &b].map(|v| v.as_tensor());
            let out = kernels::conv2d_max_pool(xt, wt, Some(bt), 1, 1, DenseActivation::Relu, pool)
                .unwrap();
            let probe = random(out.dims(), 3, DType::F32);
            let grads = (&out * probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            let mut all = vec![values(&out)];
            all.extend([&x, &w, &b].map(|v| values(grads.get(v).unwrap())));
            all
        })
    };
    for pool in [1, 2] {
        assert_eq!(run(1, pool), run(2, pool), "pool {pool}");
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
                let (fused, fused_dx) = threads::scoped(threads, || {
                    let out = simple_nn::nn::max_pool(x.as_tensor(), k).unwrap();
                    let probe = random(out.dims(), 12, dtype);
                    let grads = (&out * probe)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    (out, grads.get(&x).unwrap().clone())
                });
                let stock = stock_max_pool(x.as_tensor(), k);
                let probe = random(stock.dims(), 12, dtype);
                let grads = (&stock * probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                let case = format!("{shape:?} k {k} {dtype:?} {threads} thread(s)");
                assert_eq!(values(&fused), values(&stock), "{case}");
                assert_eq!(values(&fused_dx), values(grads.get(&x).unwrap()), "{case}");
            }
        }
    }
}

/// The fused dropout and the stock one (a mask tensor times the data) draw the same mask from
/// the same seed: the same bits forward and backward, whatever the threads.
#[test]
fn fused_dropout_equals_stock_dropout_bit_for_bit() {
    for dtype in [DType::F64, DType::F32] {
        // More values than one thread's share, so that the stream is drawn in parts.
        let x = Var::from_tensor(&random(&[3, 5, 71, 97], 13, dtype)).unwrap();
        let probe = random(x.dims(), 14, dtype);
        let run = |fused: bool| {
            let out = match fused {
                true => kernels::dropout(x.as_tensor(), 0.3, 42).unwrap(),
                false => kernels::dropout::stock(x.as_tensor(), 0.3, 42).unwrap(),
            };
            let grads = (&out * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (values(&out), values(grads.get(&x).unwrap()))
        };
        let stock = run(false);
        for threads in [1, 2] {
            assert_eq!(threads::scoped(threads, || run(true)), stock, "{dtype:?}");
        }
        let dropped = stock.0.iter().filter(|&&v| v == 0.0).count() as f64;
        let share = dropped / stock.0.len() as f64;
        assert!((share - 0.3).abs() < 0.01, "{share}");
    }
}

/// Convolution, ReLU and max-pool as one node equal the three ops in a row, values and
/// gradients, on outputs that leave rows and columns past the last window. The pooling in the
/// row is the crate's max-pool op (equal to the stock pooling above): outputs that lie wholly
/// in the padding tie, and the stock `max` sends a tied window's gradient to every maximum
/// where PyTorch and both fused ops send it to the first.
#[test]
fn fused_conv_relu_max_pool_equals_the_stock_ops_in_a_row() {
    for threads in [1, 2] {
        for (dtype, tolerance) in [(DType::F64, 1e-13), (DType::F32, 1e-5)] {
            for (i, &(n, c, h, w, o, k, stride, pad)) in CASES.iter().enumerate() {
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
                    let (ho, wo) = (
                        (h + 2 * pad - k) / stride + 1,
                        (w + 2 * pad - k) / stride + 1,
                    );
                    if ho < pool || wo < pool {
                        continue;
                    }
                    let [xt, kt, bt] = [&x, &kernels, &bias].map(|v| v.as_tensor());
                    let run = |fused: bool| {
                        let out = if fused {
                            threads::scoped(threads, || {
                                kernels::conv2d_max_pool(xt, kt, Some(bt), stride, pad, act, pool)
                                    .unwrap()
                            })
                        } else {
                            let z = stock_conv(xt, kt, Some(bt), stride, pad, act);
                            simple_nn::nn::max_pool(&z, pool).unwrap()
                        };
                        let probe = random(out.dims(), 77, dtype);
                        let grads = threads::scoped(threads, || {
                            (&out * probe)
                                .unwrap()
                                .sum_all()
                                .unwrap()
                                .backward()
                                .unwrap()
                        });
                        let grads = [&x, &kernels, &bias].map(|v| grads.get(v).unwrap().clone());
                        (out, grads)
                    };
                    let ((fused, fused_grads), (stock, stock_grads)) = (run(true), run(false));
                    let case =
                        format!("{dtype:?} case {i} {act:?} pool {pool} {threads} thread(s)");
                    assert_eq!(fused.dims(), stock.dims(), "{case}");
                    let diff = relative_diff(&fused, &stock);
                    assert!(diff <= tolerance, "{case} values: {diff:e}");
                    for (name, f, s) in ["x", "w", "b"]
                        .iter()
                        .zip(&fused_grads)
                        .zip(&stock_grads)
                        .map(|((n, f), s)| (n, f, s))
                    {
                        let diff = relative_diff(f, s);
                        assert!(diff <= tolerance, "{case} ∂/∂{name}: {diff:e}");
                    }
                }
            }
        }
    }
}
