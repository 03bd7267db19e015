//! The tutorial's code as printed climbs the loss and ends with every output at 1.
//!
//! Expected values come from the corrected hand-written reference
//! (`simple_nn::reference::step`) and from the labels themselves.

mod common;

use candle_core::{DType, Device, Module};
use common::{article, max_abs_diff, values};
use simple_nn::tutorial::{reference, Init, Mode, Trainer};

#[test]
fn as_printed_w1_update_is_the_negated_sgd_step() {
    let (xs, ys) = article();
    for init in [Init::Numpy(1), Init::Uniform(3)] {
        let ws = init.weights(&[3, 4, 1], DType::F64, &Device::Cpu).unwrap();
        let printed = reference::step_as_printed(&xs, &ys, &ws, 1.0).unwrap();
        let corrected = reference::step(&xs, &ys, &ws, 1.0).unwrap();
        let printed_update = (&printed.weights[1] - &ws[1]).unwrap();
        let descent_update = (&corrected.weights[1] - &ws[1]).unwrap();
        // Equal up to the rounding of `w1 - update` itself (a few ulps of w1).
        let diff = max_abs_diff(&printed_update, &descent_update.neg().unwrap()).unwrap();
        assert!(diff <= 1e-15, "{init}: {diff:e}");
        assert!(
            max_abs_diff(&descent_update, &descent_update.zeros_like().unwrap()).unwrap() > 1e-3
        );
    }
}

#[test]
fn as_printed_gives_every_column_of_w0_the_same_update() {
    let (xs, ys) = article();
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    let printed = reference::step_as_printed(&xs, &ys, &ws, 1.0).unwrap();
    let update = (&printed.weights[0] - &ws[0])
        .unwrap()
        .to_vec2::<f64>()
        .unwrap();
    for row in &update {
        assert!(row.iter().all(|v| (v - row[0]).abs() <= 1e-15), "{row:?}");
    }
}

#[test]
fn as_printed_ends_with_errors_near_1_0_0_1_1_for_several_seeds() {
    let (xs, ys) = article();
    let labels = values(&ys);
    for init in [Init::Numpy(1), Init::Uniform(1), Init::Uniform(2)] {
        let ws = init.weights(&[3, 4, 1], DType::F64, &Device::Cpu).unwrap();
        let mut trainer = Trainer::stock(Mode::AsPrinted, &ws, 1.0).unwrap();
        for _ in 0..60_000 {
            trainer.step(&xs, &ys).unwrap();
        }
        let output = values(&trainer.mlp().forward(&xs).unwrap());
        let errors: Vec<f64> = output.iter().zip(&labels).map(|(o, y)| o - y).collect();
        for (e, want) in errors.iter().zip([1.0, 0.0, 0.0, 1.0, 1.0]) {
            assert!((e - want).abs() < 1e-3, "{init}: errors {errors:?}");
        }
    }
}
