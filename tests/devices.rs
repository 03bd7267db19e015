//! Every device-level property, run on every device present, and CPU↔GPU parity.
//!
//! Each test body runs on the CPU always and on CUDA or Metal when the
//! build has the backend and the machine the device (see
//! `common::devices`, which prints what it skipped and why). Expected
//! values: the hand-written reference on the same device, the labels, and,
//! for parity, the CPU's own run from the same initial weights.

mod common;

use candle_core::{DType, Device, Module};
use common::{devices, float_dtypes, gpu, max_abs_diff, max_abs_diff_all, values};
use simple_nn::data::{Part, Source, TargetKind};
use simple_nn::io::weights as checkpoint;
use simple_nn::nn::fit::{self, FitConfig};
use simple_nn::nn::Loss;
use simple_nn::nn::OptimizerConfig;
use simple_nn::nn::Schedule;
use simple_nn::nn::{Activation, Mlp, MlpConfig};
use simple_nn::tutorial::{reference, Dataset, Init, Mode, Trainer};
use simple_nn::Kernels;

fn device_name(dev: &Device) -> String {
    simple_nn::device::name(dev)
}

#[test]
fn autograd_step_equals_the_reference_on_every_device() {
    for dev in devices() {
        for dtype in float_dtypes(&dev) {
            let tolerance = if dtype == DType::F64 { 1e-12 } else { 1e-5 };
            let (xs, ys) = Dataset::Article.tensors(dtype, &dev).unwrap();
            let ws = Init::Numpy(1).weights(&[3, 4, 1], dtype, &dev).unwrap();
            let expected = reference::step(&xs, &ys, &ws, 1.0).unwrap().weights;
            let mut trainer = Trainer::stock(Mode::Autograd, &ws, 1.0).unwrap();
            trainer.step(&xs, &ys).unwrap();
            let diff =
                max_abs_diff_all(&trainer.mlp().tutorial_weights().unwrap(), &expected).unwrap();
            assert!(
                diff <= tolerance,
                "{} {dtype:?}: {diff:e}",
                device_name(&dev)
            );
        }
    }
}

#[test]
fn every_mode_and_kernel_learns_or_fails_as_printed_on_every_device() {
    for dev in devices() {
        let dtype = float_dtypes(&dev)[0];
        let (xs, ys) = Dataset::Article.tensors(dtype, &dev).unwrap();
        let ws = Init::Numpy(1).weights(&[3, 4, 1], dtype, &dev).unwrap();
        for (mode, kernels) in [
            (Mode::Autograd, Kernels::Stock),
            (Mode::Autograd, Kernels::Fused),
            (Mode::Manual, Kernels::Fused),
            (Mode::AsPrinted, Kernels::Stock),
        ] {
            let mut trainer = Trainer::with_kernels(mode, kernels, &ws, 1.0).unwrap();
            for _ in 0..20_000 {
                trainer.step(&xs, &ys).unwrap();
            }
            let output: Vec<f64> = values(&trainer.mlp().forward(&xs).unwrap())
                .iter()
                .map(|v| v.round())
                .collect();
            let expected = if mode == Mode::AsPrinted {
                [1.0; 5]
            } else {
                [0.0, 1.0, 1.0, 0.0, 0.0]
            };
            assert_eq!(output, expected, "{} {mode} {kernels}", device_name(&dev));
        }
    }
}

#[test]
fn checkpoints_round_trip_on_every_device() {
    let dir = common::scratch("devices");
    for dev in devices() {
        for dtype in float_dtypes(&dev) {
            let ws = Init::Uniform(3).weights(&[3, 6, 1], dtype, &dev).unwrap();
            for name in ["w.npz", "w.safetensors"] {
                let path = dir.join(format!(
                    "{}-{}-{name}",
                    device_name(&dev).replace(':', "-"),
                    dtype.as_str()
                ));
                checkpoint::save(&path, &ws).unwrap();
                let loaded = checkpoint::load(&path, &[3, 6, 1], dtype, &dev).unwrap();
                assert!(loaded[0].device().same_device(&dev));
                assert_eq!(
                    max_abs_diff_all(&loaded, &ws).unwrap(),
                    0.0,
                    "{} {name}",
                    device_name(&dev)
                );
            }
        }
    }
}

