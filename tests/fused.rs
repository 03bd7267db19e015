//! The fused kernels compute what the stock candle ops compute: values, gradients, steps.
//!
//! Expected values come from the stock-op path (candle's own matmul, sigmoid,
//! loss and candle-nn's SGD), from finite differences, and from the
//! hand-written reference, all in float64.

mod common;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::Optimizer;
use common::{article, max_abs_diff, max_abs_diff_all, random};
use simple_nn::kernels::{self as fused, FusedSgd};
use simple_nn::nn::Mlp;
use simple_nn::tutorial::half_sse;
use simple_nn::tutorial::{reference, Init, Mode, Trainer};
use simple_nn::Kernels;

#[test]
fn linear_sigmoid_equals_stock_matmul_then_sigmoid() {
    for (rows, n_in, n_out) in [(5, 3, 4), (5, 4, 1), (7, 8, 5), (1, 1, 1), (64, 33, 17)] {
        for (dtype, tolerance) in [(DType::F64, 1e-15), (DType::F32, 1e-6)] {
            let x = random(&[rows, n_in], 1, dtype);
            let w = random(&[n_out, n_in], 2, dtype);
            let stock = candle_nn::ops::sigmoid(&x.matmul(&w.t().unwrap()).unwrap()).unwrap();
            let fused = fused::linear_sigmoid(&x, &w).unwrap();
            assert_eq!(fused.dims(), [rows, n_out]);
            assert_eq!(fused.dtype(), dtype);
            let diff = max_abs_diff(&fused, &stock).unwrap();
            assert!(
                diff <= tolerance,
                "({rows}, {n_in}, {n_out}) {dtype:?}: {diff:e}"
            );
        }
    }
}

#[test]
fn fused_loss_equals_stock_loss() {
    let (p, y) = (
        random(&[5, 3], 3, DType::F64),
        random(&[5, 3], 4, DType::F64),
    );
    let diff = max_abs_diff(
        &fused::half_sse(&p, &y).unwrap(),
        &half_sse(&p, &y).unwrap(),
    )
    .unwrap();
    assert!(diff <= 1e-15, "{diff:e}");
}

/// Gradients of the loss with respect to every weight, via `backward()`, for one kernel choice.
fn gradients(ws: &[Tensor], xs: &Tensor, ys: &Tensor, kernels: Kernels) -> Vec<Tensor> {
    let (mlp, varmap) = Mlp::from_tutorial_weights(ws, kernels).unwrap();
    let prediction = mlp.forward(xs).unwrap();
    let loss = match kernels {
        Kernels::Stock => half_sse(&prediction, ys).unwrap(),
        Kernels::Fused => fused::half_sse(&prediction, ys).unwrap(),
    };
    let grads = loss.backward().unwrap();
    if kernels == Kernels::Fused {
        // The data needs no gradient: the fused op does not compute one.
        assert!(grads.get(xs).is_none());
    }
    let vars = varmap.data().lock().unwrap();
    (0..ws.len())
        .map(|i| {
            grads
                .get(&vars[&simple_nn::nn::weight_name(i)])
                .unwrap()
                .t()
                .unwrap()
        })
        .collect()
}

#[test]
fn fused_gradients_equal_stock_gradients_and_the_reference() {
    let (xs, ys) = article();
    let two = Tensor::new(
        &[[0., 0.], [1., 0.], [1., 0.], [0., 1.], [0., 0.]],
        &Device::Cpu,
    )
    .unwrap();
    for (sizes, ys) in [(vec![3, 4, 1], ys), (vec![3, 8, 5, 2], two)] {
        for seed in [1, 2, 3] {
            let ws = Init::Uniform(seed)
                .weights(&sizes, DType::F64, &Device::Cpu)
                .unwrap();
            let fused = gradients(&ws, &xs, &ys, Kernels::Fused);
            let stock = gradients(&ws, &xs, &ys, Kernels::Stock);
            let by_hand = reference::gradients(&xs, &ys, &ws).unwrap();
            let diff = max_abs_diff_all(&fused, &stock).unwrap();
            assert!(
                diff <= 1e-12,
                "{sizes:?} seed {seed}: fused vs stock {diff:e}"
            );
            let diff = max_abs_diff_all(&fused, &by_hand).unwrap();
            assert!(
                diff <= 1e-12,
                "{sizes:?} seed {seed}: fused vs reference {diff:e}"
            );
        }
    }
}

#[test]
fn fused_gradients_pass_finite_differences() {
    let (xs, ys) = article();
    let ws = Init::Numpy(2)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    let fused = gradients(&ws, &xs, &ys, Kernels::Fused);
    let h = 1e-6;
    for (layer, grad) in fused.iter().enumerate() {
        let grad = grad.to_vec2::<f64>().unwrap();
        let (rows, cols) = ws[layer].dims2().unwrap();
        for (r, c) in (0..rows).flat_map(|r| (0..cols).map(move |c| (r, c))) {
            let loss_at = |delta: f64| {
                let mut ws = ws.clone();
                let mut values = ws[layer].to_vec2::<f64>().unwrap();
                values[r][c] += delta;
                ws[layer] = Tensor::new(values, &Device::Cpu).unwrap();
                let (mlp, _) = Mlp::from_tutorial_weights(&ws, Kernels::Fused).unwrap();
                let prediction = mlp.forward(&xs).unwrap();
                fused::half_sse(&prediction, &ys)
                    .unwrap()
                    .to_scalar::<f64>()
                    .unwrap()
            };
            let numeric = (loss_at(h) - loss_at(-h)) / (2.0 * h);
            assert!(
                (grad[r][c] - numeric).abs() <= 1e-8,
                "w{layer}[{r}][{c}]: {} vs {numeric}",
                grad[r][c]
            );
        }
    }
}

