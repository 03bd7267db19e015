//! The fused dense layer and softmax cross-entropy compute what candle's stock ops compute.
//!
//! Expected values come from the stock ops (matmul, broadcast add, relu,
//! candle-nn's cross_entropy) and from central finite differences in f64.
//! The dense layer's tests run on every device present: on CUDA the layer has
//! a forward and a backward of its own too.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use common::{
    devices, max_abs_diff, probe_backward, random, relative_diff, relu_as_pytorch, values,
};
use simple_nn::kernels::{dense, softmax_cross_entropy, DenseActivation};

/// The dtypes each device runs the dense layer in, with the largest difference from the stock
/// ops allowed relative to the largest stock value: both sides round the same sums in another
/// order (cuBLAS and gemm pick their own blockings), so the bound is a few units of the dtype's
/// precision times the sums' length.
fn dtypes(dev: &Device) -> Vec<(DType, f64)> {
    let mut dtypes = vec![(DType::F32, 1e-5)];
    if !dev.is_metal() {
        dtypes.insert(0, (DType::F64, 1e-13));
    }
    if dev.is_cuda() {
        dtypes.push((DType::BF16, 2e-2));
    }
    dtypes
}

fn stock(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: DenseActivation) -> Tensor {
    let z = x.matmul(&w.t().unwrap()).unwrap();
    let z = match b {
        Some(b) => z.broadcast_add(b).unwrap(),
        None => z,
    };
    match act {
        DenseActivation::Identity => z,
        DenseActivation::Relu => z.relu().unwrap(),
    }
}

/// `act(x·wᵀ + b)` with ReLU written as `z·[z > 0]`: the same values as [`stock`], and the gradient
/// convention of PyTorch and the fused layer at exactly `z = 0` (0), where candle's `relu` passes it (1).
fn stock_relu_as_pytorch(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    act: DenseActivation,
) -> Tensor {
    let z = stock(x, w, b, DenseActivation::Identity);
    match act {
        DenseActivation::Identity => z,
        DenseActivation::Relu => relu_as_pytorch(&z),
    }
}

/// Gradients of `sum(out · probe)` for x (a variable here), w and b, through one path: the fused
/// layer, or the stock ops with PyTorch's ReLU convention (so that an exact `z = 0`, which bf16
/// rounds to now and then, counts the same on both sides).
fn gradients(fused: bool, x: &Tensor, w: &Tensor, b: &Tensor, act: DenseActivation) -> [Tensor; 3] {
    let (x, w, b) = (
        Var::from_tensor(x).unwrap(),
        Var::from_tensor(w).unwrap(),
        Var::from_tensor(b).unwrap(),
    );
    let out = if fused {
        dense(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), act).unwrap()
    } else {
        stock_relu_as_pytorch(x.as_tensor(), w.as_tensor(), Some(b.as_tensor()), act)
    };
    let grads = probe_backward(&out, 99);
    [&x, &w, &b].map(|v| grads.get(v).unwrap().clone())
}

/// Runs `f` with the kernels on two threads whatever the machine's load, so that the split
/// matmuls (blocks of rows; ∂/∂w beside ∂/∂x) are what the comparisons check, and checks that
/// two threads did run; the results must not depend on it.
fn two_threads(f: impl FnOnce()) {
    let ((), ran) = simple_nn::kernels::threads::exactly(2, f);
    assert_eq!(ran, 2, "the threads that ran");
}

#[test]
fn dense_forward_equals_stock_ops_on_every_device() {
    two_threads(|| {
        for dev in devices() {
            // (50, 96, 200): too few rows to split, so the outputs are split instead.
            for (rows, n_in, n_out) in [
                (7, 5, 3),
                (1, 1, 1),
                (64, 33, 17),
                (50, 96, 200),
                (256, 784, 512),
            ] {
                for act in [DenseActivation::Identity, DenseActivation::Relu] {
                    for (dtype, tolerance) in dtypes(&dev) {
                        let on = |t: Tensor| t.to_dtype(dtype).unwrap().to_device(&dev).unwrap();
                        let x = on(random(&[rows, n_in], 1, DType::F64));
                        let w = on(random(&[n_out, n_in], 2, DType::F64));
                        let b = on(random(&[n_out], 3, DType::F64));
                        for bias in [Some(&b), None] {
                            let fused = dense(&x, &w, bias, act).unwrap();
                            let diff = relative_diff(&fused, &stock(&x, &w, bias, act));
                            assert!(
                                diff <= tolerance,
                                "{dev:?} ({rows},{n_in},{n_out}) {act:?} {dtype:?} bias {}: {diff:e}",
                                bias.is_some()
                            );
                        }
                    }
                }
            }
        }
    });
}

#[test]
fn dense_gradients_equal_stock_gradients_on_every_device() {
    two_threads(|| {
        for dev in devices() {
            for (dtype, tolerance) in dtypes(&dev) {
                let on = |t: Tensor| t.to_dtype(dtype).unwrap().to_device(&dev).unwrap();
                for (rows, n_in, n_out) in [(9, 6, 5), (50, 96, 200), (300, 70, 40)] {
                    let x = on(random(&[rows, n_in], 4, DType::F64));
                    let w = on(random(&[n_out, n_in], 5, DType::F64));
                    let b = on(random(&[n_out], 6, DType::F64));
                    for act in [DenseActivation::Identity, DenseActivation::Relu] {
                        let fused = gradients(true, &x, &w, &b, act);
                        let stock = gradients(false, &x, &w, &b, act);
                        for (name, (f, s)) in ["x", "w", "b"].iter().zip(fused.iter().zip(&stock)) {
                            let diff = relative_diff(f, s);
                            assert!(
                                diff <= tolerance,
                                "{dev:?} ({rows},{n_in},{n_out}) {act:?} {dtype:?} ∂/∂{name}: {diff:e}"
                            );
                        }
                    }
                }
            }
        }
    });
}

