//! The autograd path takes the same steps as the tutorial's hand-written deltas.
//!
//! Expected values come from `simple_nn::reference` (the tutorial's deltas on
//! candle tensors, no autograd), from central finite differences, and from
//! numpy itself, all in float64.

mod common;

use candle_core::{DType, Device, Module, Tensor};
use common::{article, max_abs_diff, max_abs_diff_all};
use simple_nn::tutorial::half_sse;
use simple_nn::tutorial::{reference, Init, Mode, Trainer};

/// Targets for the deeper `[3, 8, 5, 2]` network: XOR and AND of the first two columns.
fn two_targets() -> Tensor {
    let y = [[0., 0.], [1., 0.], [1., 0.], [0., 1.], [0., 0.]];
    Tensor::new(&y, &Device::Cpu).unwrap()
}

fn one_step_difference(sizes: &[usize], ys: &Tensor, init: Init, lr: f64) -> f64 {
    let (xs, _) = article();
    let ws = init.weights(sizes, DType::F64, &Device::Cpu).unwrap();
    let expected = reference::step(&xs, ys, &ws, lr).unwrap();
    let mut trainer = Trainer::stock(Mode::Autograd, &ws, lr).unwrap();
    let prediction = trainer.step(&xs, ys).unwrap();
    let got = trainer.mlp().tutorial_weights().unwrap();
    assert!(max_abs_diff(&prediction, &expected.prediction).unwrap() <= 1e-15);
    // The step must have moved the weights, or the comparison proves nothing.
    assert!(max_abs_diff_all(&got, &ws).unwrap() > 1e-4);
    max_abs_diff_all(&got, &expected.weights).unwrap()
}

#[test]
fn one_autograd_sgd_step_equals_the_delta_update_for_3_4_1() {
    let (_, ys) = article();
    for init in [Init::Numpy(1), Init::Uniform(1), Init::Uniform(2)] {
        let diff = one_step_difference(&[3, 4, 1], &ys, init.clone(), 1.0);
        eprintln!("[3, 4, 1] {init}: max |autograd - reference| after one step = {diff:e}");
        assert!(diff <= 1e-12, "{init}: {diff:e}");
    }
}

#[test]
fn one_autograd_sgd_step_equals_the_delta_update_for_3_8_5_2() {
    for init in [Init::Numpy(3), Init::Uniform(4)] {
        let diff = one_step_difference(&[3, 8, 5, 2], &two_targets(), init.clone(), 0.5);
        eprintln!("[3, 8, 5, 2] {init}: max |autograd - reference| after one step = {diff:e}");
        assert!(diff <= 1e-12, "{init}: {diff:e}");
    }
}

#[test]
fn sixty_thousand_autograd_steps_stay_within_1e_10_of_the_reference() {
    let (xs, ys) = article();
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    let mut trainer = Trainer::stock(Mode::Autograd, &ws, 1.0).unwrap();
    let mut reference_ws = ws.clone();
    for _ in 0..60_000 {
        trainer.step(&xs, &ys).unwrap();
        reference_ws = reference::step(&xs, &ys, &reference_ws, 1.0)
            .unwrap()
            .weights;
    }
    let got = trainer.mlp().tutorial_weights().unwrap();
    let diff = max_abs_diff_all(&got, &reference_ws).unwrap();
    eprintln!("max |autograd - reference| after 60000 steps = {diff:e}");
    assert!(diff <= 1e-10, "{diff:e}");
    assert!(
        max_abs_diff_all(&got, &ws).unwrap() > 1.0,
        "training did not move the weights"
    );
}