#[test]
fn fused_sgd_takes_candle_nn_sgd_steps_bit_for_bit() {
    for lr in [1.0, 0.3] {
        let start = random(&[4, 3], 5, DType::F64);
        let (a, b) = (
            Var::from_tensor(&start).unwrap(),
            Var::from_tensor(&start).unwrap(),
        );
        let mut stock = candle_nn::SGD::new(vec![a.clone()], lr).unwrap();
        let mut fused = FusedSgd::new(vec![b.clone()], lr).unwrap();
        for step in 0..100 {
            let target = random(&[4, 3], 6 + step, DType::F64);
            stock
                .backward_step(&half_sse(a.as_tensor(), &target).unwrap())
                .unwrap();
            fused
                .backward_step(&half_sse(b.as_tensor(), &target).unwrap())
                .unwrap();
        }
        assert_eq!(
            max_abs_diff(a.as_tensor(), b.as_tensor()).unwrap(),
            0.0,
            "lr {lr}"
        );
        assert!(max_abs_diff(a.as_tensor(), &start).unwrap() > 0.1);
    }
}

#[test]
fn fused_training_tracks_stock_training_for_60000_steps() {
    let (xs, ys) = article();
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    for mode in [Mode::Autograd, Mode::Manual] {
        let mut stock = Trainer::with_kernels(mode, Kernels::Stock, &ws, 1.0).unwrap();
        let mut fused = Trainer::with_kernels(mode, Kernels::Fused, &ws, 1.0).unwrap();
        for _ in 0..60_000 {
            let (p, q) = (stock.step(&xs, &ys).unwrap(), fused.step(&xs, &ys).unwrap());
            assert_eq!(p.dims(), q.dims());
        }
        let diff = max_abs_diff_all(
            &stock.mlp().tutorial_weights().unwrap(),
            &fused.mlp().tutorial_weights().unwrap(),
        )
        .unwrap();
        eprintln!("{mode}: max |fused - stock| after 60000 steps = {diff:e}");
        assert!(diff <= 1e-10, "{mode}: {diff:e}");
        let output = fused.mlp().forward(&xs).unwrap().round().unwrap();
        assert_eq!(common::values(&output), [0.0, 1.0, 1.0, 0.0, 0.0]);
    }
}

/// The whole network and its loss as one node against the three nodes it replaces (two fused
/// layers and the fused loss): the same loss, prediction and gradients bit for bit, f64 and
/// f32, on the article's rows and on 17 random rows of a wider net; the gradient of the data
/// only where the data asks for one. Shapes that do not fit are refused by the per-layer ops.
#[test]
fn the_network_as_one_node_equals_its_three_nodes_bit_for_bit() {
    let (xs, ys) = article();
    let cases = [
        (xs, ys, 4),
        (
            random(&[17, 6], 3, DType::F64),
            random(&[17, 2], 4, DType::F64).affine(0.5, 0.5).unwrap(),
            9,
        ),
    ];
    for (xs, ys, hidden) in cases {
        for dtype in [DType::F64, DType::F32] {
            let (xs, ys) = (xs.to_dtype(dtype).unwrap(), ys.to_dtype(dtype).unwrap());
            let (n_in, n_out) = (xs.dim(1).unwrap(), ys.dim(1).unwrap());
            let w0 = Var::from_tensor(&random(&[hidden, n_in], 5, dtype)).unwrap();
            let w1 = Var::from_tensor(&random(&[n_out, hidden], 6, dtype)).unwrap();
            let x = Var::from_tensor(&xs).unwrap();
            let (loss, prediction) = fused::sigmoid_net_loss(&x, &w0, &w1, &ys).unwrap();
            let grads = loss.backward().unwrap();
            let three =
                fused::linear_sigmoid(&fused::linear_sigmoid(&x, &w0).unwrap(), &w1).unwrap();
            let three_loss = fused::half_sse(&three, &ys).unwrap();
            let three_grads = three_loss.backward().unwrap();
            let bits = |t: &Tensor| {
                common::values(t)
                    .iter()
                    .map(|v| v.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(bits(&loss), bits(&three_loss), "{dtype:?} loss");
            assert_eq!(bits(&prediction), bits(&three), "{dtype:?} prediction");
            for (name, v) in [("∂x", &x), ("∂w0", &w0), ("∂w1", &w1)] {
                let (one, three) = (grads.get(v).unwrap(), three_grads.get(v).unwrap());
                assert_eq!(bits(one), bits(three), "{dtype:?} {name}");
            }
            // Data needs no gradient: none is made for it.
            let (loss, _) = fused::sigmoid_net_loss(&xs, &w0, &w1, &ys).unwrap();
            let grads = loss.backward().unwrap();
            assert!(grads.get(&xs).is_none() && grads.get(&w0).is_some());
        }
    }
    let (xs, ys) = article();
    let w0 = random(&[4, 2], 1, DType::F64);
    assert!(fused::sigmoid_net_loss(&xs, &w0, &random(&[1, 4], 2, DType::F64), &ys).is_err());
}