fn spirals_run(dev: &Device, dtype: DType, epochs: usize) -> (Vec<f64>, f64) {
    let train = "spirals:200"
        .parse::<Source>()
        .unwrap()
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    let test = "spirals:200"
        .parse::<Source>()
        .unwrap()
        .load(Part::Test, TargetKind::Classes)
        .unwrap();
    let config = MlpConfig {
        sizes: vec![2, 64, 64, 2],
        activation: Activation::Relu,
        bias: true,
        loss: Loss::CrossEntropy,
        kernels: Kernels::Fused,
    };
    let (mlp, varmap) = Mlp::seeded(config, 0, dtype, dev).unwrap();
    let settings = FitConfig {
        optimizer: OptimizerConfig::AdamW { weight_decay: 0.0 },
        lr: 0.01,
        schedule: Schedule::Constant,
        batch_size: 32,
        epochs,
        seed: 0,
        patience: None,
        progress: false,
        ..Default::default()
    };
    let curve = fit::fit(&mlp, &varmap, &train, &test.select(&[]), settings, |_| {
        Ok(())
    })
    .unwrap()
    .iter()
    .map(|e| e.train_loss)
    .collect();
    let accuracy = simple_nn::nn::evaluate(&mlp, &test, dtype, dev)
        .unwrap()
        .accuracy
        .unwrap();
    (curve, accuracy)
}

#[test]
fn mlp_converges_on_every_device() {
    for dev in devices() {
        let (_, accuracy) = spirals_run(&dev, DType::F32, 60);
        assert!(
            accuracy >= 0.95,
            "{}: held-out accuracy {accuracy}",
            device_name(&dev)
        );
    }
}

/// `SIMPLE_NN_REQUIRE_GPU=1` turns a missing GPU into a failure of the device list, never a skip.
/// A small conv net (conv, batch norm, max-pool, dropout, dense) trained on 8×8 images whose label
/// is the quadrant of a bright square: (loss curve, accuracy on fresh images).
fn conv_run(dev: &Device, dtype: DType, epochs: usize) -> (Vec<f64>, f64) {
    use simple_nn::data::{Samples, Targets};
    use simple_nn::nn::{Net, NetConfig};
    let (pixels, labels) = common::quadrant_images(160, 8, 5);
    let features = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
    let targets = Targets::Classes {
        labels: labels.iter().map(|&l| u32::from(l)).collect(),
        classes: 4,
    };
    let samples = Samples::new(features, 64, targets)
        .unwrap()
        .with_image_shape([1, 8, 8])
        .unwrap();
    let (train, test) = samples.split(0.5, 0).unwrap();
    let config = NetConfig {
        input: vec![1, 8, 8],
        layers: "conv:4:3,batchnorm,relu,maxpool:2,dropout:0.1,flatten,dense:16,relu"
            .parse()
            .unwrap(),
        outputs: 4,
        bias: true,
        loss: Loss::CrossEntropy,
        kernels: Kernels::Fused,
    };
    let (net, varmap) = Net::seeded(config, 0, dtype, dev).unwrap();
    let settings = FitConfig {
        lr: 0.01,
        batch_size: 16,
        epochs,
        ..FitConfig::default()
    };
    let curve = fit::fit(&net, &varmap, &train, &test.select(&[]), settings, |_| {
        Ok(())
    })
    .unwrap()
    .iter()
    .map(|e| e.train_loss)
    .collect();
    let accuracy = simple_nn::nn::evaluate(&net, &test, dtype, dev)
        .unwrap()
        .accuracy
        .unwrap();
    (curve, accuracy)
}

#[test]
fn conv_net_learns_on_every_device() {
    for dev in devices() {
        for dtype in float_dtypes(&dev) {
            let (curve, accuracy) = conv_run(&dev, dtype, 15);
            let name = device_name(&dev);
            assert!(curve[14] < curve[0] * 0.5, "{name} {dtype:?}: {curve:?}");
            assert!(
                accuracy >= 0.9,
                "{name} {dtype:?}: accuracy {accuracy} on fresh images"
            );
        }
    }
}

