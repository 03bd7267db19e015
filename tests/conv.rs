//! Conv nets, proven as the tutorial's network is: a small conv net's autograd SGD step equals an
//! independent hand computation, and each layer's gradients equal direct loops or finite differences.
//!
//! The expected numbers come from plain nested loops over f64 arrays written here for the test
//! (convolution with stride and padding, ReLU, max-pool with its argmax, dense, softmax
//! cross-entropy, and their backward passes), never from candle.

// The loops spell out the index formulas of the definitions on purpose.
#![allow(clippy::needless_range_loop)]

mod common;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::VarMap;
use common::{max_diff, probe_backward, uniform, values};
use simple_nn::kernels::{self, DenseActivation, Kernels};
use simple_nn::nn::{FitConfig, Layers, Learner, Loss, Model, Net, NetConfig, OptimizerConfig};

/// A 4-d array, row-major, with its shape.
#[derive(Clone, Debug)]
struct Array4 {
    data: Vec<f64>,
    shape: [usize; 4],
}

impl Array4 {
    fn zeros(shape: [usize; 4]) -> Self {
        Self {
            data: vec![0.0; shape.iter().product()],
            shape,
        }
    }
    fn at(&self, a: usize, b: usize, c: usize, d: usize) -> usize {
        let [_, s1, s2, s3] = self.shape;
        ((a * s1 + b) * s2 + c) * s3 + d
    }
}

/// `y[n][o][i][j] = b[o] + Σ_c,p,q x[n][c][i·s + p − pad][j·s + q − pad] · w[o][c][p][q]` (zero outside).
fn conv_forward(x: &Array4, w: &Array4, b: &[f64], stride: usize, pad: usize) -> Array4 {
    let [n, c_in, h, wd] = x.shape;
    let [c_out, _, k, _] = w.shape;
    let (ho, wo) = (
        (h + 2 * pad - k) / stride + 1,
        (wd + 2 * pad - k) / stride + 1,
    );
    let mut y = Array4::zeros([n, c_out, ho, wo]);
    for s in 0..n {
        for o in 0..c_out {
            for i in 0..ho {
                for j in 0..wo {
                    let mut sum = b[o];
                    for c in 0..c_in {
                        for p in 0..k {
                            for q in 0..k {
                                let (r, t) = (
                                    (i * stride + p) as isize - pad as isize,
                                    (j * stride + q) as isize - pad as isize,
                                );
                                if r >= 0 && t >= 0 && (r as usize) < h && (t as usize) < wd {
                                    sum += x.data[x.at(s, c, r as usize, t as usize)]
                                        * w.data[w.at(o, c, p, q)];
                                }
                            }
                        }
                    }
                    let at = y.at(s, o, i, j);
                    y.data[at] = sum;
                }
            }
        }
    }
    y
}