/// At exactly `z = 0` ReLU's derivative is a convention. The fused layer takes PyTorch's (0);
/// candle's stock `relu` passes the gradient (1). Elsewhere the two agree (the tests above).
#[test]
fn relu_gradient_at_exactly_zero_is_0_fused_as_in_pytorch_and_1_in_candle_stock() {
    for dev in devices() {
        let dtype = dtypes(&dev)[0].0;
        let on = |values: &[f64], shape: (usize, usize)| {
            Tensor::from_slice(values, shape, &Device::Cpu)
                .unwrap()
                .to_dtype(dtype)
                .unwrap()
                .to_device(&dev)
                .unwrap()
        };
        // Row 0 of x is zero and the bias is zero, so z is exactly 0 there; row 1 has z = 0.5 + 0.5 = 1.
        let x = on(&[0.0, 0.0, 1.0, 2.0], (2, 2));
        let w = Var::from_tensor(&on(&[0.5, 0.25], (1, 2))).unwrap();
        let b = Var::from_tensor(&on(&[0.0], (1, 1)).flatten_all().unwrap()).unwrap();
        let bias_gradient =
            |path: fn(&Tensor, &Tensor, Option<&Tensor>, DenseActivation) -> Tensor| {
                let out = path(
                    &x,
                    w.as_tensor(),
                    Some(b.as_tensor()),
                    DenseActivation::Relu,
                );
                let grads = out.sum_all().unwrap().backward().unwrap();
                values(grads.get(b.as_tensor()).unwrap())[0]
            };
        let fused = bias_gradient(|x, w, b, act| dense(x, w, b, act).unwrap());
        let candle = bias_gradient(stock);
        let pytorch = bias_gradient(stock_relu_as_pytorch);
        // ∂/∂b sums the ReLU's derivative over the two rows: row 1 (z = 1) gives 1, row 0 (z = 0) the convention.
        assert_eq!(fused, 1.0, "{dev:?}: fused");
        assert_eq!(pytorch, 1.0, "{dev:?}: z·[z > 0]");
        assert_eq!(candle, 2.0, "{dev:?}: candle's relu");
    }
}

#[test]
fn dense_skips_the_gradient_of_data_on_every_device() {
    for dev in devices() {
        let dtype = dtypes(&dev)[0].0;
        let on = |t: Tensor| t.to_dtype(dtype).unwrap().to_device(&dev).unwrap();
        let x = on(random(&[4, 3], 7, DType::F64));
        let w = Var::from_tensor(&on(random(&[2, 3], 8, DType::F64))).unwrap();
        let out = dense(&x, w.as_tensor(), None, DenseActivation::Relu).unwrap();
        let grads = out.sum_all().unwrap().backward().unwrap();
        assert!(grads.get(&x).is_none(), "{dev:?}");
        assert!(grads.get(w.as_tensor()).is_some(), "{dev:?}");
    }
}

#[test]
fn dense_gradients_pass_finite_differences() {
    let x = random(&[5, 4], 9, DType::F64);
    let w = random(&[3, 4], 10, DType::F64);
    let b = random(&[3], 11, DType::F64);
    let [_, dw, _] = gradients(true, &x, &w, &b, DenseActivation::Identity);
    let probe = random(&[5, 3], 99, DType::F64); // as `gradients` draws it
    let h = 1e-6;
    let dw = dw.to_vec2::<f64>().unwrap();
    for (r, c) in [(0, 0), (1, 2), (2, 3)] {
        let at = |delta: f64| {
            let mut values = w.to_vec2::<f64>().unwrap();
            values[r][c] += delta;
            let w = Tensor::new(values, &Device::Cpu).unwrap();
            let out = dense(&x, &w, Some(&b), DenseActivation::Identity).unwrap();
            (out * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f64>()
                .unwrap()
        };
        let numeric = (at(h) - at(-h)) / (2.0 * h);
        assert!(
            (dw[r][c] - numeric).abs() < 1e-8,
            "w[{r}][{c}]: {} vs {numeric}",
            dw[r][c]
        );
    }
}

#[test]
fn softmax_cross_entropy_equals_candle_nn_in_value_and_gradient() {
    for (dtype, tolerance) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        let logits = (random(&[8, 5], 12, dtype) * 30.0).unwrap(); // large logits: the stable path matters
        let labels = Tensor::new(&[0u32, 4, 2, 2, 1, 3, 0, 4], &Device::Cpu).unwrap();
        let value = |fused: bool| {
            let z = Var::from_tensor(&logits).unwrap();
            let loss = if fused {
                softmax_cross_entropy(z.as_tensor(), &labels).unwrap()
            } else {
                candle_nn::loss::cross_entropy(z.as_tensor(), &labels).unwrap()
            };
            let grad = loss.backward().unwrap().get(&z).unwrap().clone();
            (loss, grad)
        };
        let ((fused, fused_grad), (stock, stock_grad)) = (value(true), value(false));
        assert!(max_abs_diff(&fused, &stock).unwrap() <= tolerance * 30.0);
        assert!(
            max_abs_diff(&fused_grad, &stock_grad).unwrap() <= tolerance,
            "{dtype:?}"
        );
    }
    let bad = Tensor::new(&[0u32, 7], &Device::Cpu).unwrap();
    let err = softmax_cross_entropy(&random(&[2, 3], 1, DType::F32), &bad).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}