/// `python numpy_manual.py 60000 1` (the tutorial's corrected numpy loop after
/// `np.random.seed(1)`), saved with `SAVE=out.npz` and printed with `repr`.
const NUMPY_W0_AFTER_60000: [f64; 12] = [
    3.733678533694015,
    5.376842646083741,
    -7.20834666146423,
    -6.497046394265554,
    -1.3564990070024925,
    -7.454771767610571,
    -7.167816129144099,
    0.30569199598675073,
    0.33123457128797845,
    -2.2627033603716873,
    2.7067093022883055,
    2.439460123511444,
];
const NUMPY_W1_AFTER_60000: [f64; 4] = [
    -5.918353023810955,
    11.729378124717972,
    -11.761782021842045,
    7.733982718930521,
];

#[test]
fn sixty_thousand_steps_match_numpy_to_1e_12() {
    let (xs, ys) = article();
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    for mode in [Mode::Autograd, Mode::Manual] {
        let mut trainer = Trainer::stock(mode, &ws, 1.0).unwrap();
        for _ in 0..60_000 {
            trainer.step(&xs, &ys).unwrap();
        }
        let got = trainer.mlp().tutorial_weights().unwrap();
        let numpy = [
            Tensor::from_slice(&NUMPY_W0_AFTER_60000, (3, 4), &Device::Cpu).unwrap(),
            Tensor::from_slice(&NUMPY_W1_AFTER_60000, (4, 1), &Device::Cpu).unwrap(),
        ];
        let diff = max_abs_diff_all(&got, &numpy).unwrap();
        eprintln!("{mode}: max |candle - numpy| after 60000 steps = {diff:e}");
        assert!(diff <= 1e-12, "{mode}: {diff:e}");
    }
}

#[test]
fn autograd_gradients_equal_the_delta_terms_and_finite_differences() {
    let (xs, ys) = article();
    for (sizes, ys) in [(vec![3, 4, 1], ys), (vec![3, 8, 5, 2], two_targets())] {
        let ws = Init::Uniform(7)
            .weights(&sizes, DType::F64, &Device::Cpu)
            .unwrap();
        let (mlp, varmap) =
            simple_nn::nn::Mlp::from_tutorial_weights(&ws, simple_nn::Kernels::Stock).unwrap();
        let grads = half_sse(&mlp.forward(&xs).unwrap(), &ys)
            .unwrap()
            .backward()
            .unwrap();
        let by_hand = reference::gradients(&xs, &ys, &ws).unwrap();
        let vars = varmap.data().lock().unwrap();
        for (i, expected) in by_hand.iter().enumerate() {
            let var = &vars[&simple_nn::nn::weight_name(i)];
            let autograd = grads
                .get(var)
                .expect("every weight has a gradient")
                .t()
                .unwrap();
            let diff = max_abs_diff(&autograd, expected).unwrap();
            assert!(
                diff <= 1e-14,
                "{sizes:?} w{i}: autograd vs l·deltaᵀ differ by {diff:e}"
            );
            let numeric = finite_differences(&xs, &ys, &ws, i);
            let diff = max_abs_diff(&autograd, &numeric).unwrap();
            assert!(
                diff <= 1e-8,
                "{sizes:?} w{i}: autograd vs finite differences differ by {diff:e}"
            );
        }
    }
}

/// `(loss(w + h) − loss(w − h)) / 2h` for every entry of `ws[layer]`, h = 1e-6.
fn finite_differences(xs: &Tensor, ys: &Tensor, ws: &[Tensor], layer: usize) -> Tensor {
    let h = 1e-6;
    let loss = |ws: &[Tensor]| {
        let prediction = reference::forward(xs, ws).unwrap().pop().unwrap();
        half_sse(&prediction, ys)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    };
    let (rows, cols) = ws[layer].dims2().unwrap();
    let base = ws[layer].flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let nudged = |k: usize, delta: f64| {
        let mut values = base.clone();
        values[k] += delta;
        let mut ws = ws.to_vec();
        ws[layer] = Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap();
        loss(&ws)
    };
    let grad: Vec<f64> = (0..rows * cols)
        .map(|k| (nudged(k, h) - nudged(k, -h)) / (2.0 * h))
        .collect();
    Tensor::from_vec(grad, (rows, cols), &Device::Cpu).unwrap()
}