/// The gradients `(∂/∂x, ∂/∂w, ∂/∂b)` of a loss whose gradient at the conv's output is `dy`.
fn conv_backward(
    x: &Array4,
    w: &Array4,
    dy: &Array4,
    stride: usize,
    pad: usize,
) -> (Array4, Array4, Vec<f64>) {
    let [n, c_in, h, wd] = x.shape;
    let [c_out, _, k, _] = w.shape;
    let [_, _, ho, wo] = dy.shape;
    let (mut dx, mut dw, mut db) = (
        Array4::zeros(x.shape),
        Array4::zeros(w.shape),
        vec![0.0; c_out],
    );
    for s in 0..n {
        for o in 0..c_out {
            for i in 0..ho {
                for j in 0..wo {
                    let g = dy.data[dy.at(s, o, i, j)];
                    db[o] += g;
                    for c in 0..c_in {
                        for p in 0..k {
                            for q in 0..k {
                                let (r, t) = (
                                    (i * stride + p) as isize - pad as isize,
                                    (j * stride + q) as isize - pad as isize,
                                );
                                if r >= 0 && t >= 0 && (r as usize) < h && (t as usize) < wd {
                                    let (xi, wi) =
                                        (x.at(s, c, r as usize, t as usize), w.at(o, c, p, q));
                                    dw.data[wi] += g * x.data[xi];
                                    dx.data[xi] += g * w.data[wi];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (dx, dw, db)
}

/// Max over each K×K window (stride K, the remainder dropped), and where each maximum was.
fn maxpool_forward(x: &Array4, k: usize) -> (Array4, Vec<usize>) {
    let [n, c, h, w] = x.shape;
    let mut y = Array4::zeros([n, c, h / k, w / k]);
    let mut argmax = vec![0; y.data.len()];
    for s in 0..n {
        for ch in 0..c {
            for i in 0..h / k {
                for j in 0..w / k {
                    let mut best = x.at(s, ch, i * k, j * k);
                    for p in 0..k {
                        for q in 0..k {
                            let at = x.at(s, ch, i * k + p, j * k + q);
                            if x.data[at] > x.data[best] {
                                best = at;
                            }
                        }
                    }
                    let at = y.at(s, ch, i, j);
                    y.data[at] = x.data[best];
                    argmax[at] = best;
                }
            }
        }
    }
    (y, argmax)
}

/// A tensor of `a`, in `dtype`.
fn tensor(a: &Array4, dtype: DType) -> Tensor {
    Tensor::from_vec(a.data.clone(), a.shape.to_vec(), &Device::Cpu)
        .unwrap()
        .to_dtype(dtype)
        .unwrap()
}

/// The values of the parameter `name` of `varmap`, as f64.
fn param(varmap: &VarMap, name: &str) -> Vec<f64> {
    values(varmap.data().lock().unwrap()[name].as_tensor())
}

/// Sets the parameter `name` of `varmap` to `data`.
fn set_param(varmap: &VarMap, name: &str, data: Vec<f64>) {
    let var = varmap.data().lock().unwrap()[name].clone();
    var.set(&Tensor::from_vec(data, var.shape(), &Device::Cpu).unwrap())
        .unwrap();
}

/// The identity matrix of `n`, row-major: a dense layer with it (and no bias) passes its input
/// through unchanged, every product exact (×1 or ×0) and every sum one value and zeros.
fn identity(n: usize) -> Vec<f64> {
    (0..n * n)
        .map(|i| f64::from(u8::from(i / n == i % n)))
        .collect()
}

fn config(input: [usize; 3], layers: &str, outputs: usize, kernels: Kernels) -> NetConfig {
    NetConfig {
        input: input.to_vec(),
        layers: layers.parse().unwrap(),
        outputs,
        bias: true,
        loss: Loss::CrossEntropy,
        kernels,
    }
}

/// One SGD step (lr 0.1) of `conv:3:3:S:P,relu,maxpool:2,flatten` + dense, by autograd and by hand,
/// from the same seeded weights, on 2 images of 2×7×7 (so that every case leaves a remainder to max-pool) and 3 classes, in f64.
fn one_sgd_step_by_autograd_and_by_hand(
    dev: &Device,
    stride: usize,
    pad: usize,
    kernels: Kernels,
) -> f64 {
    let (n, classes, lr) = (2, 3, 0.1);
    let spec = format!("conv:3:3:{stride}:{pad},relu,maxpool:2,flatten");
    let config = config([2, 7, 7], &spec, classes, kernels);
    let (net, varmap) = Net::seeded(config, 4, DType::F64, dev).unwrap();
    let x = Array4 {
        data: uniform(n * 2 * 7 * 7, 9),
        shape: [n, 2, 7, 7],
    };
    let labels = [2u32, 0];
    // By hand, from the network's initial parameters.
    let mut w = Array4 {
        data: param(&varmap, "layers.0.weight"),
        shape: [3, 2, 3, 3],
    };
    let mut b = param(&varmap, "layers.0.bias");
    let mut dense_w = param(&varmap, "layers.1.weight");
    let mut dense_b = param(&varmap, "layers.1.bias");
    let z = conv_forward(&x, &w, &b, stride, pad);
    let a = Array4 {
        data: z.data.iter().map(|v| v.max(0.0)).collect(),
        shape: z.shape,
    };
    let (pooled, argmax) = maxpool_forward(&a, 2);
    let features = pooled.data.len() / n;
    assert_eq!(dense_w.len(), classes * features);
    let mut dlogits = vec![0.0; n * classes];
    for s in 0..n {
        let row = &pooled.data[s * features..(s + 1) * features];
        let logits: Vec<f64> = (0..classes)
            .map(|k| {
                dense_b[k]
                    + (0..features)
                        .map(|f| row[f] * dense_w[k * features + f])
                        .sum::<f64>()
            })
            .collect();
        let top = logits.iter().cloned().fold(f64::MIN, f64::max);
        let total: f64 = logits.iter().map(|l| (l - top).exp()).sum();
        for k in 0..classes {
            let p = (logits[k] - top).exp() / total;
            dlogits[s * classes + k] =
                (p - f64::from(u8::from(k == labels[s] as usize))) / n as f64;
        }
    }
    let mut dpooled = vec![0.0; pooled.data.len()];
    let (mut ddense_w, mut ddense_b) = (vec![0.0; dense_w.len()], vec![0.0; classes]);
    for s in 0..n {
        for k in 0..classes {
            let g = dlogits[s * classes + k];
            ddense_b[k] += g;
            for f in 0..features {
                ddense_w[k * features + f] += g * pooled.data[s * features + f];
                dpooled[s * features + f] += g * dense_w[k * features + f];
            }
        }
    }
    let mut dz = Array4::zeros(z.shape);
    for (i, &at) in argmax.iter().enumerate() {
        dz.data[at] += dpooled[i] * f64::from(u8::from(z.data[at] > 0.0));
    }
    let (_, dw, db) = conv_backward(&x, &w, &dz, stride, pad);
    for (v, g) in w.data.iter_mut().zip(&dw.data) {
        *v -= lr * g;
    }
    for (v, g) in b.iter_mut().zip(&db) {
        *v -= lr * g;
    }
    for (v, g) in dense_w.iter_mut().zip(&ddense_w) {
        *v -= lr * g;
    }
    for (v, g) in dense_b.iter_mut().zip(&ddense_b) {
        *v -= lr * g;
    }
    // By autograd: one SGD step of the training loop's learner.
    let settings = FitConfig {
        optimizer: OptimizerConfig::Sgd,
        lr,
        ..FitConfig::default()
    };
    let mut learner = Learner::new(&net, &varmap, settings).unwrap();
    let xs = tensor(&x, DType::F64)
        .flatten_from(1)
        .unwrap()
        .to_device(dev)
        .unwrap();
    let ys = Tensor::new(&labels, dev).unwrap();
    learner.step(&xs, &ys).unwrap();
    [
        max_diff(&param(&varmap, "layers.0.weight"), &w.data),
        max_diff(&param(&varmap, "layers.0.bias"), &b),
        max_diff(&param(&varmap, "layers.1.weight"), &dense_w),
        max_diff(&param(&varmap, "layers.1.bias"), &dense_b),
    ]
    .into_iter()
    .fold(0.0, f64::max)
}

/// Tolerance 1e-12: the loops and candle sum in different orders, ~1e-16 apart per term. On every
/// device present (CUDA's f64 included).
#[test]
fn one_autograd_sgd_step_of_a_conv_net_equals_the_hand_computation() {
    for dev in common::devices().into_iter().filter(|d| !d.is_metal()) {
        for kernels in [Kernels::Stock, Kernels::Fused] {
            for (stride, pad) in [(1, 0), (2, 1), (1, 2)] {
                let diff = one_sgd_step_by_autograd_and_by_hand(&dev, stride, pad, kernels);
                assert!(
                    diff <= 1e-12,
                    "{dev:?} stride {stride} pad {pad} {kernels}: {diff:e}"
                );
            }
        }
    }
}

/// The conv layer's gradients for its input too (a conv after a conv needs them), through the
/// crate's own kernels and layers, against the loops: the fused convolution with its input a
/// variable, alone and joined to ReLU and max-pool, on strides and paddings that leave rows or
/// columns past the last window, or none, and on a shape candle's own backward cannot size (7×6,
/// stride 2); then a `Net` of two convs, on the stock and the fused kernels, whose first
/// layer's gradients pass through the second's input gradient.
#[test]
fn conv_input_gradients_equal_the_direct_loop() {
    for (stride, pad, h, width) in [
        (1, 0, 9, 7),
        (2, 1, 9, 7),
        (3, 2, 9, 9),
        (2, 0, 8, 6),
        (2, 1, 7, 6),
    ] {
        for pool in [1, 2] {
            let x = Array4 {
                data: uniform(2 * 3 * h * width, 1),
                shape: [2, 3, h, width],
            };
            let w = Array4 {
                data: uniform(4 * 3 * 3 * 3, 2),
                shape: [4, 3, 3, 3],
            };
            let b = uniform(4, 3);
            // By the loops: the conv, then (pool 2) ReLU and max-pool, and back.
            let z = conv_forward(&x, &w, &b, stride, pad);
            let (y, argmax) = match pool {
                1 => (z.clone(), (0..z.data.len()).collect()),
                _ => maxpool_forward(
                    &Array4 {
                        data: z.data.iter().map(|v| v.max(0.0)).collect(),
                        shape: z.shape,
                    },
                    pool,
                ),
            };
            let probe = uniform(y.data.len(), 4);
            let mut dz = Array4::zeros(z.shape);
            for (i, &at) in argmax.iter().enumerate() {
                let relu = pool == 1 || z.data[at] > 0.0;
                dz.data[at] += probe[i] * f64::from(u8::from(relu));
            }
            let (dx, dw, db) = conv_backward(&x, &w, &dz, stride, pad);
            // By the fused kernel.
            let xv = Var::from_tensor(&tensor(&x, DType::F64)).unwrap();
            let wv = Var::from_tensor(&tensor(&w, DType::F64)).unwrap();
            let bv = Var::from_tensor(&Tensor::new(b.as_slice(), &Device::Cpu).unwrap()).unwrap();
            let act = match pool {
                1 => DenseActivation::Identity,
                _ => DenseActivation::Relu,
            };
            let out = kernels::conv2d_max_pool(
                xv.as_tensor(),
                wv.as_tensor(),
                Some(bv.as_tensor()),
                stride,
                pad,
                act,
                pool,
            )
            .unwrap();
            let case = format!("stride {stride} pad {pad} {h}×{width} pool {pool}");
            assert_eq!(out.dims(), &y.shape, "{case}");
            assert!(max_diff(&values(&out), &y.data) <= 1e-13, "{case}");
            // The probe the loops took: `uniform` from seed 4, as `probe_backward` draws it.
            let grads = probe_backward(&out, 4);
            for (name, var, expected) in
                [("x", &xv, &dx.data), ("w", &wv, &dw.data), ("b", &bv, &db)]
            {
                let diff = max_diff(&values(grads.get(var).unwrap()), expected);
                assert!(diff <= 1e-12, "{case} ∂/∂{name}: {diff:e}");
            }
        }
    }
    for (stride, pad, h, w) in [(1, 0, 9, 7), (2, 1, 9, 7), (3, 2, 9, 9), (2, 0, 8, 6)] {
        for kernels in [Kernels::Stock, Kernels::Fused] {
            let diff = two_convs_by_a_net_and_by_hand(stride, pad, (h, w), kernels);
            assert!(
                diff <= 1e-12,
                "stride {stride} pad {pad} {h}×{w} {kernels}: {diff:e}"
            );
        }
    }
}

/// The gradients of `Σ probe·logits` for every parameter of the `Net`
/// `conv:4:3,conv:2:3:S:P` + dense:3 on 2 images of 2×(h+2)×(w+2) (so that the second conv reads
/// h×w), by autograd and by the loops; the largest difference.
fn two_convs_by_a_net_and_by_hand(
    stride: usize,
    pad: usize,
    (h, w): (usize, usize),
    kernels: Kernels,
) -> f64 {
    let (n, classes) = (2, 3);
    let spec = format!("conv:4:3,conv:2:3:{stride}:{pad}");
    let config = config([2, h + 2, w + 2], &spec, classes, kernels);
    let (net, varmap) = Net::seeded(config, 6, DType::F64, &Device::Cpu).unwrap();
    let x = Array4 {
        data: uniform(n * 2 * (h + 2) * (w + 2), 7),
        shape: [n, 2, h + 2, w + 2],
    };
    let w1 = Array4 {
        data: param(&varmap, "layers.0.weight"),
        shape: [4, 2, 3, 3],
    };
    let w2 = Array4 {
        data: param(&varmap, "layers.1.weight"),
        shape: [2, 4, 3, 3],
    };
    let (b1, b2) = (
        param(&varmap, "layers.0.bias"),
        param(&varmap, "layers.1.bias"),
    );
    let dense_w = param(&varmap, "layers.2.weight");
    let z1 = conv_forward(&x, &w1, &b1, 1, 0);
    let z2 = conv_forward(&z1, &w2, &b2, stride, pad);
    let features = z2.data.len() / n;
    assert_eq!(dense_w.len(), classes * features);
    let probe = uniform(n * classes, 8); // as `probe_backward(.., 8)` draws it
    let mut dz2 = Array4::zeros(z2.shape);
    let (mut ddense_w, mut ddense_b) = (vec![0.0; dense_w.len()], vec![0.0; classes]);
    for s in 0..n {
        for k in 0..classes {
            let g = probe[s * classes + k];
            ddense_b[k] += g;
            for f in 0..features {
                ddense_w[k * features + f] += g * z2.data[s * features + f];
                dz2.data[s * features + f] += g * dense_w[k * features + f];
            }
        }
    }
    let (dz1, dw2, db2) = conv_backward(&z1, &w2, &dz2, stride, pad);
    let (_, dw1, db1) = conv_backward(&x, &w1, &dz1, 1, 0);
    let xs = tensor(&x, DType::F64).flatten_from(1).unwrap();
    let logits = net.forward_t(&xs, true).unwrap();
    let grads = probe_backward(&logits, 8);
    let vars = varmap.data().lock().unwrap().clone();
    [
        ("layers.0.weight", &dw1.data),
        ("layers.0.bias", &db1),
        ("layers.1.weight", &dw2.data),
        ("layers.1.bias", &db2),
        ("layers.2.weight", &ddense_w),
        ("layers.2.bias", &ddense_b),
    ]
    .into_iter()
    .map(|(name, expected)| max_diff(&values(grads.get(&vars[name]).unwrap()), expected))
    .fold(0.0, f64::max)
}

/// A strided conv whose input gradient candle would size wrong (another remainder in height than
/// in width) is refused when the network is described, naming the layer, wherever it stands:
/// candle computes that gradient even for the data.
#[test]
fn a_strided_conv_whose_input_gradient_candle_cannot_size_is_refused() {
    let refused = NetConfig {
        input: vec![1, 9, 8],
        ..config([1, 9, 9], "conv:2:1,conv:2:3:3:0", 2, Kernels::Stock)
    };
    let err = refused.shapes().unwrap_err().to_string();
    assert!(
        err.contains("'conv:2:3:3:0'") && err.contains("make the images square"),
        "{err}"
    );
    let first = NetConfig {
        input: vec![1, 9, 8],
        ..config([1, 9, 9], "conv:2:3:3:0", 2, Kernels::Stock)
    };
    assert!(first.shapes().is_err());
    let square = config([1, 9, 9], "conv:2:1,conv:2:3:3:0", 2, Kernels::Stock);
    assert!(square.shapes().is_ok());
}

/// Max-pool's gradient goes to each window's maximum alone; odd sizes drop the last row and column.
/// Each input lies in one window at most, so its gradient is one probe value or 0: no sum to
/// round, and the two sides agree to the bit.
#[test]
fn maxpool_gradients_route_to_each_window_maximum() {
    let x = Array4 {
        data: uniform(2 * 3 * 7 * 5, 5),
        shape: [2, 3, 7, 5],
    };
    let (y, argmax) = maxpool_forward(&x, 2);
    let probe = uniform(y.data.len(), 6);
    let mut expected = vec![0.0; x.data.len()];
    for (i, &at) in argmax.iter().enumerate() {
        expected[at] += probe[i];
    }
    let xv = Var::from_tensor(&tensor(&x, DType::F64)).unwrap();
    let out = simple_nn::nn::max_pool(xv.as_tensor(), 2).unwrap();
    assert_eq!(out.dims(), &y.shape);
    assert_eq!(values(&out), y.data);
    let grads = probe_backward(&out, 6);
    assert_eq!(values(grads.get(&xv).unwrap()), expected);
}

/// The loss of `net` on `(xs, ys)` in training mode, as f64.
fn loss_of(net: &Net, xs: &Tensor, ys: &Tensor) -> f64 {
    net.loss(&net.forward_t(xs, true).unwrap(), ys)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Batch norm in training normalises by the batch: its gradients (and those of the conv before it)
/// pass central differences, h = 1e-6, within 1e-7 (the loss is smooth in these weights, its
/// truncation error h²·|f‴|/6 far below that), on the stock kernels and on the fused ones (the
/// fused convolution and max-pool around candle-nn's batch norm).
#[test]
fn batchnorm_gradients_pass_finite_differences() {
    for kernels in [Kernels::Stock, Kernels::Fused] {
        batchnorm_gradients_pass_finite_differences_on(kernels);
    }
}

fn batchnorm_gradients_pass_finite_differences_on(kernels: Kernels) {
    let config = config(
        [2, 5, 5],
        "conv:3:3,batchnorm,relu,maxpool:2,flatten",
        2,
        kernels,
    );
    let (net, varmap) = Net::seeded(config, 7, DType::F64, &Device::Cpu).unwrap();
    // Scale and shift away from 1 and 0, so that their gradients are not a special case.
    for (name, seed) in [("layers.1.weight", 11), ("layers.1.bias", 12)] {
        let var = varmap.data().lock().unwrap()[name].clone();
        var.set(&Tensor::new(uniform(3, seed).as_slice(), &Device::Cpu).unwrap())
            .unwrap();
    }
    let xs = Tensor::new(uniform(4 * 2 * 5 * 5, 8).as_slice(), &Device::Cpu)
        .unwrap()
        .reshape((4, 50))
        .unwrap();
    let ys = Tensor::new(&[0u32, 1, 1, 0], &Device::Cpu).unwrap();
    let grads = net
        .loss(&net.forward_t(&xs, true).unwrap(), &ys)
        .unwrap()
        .backward()
        .unwrap();
    let h = 1e-6;
    for name in [
        "layers.0.weight",
        "layers.1.weight",
        "layers.1.bias",
        "layers.2.weight",
    ] {
        let var = varmap.data().lock().unwrap()[name].clone();
        let analytic = values(grads.get(&var).unwrap());
        let original = values(var.as_tensor());
        for i in [0, original.len() / 2, original.len() - 1] {
            let at = |delta: f64| {
                let mut moved = original.clone();
                moved[i] += delta;
                var.set(&Tensor::from_vec(moved, var.shape(), &Device::Cpu).unwrap())
                    .unwrap();
                loss_of(&net, &xs, &ys)
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h);
            var.set(&Tensor::from_vec(original.clone(), var.shape(), &Device::Cpu).unwrap())
                .unwrap();
            assert!(
                (numeric - analytic[i]).abs() <= 1e-7,
                "{kernels} {name}[{i}]: {numeric} vs {}",
                analytic[i]
            );
        }
    }
}

/// In training, batch norm moves its running statistics as PyTorch does (momentum 0.1, the
/// variance unbiased); in evaluation it normalises by them: `(x − mean)/√(var + 1e-5)·γ + β` with
/// the running mean and variance, computed here by hand from the rows (not the batch's own
/// statistics, which training uses), on the stock and the fused kernels.
#[test]
fn batchnorm_running_statistics_follow_pytorch() {
    for kernels in [Kernels::Stock, Kernels::Fused] {
        // One feature per column, then a dense layer that passes them through (identity, no bias).
        let config = NetConfig {
            input: vec![3],
            ..config([1, 1, 1], "batchnorm", 3, kernels)
        };
        let (net, varmap) = Net::seeded(config, 1, DType::F64, &Device::Cpu).unwrap();
        let (gamma, beta) = (uniform(3, 21), uniform(3, 22));
        set_param(&varmap, "layers.0.weight", gamma.clone());
        set_param(&varmap, "layers.0.bias", beta.clone());
        set_param(&varmap, "layers.1.weight", identity(3));
        set_param(&varmap, "layers.1.bias", vec![0.0; 3]);
        let rows = [
            [1.0, 2.0, -1.0],
            [3.0, 0.0, -1.0],
            [2.0, 4.0, -4.0],
            [6.0, 2.0, 2.0],
        ];
        let xs = Tensor::new(&rows, &Device::Cpu).unwrap();
        net.forward_t(&xs, true).unwrap();
        let (mut running_mean, mut running_var) = (vec![0.0; 3], vec![0.0; 3]);
        for j in 0..3 {
            let column: Vec<f64> = rows.iter().map(|r| r[j]).collect();
            let mean = column.iter().sum::<f64>() / 4.0;
            let unbiased = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
            // From the initial mean 0 and variance 1.
            (running_mean[j], running_var[j]) = (0.1 * mean, 0.9 + 0.1 * unbiased);
        }
        let mean = param(&varmap, "layers.0.running_mean");
        let var = param(&varmap, "layers.0.running_var");
        assert!(
            max_diff(&mean, &running_mean) < 1e-12,
            "{kernels}: {mean:?}"
        );
        assert!(max_diff(&var, &running_var) < 1e-12, "{kernels}: {var:?}");
        // Evaluation, on the rows and on others: normalised by the running statistics.
        let others = [[0.5, -3.0, 7.0], [10.0, 1.0, 0.0]];
        for batch in [&rows[..], &others[..]] {
            let expected: Vec<f64> = batch
                .iter()
                .flat_map(|r| {
                    (0..3).map(|j| {
                        (r[j] - running_mean[j]) / (running_var[j] + 1e-5).sqrt() * gamma[j]
                            + beta[j]
                    })
                })
                .collect();
            let flat: Vec<f64> = batch.iter().flatten().copied().collect();
            let xs = Tensor::from_vec(flat, (batch.len(), 3), &Device::Cpu).unwrap();
            let (a, b) = (
                net.forward_t(&xs, false).unwrap(),
                net.forward_t(&xs, false).unwrap(),
            );
            let diff = max_diff(&values(&a), &expected);
            assert!(diff < 1e-12, "{kernels}: {diff:e}");
            assert_eq!(values(&a), values(&b), "{kernels}: twice, the same");
        }
        // Evaluation leaves the statistics as they were.
        assert_eq!(param(&varmap, "layers.0.running_mean"), mean, "{kernels}");
        assert_eq!(param(&varmap, "layers.0.running_var"), var, "{kernels}");
    }
}

/// Dropout's masks come from the seed: the same seed repeats a run, another differs, and each
/// step draws a new mask; evaluation has no dropout.
#[test]
fn dropout_repeats_with_its_seed_and_is_off_in_evaluation() {
    for kernels in [Kernels::Stock, Kernels::Fused] {
        let make = |seed| {
            let config = NetConfig {
                input: vec![4000],
                ..config([1, 1, 1], "dropout:0.25", 1, kernels)
            };
            Net::seeded(config, seed, DType::F64, &Device::Cpu)
                .unwrap()
                .0
        };
        let (a, b, c) = (make(1), make(1), make(2));
        let xs = Tensor::ones((3, 4000), DType::F64, &Device::Cpu).unwrap();
        let train = |net: &Net| values(&net.forward_t(&xs, true).unwrap());
        let first = train(&a);
        assert_eq!(first, train(&b), "{kernels}: same seed, same masks");
        assert_ne!(first, train(&c), "{kernels}: another seed, other masks");
        assert_ne!(first, train(&a), "{kernels}: each step draws a new mask");
        assert_eq!(
            values(&a.forward_t(&xs, false).unwrap()),
            values(&b.forward_t(&xs, false).unwrap())
        );
    }
}

/// The rate written in the layer is the rate a `Net` drops: inverted dropout keeps the sum, so a
/// sum cannot tell (a layer dropping 0.5 with the scale 2 sums as one dropping 0.25), and the
/// layer's output is looked at value by value, through a dense layer that passes it on
/// unchanged (identity, no bias). Of 60000 values (100 rows of 600), the share zeroed lies
/// within 5 standard deviations of P, √(P(1−P)/60000) ≤ 0.00205, so within 0.0102 (a P off
/// by 0.05 is 24 deviations away); every other value is its input times 1/(1−P) exactly (1.25
/// and 2, exact in f32); in evaluation every value passes unchanged.
#[test]
fn dropout_drops_the_rate_it_is_given_and_scales_the_rest() {
    let (rows, n) = (100, 600);
    let xs = Tensor::from_vec(uniform(rows * n, 31), (rows, n), &Device::Cpu).unwrap();
    let inputs = values(&xs);
    assert!(inputs.iter().all(|&x| x != 0.0));
    for kernels in [Kernels::Stock, Kernels::Fused] {
        for p in [0.2, 0.5] {
            let config = NetConfig {
                input: vec![n],
                ..config([1, 1, 1], &format!("dropout:{p}"), n, kernels)
            };
            let (net, varmap) = Net::seeded(config, 3, DType::F64, &Device::Cpu).unwrap();
            set_param(&varmap, "layers.0.weight", identity(n));
            set_param(&varmap, "layers.0.bias", vec![0.0; n]);
            let scale = 1.0 / (1.0 - p);
            for step in 0..2 {
                let out = values(&net.forward_t(&xs, true).unwrap());
                let zeroed = out.iter().filter(|&&v| v == 0.0).count();
                let share = zeroed as f64 / out.len() as f64;
                let deviation = (p * (1.0 - p) / out.len() as f64).sqrt();
                assert!(
                    (share - p).abs() <= 5.0 * deviation,
                    "{kernels} P = {p}, step {step}: {share} zeroed"
                );
                for (i, (&v, &x)) in out.iter().zip(&inputs).enumerate() {
                    assert!(
                        v == 0.0 || v == x * scale,
                        "{kernels} P = {p}: value {i} is {v}, its input {x}"
                    );
                }
            }
            assert_eq!(values(&net.forward_t(&xs, false).unwrap()), inputs);
        }
    }
}

#[test]
fn layer_specs_read_back_as_written_and_bad_ones_name_the_token() {
    let text = "conv:32:3,relu,conv:64:3:2:1,maxpool:2,avgpool:2,dropout:0.25,flatten,batchnorm,dense:128,gelu,tanh,sigmoid";
    let layers: Layers = text.parse().unwrap();
    assert_eq!(layers.to_string(), text);
    for (bad, expected) in [
        ("conv:8", "unknown layer 'conv:8'"),
        (
            "dropout:1.5",
            "'dropout:1.5': the probability must be in [0, 1)",
        ),
        ("dense:0", "'dense:0': the units must be a whole number ≥ 1"),
        ("relu,wat", "unknown layer 'wat'"),
        ("conv:4:3:0:0", "the stride must be"),
    ] {
        let err = bad.parse::<Layers>().unwrap_err();
        assert!(err.contains(expected), "{bad}: {err}");
    }
    let shapes = |spec: &str, input: &[usize]| spec.parse::<Layers>().unwrap().shapes(input);
    assert_eq!(
        shapes("conv:4:3:2:1,maxpool:2,flatten,dense:5", &[1, 28, 28]).unwrap(),
        [
            vec![1, 28, 28],
            vec![4, 14, 14],
            vec![4, 7, 7],
            vec![196],
            vec![5]
        ]
    );
    for (spec, input, expected) in [
        ("conv:4:3", vec![64], "layer 'conv:4:3' needs an image"),
        (
            "dense:8,maxpool:2",
            vec![1, 8, 8],
            "layer 'maxpool:2' pools an image",
        ),
        (
            "conv:4:9",
            vec![1, 8, 8],
            "kernel is larger than its 8×8 input",
        ),
        (
            "maxpool:2,maxpool:2,maxpool:2,maxpool:2",
            vec![1, 8, 8],
            "window is larger than its 1×1 input",
        ),
    ] {
        let err = shapes(spec, &input).unwrap_err().to_string();
        assert!(err.contains(expected), "{spec}: {err}");
    }
}
