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
use common::values;
use simple_nn::kernels::Kernels;
use simple_nn::nn::{FitConfig, Layers, Learner, Loss, Model, Net, NetConfig, OptimizerConfig};
use simple_nn::rng::SplitMix64;

/// `n` numbers uniform in [-1, 1) from `seed`.
fn uniform(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| 2.0 * rng.next_f64() - 1.0).collect()
}

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

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
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

/// The conv layer's gradients for its input too (a conv after a conv needs them), against the loops.
/// candle needs the rows and the columns past the last window to be as many (see the next test):
/// 9×7 with stride 2 and padding 1 leaves none of either, 9×9 with stride 3 and padding 2 one of each.
#[test]
fn conv_input_gradients_equal_the_direct_loop() {
    for (stride, pad, h, w) in [(1, 0, 9, 7), (2, 1, 9, 7), (3, 2, 9, 9), (2, 0, 8, 6)] {
        let x = Array4 {
            data: uniform(2 * 3 * h * w, 1),
            shape: [2, 3, h, w],
        };
        let w = Array4 {
            data: uniform(4 * 3 * 3 * 3, 2),
            shape: [4, 3, 3, 3],
        };
        let b = uniform(4, 3);
        let y = conv_forward(&x, &w, &b, stride, pad);
        let probe = Array4 {
            data: uniform(y.data.len(), 4),
            shape: y.shape,
        };
        let (dx, dw, db) = conv_backward(&x, &w, &probe, stride, pad);
        let xv = Var::from_tensor(&tensor(&x, DType::F64)).unwrap();
        let wv = Var::from_tensor(&tensor(&w, DType::F64)).unwrap();
        let bv = Var::from_tensor(&Tensor::new(b.as_slice(), &Device::Cpu).unwrap()).unwrap();
        let out = xv
            .as_tensor()
            .conv2d(wv.as_tensor(), pad, stride, 1, 1)
            .unwrap()
            .broadcast_add(&bv.as_tensor().reshape((1, 4, 1, 1)).unwrap())
            .unwrap();
        assert!(max_diff(&values(&out), &y.data) <= 1e-13);
        let grads = (out * tensor(&probe, DType::F64))
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        for (name, var, expected) in [("x", &xv, &dx.data), ("w", &wv, &dw.data), ("b", &bv, &db)] {
            let diff = max_diff(&values(grads.get(var).unwrap()), expected);
            assert!(
                diff <= 1e-12,
                "stride {stride} pad {pad} ∂/∂{name}: {diff:e}"
            );
        }
    }
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
    let probe = Tensor::from_vec(probe, y.shape.to_vec(), &Device::Cpu).unwrap();
    let grads = (out * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(max_diff(&values(grads.get(&xv).unwrap()), &expected) <= 1e-15);
}

/// The loss of `net` on `(xs, ys)` in training mode, as f64.
fn loss_of(net: &Net, xs: &Tensor, ys: &Tensor) -> f64 {
    net.loss(&net.forward_t(xs, true).unwrap(), ys)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// Batch norm in training normalises by the batch: its gradients (and those of the conv before it)
/// pass central differences, h = 1e-6, within 1e-7.
#[test]
fn batchnorm_gradients_pass_finite_differences() {
    let config = config(
        [2, 5, 5],
        "conv:3:3,batchnorm,relu,maxpool:2,flatten",
        2,
        Kernels::Stock,
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
                "{name}[{i}]: {numeric} vs {}",
                analytic[i]
            );
        }
    }
}

/// In training, batch norm moves its running statistics as PyTorch does (momentum 0.1, the
/// variance unbiased); in evaluation it normalises by them.
#[test]
fn batchnorm_running_statistics_follow_pytorch() {
    let config = NetConfig {
        input: vec![3],
        ..config([1, 1, 1], "batchnorm", 2, Kernels::Stock)
    };
    let (net, varmap) = Net::seeded(config, 1, DType::F64, &Device::Cpu).unwrap();
    let rows = [
        [1.0, 2.0, -1.0],
        [3.0, 0.0, -1.0],
        [2.0, 4.0, -4.0],
        [6.0, 2.0, 2.0],
    ];
    let xs = Tensor::new(&rows, &Device::Cpu).unwrap();
    net.forward_t(&xs, true).unwrap();
    for j in 0..3 {
        let column: Vec<f64> = rows.iter().map(|r| r[j]).collect();
        let mean = column.iter().sum::<f64>() / 4.0;
        let unbiased = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 3.0;
        assert!((param(&varmap, "layers.0.running_mean")[j] - 0.1 * mean).abs() < 1e-12);
        assert!((param(&varmap, "layers.0.running_var")[j] - (0.9 + 0.1 * unbiased)).abs() < 1e-12);
    }
    // Evaluation twice: the same output, and the statistics stay.
    let before = param(&varmap, "layers.0.running_mean");
    let (a, b) = (
        net.forward_t(&xs, false).unwrap(),
        net.forward_t(&xs, false).unwrap(),
    );
    assert_eq!(values(&a), values(&b));
    assert_eq!(param(&varmap, "layers.0.running_mean"), before);
}

/// Dropout's masks come from the seed: the same seed repeats a run, another differs; evaluation
/// has no dropout; in training about P of the values are zeroed and the rest scaled by 1/(1−P).
#[test]
fn dropout_repeats_with_its_seed_and_is_off_in_evaluation() {
    let make = |seed| {
        let config = NetConfig {
            input: vec![4000],
            ..config([1, 1, 1], "dropout:0.25", 1, Kernels::Stock)
        };
        Net::seeded(config, seed, DType::F64, &Device::Cpu).unwrap()
    };
    let ((a, va), (b, _), (c, _)) = (make(1), make(1), make(2));
    let xs = Tensor::ones((3, 4000), DType::F64, &Device::Cpu).unwrap();
    let train = |net: &Net| values(&net.forward_t(&xs, true).unwrap());
    let first = train(&a);
    assert_eq!(first, train(&b), "same seed, same masks");
    assert_ne!(first, train(&c), "another seed, other masks");
    assert_ne!(first, train(&a), "each step draws a new mask");
    assert_eq!(
        values(&a.forward_t(&xs, false).unwrap()),
        values(&b.forward_t(&xs, false).unwrap())
    );
    // The output layer sums the kept values: with all weights 1 and bias 0 it counts them × 1/(1−P).
    for name in ["layers.0.weight", "layers.0.bias"] {
        let var = va.data().lock().unwrap()[name].clone();
        let one = if name.ends_with("weight") { 1.0 } else { 0.0 };
        var.set(&(var.ones_like().unwrap() * one).unwrap()).unwrap();
    }
    let eval = values(&a.forward_t(&xs, false).unwrap());
    assert!(eval.iter().all(|&v| v == 4000.0), "{eval:?}");
    for kept_sum in train(&a) {
        let kept = kept_sum * 0.75;
        assert!(
            (kept - 3000.0).abs() < 150.0,
            "kept {kept} of 4000 at P = 0.25"
        );
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