/// From the same seed, the conv net's loss curve agrees between the CPU and the GPU (f32, 1e-3).
#[test]
fn conv_net_loss_curve_agrees_between_cpu_and_gpu() {
    let Some(gpu) = gpu() else {
        eprintln!("skipped CPU↔GPU parity: no GPU in this build or on this machine");
        return;
    };
    let (cpu_curve, _) = conv_run(&Device::Cpu, DType::F32, 5);
    let (gpu_curve, _) = conv_run(&gpu, DType::F32, 5);
    for (c, g) in cpu_curve.iter().zip(&gpu_curve) {
        assert!((c - g).abs() <= 1e-3, "{cpu_curve:?} vs {gpu_curve:?}");
    }
}

#[test]
fn a_required_gpu_is_there_or_the_device_list_fails() {
    let required = std::panic::catch_unwind(|| common::devices_requiring(true));
    match gpu() {
        Some(_) => assert!(required.is_ok_and(|devices| devices.iter().any(|d| !d.is_cpu()))),
        None => assert!(required.is_err(), "no GPU here, yet requiring one passed"),
    }
}

/// From the same weights, 60000 tutorial steps agree between the CPU and the GPU.
/// Tolerances: f64 1e-10 (the GPU's exp and reductions round differently from
/// the CPU's, ~1e-16 per step); f32 1e-3 on the outputs.
#[test]
fn tutorial_network_agrees_between_cpu_and_gpu() {
    let Some(gpu) = gpu() else {
        eprintln!("skipped CPU↔GPU parity: no GPU in this build or on this machine");
        return;
    };
    for dtype in float_dtypes(&gpu) {
        let run = |dev: &Device| {
            let (xs, ys) = Dataset::Article.tensors(dtype, dev).unwrap();
            let ws = Init::Numpy(1).weights(&[3, 4, 1], dtype, dev).unwrap();
            let mut trainer = Trainer::stock(Mode::Autograd, &ws, 1.0).unwrap();
            for _ in 0..60_000 {
                trainer.step(&xs, &ys).unwrap();
            }
            (
                trainer.mlp().tutorial_weights().unwrap(),
                trainer.mlp().forward(&xs).unwrap(),
            )
        };
        let ((cpu_ws, cpu_out), (gpu_ws, gpu_out)) = (run(&Device::Cpu), run(&gpu));
        let weights = max_abs_diff_all(&cpu_ws, &gpu_ws).unwrap();
        let outputs = max_abs_diff(&cpu_out, &gpu_out).unwrap();
        eprintln!("{dtype:?}: max |cpu - gpu| weights {weights:e}, outputs {outputs:e}");
        match dtype {
            DType::F64 => assert!(weights <= 1e-10, "{weights:e}"),
            _ => assert!(outputs <= 1e-3, "{outputs:e}"),
        }
    }
}

/// The MLP's loss curve agrees between the CPU and the GPU within 1e-3 per epoch (f32).
#[test]
fn mlp_loss_curve_agrees_between_cpu_and_gpu() {
    let Some(gpu) = gpu() else {
        eprintln!("skipped CPU↔GPU parity: no GPU in this build or on this machine");
        return;
    };
    let (cpu_curve, _) = spirals_run(&Device::Cpu, DType::F32, 10);
    let (gpu_curve, _) = spirals_run(&gpu, DType::F32, 10);
    for (epoch, (c, g)) in cpu_curve.iter().zip(&gpu_curve).enumerate() {
        assert!(
            (c - g).abs() <= 1e-3,
            "epoch {}: cpu {c} gpu {g}",
            epoch + 1
        );
    }
}

#[test]
fn checkpoints_saved_on_one_device_load_on_another() {
    let Some(gpu) = gpu() else {
        eprintln!("skipped CPU↔GPU parity: no GPU in this build or on this machine");
        return;
    };
    let dir = common::scratch("cross");
    let path = dir.join("w.safetensors");
    let on_gpu = Init::Uniform(5)
        .weights(&[3, 4, 1], DType::F32, &gpu)
        .unwrap();
    checkpoint::save(&path, &on_gpu).unwrap();
    let on_cpu = checkpoint::load(&path, &[3, 4, 1], DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff_all(&on_cpu, &on_gpu).unwrap(), 0.0);
    let back = checkpoint::load(&path, &[3, 4, 1], DType::F32, &gpu).unwrap();
    assert!(back[0].device().same_device(&gpu));
}
