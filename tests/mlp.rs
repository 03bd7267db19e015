//! Bigger models: losses, seeded networks, convergence, and checkpoints that rebuild the model.
//!
//! Expected values come from the definitions (hand-computed losses, the
//! labels) and from the model itself before a save.

mod common;

use candle_core::{DType, Device, Module, ModuleT, Tensor};
use common::{max_abs_diff, values};
use simple_nn::data::{Normalization, Part, Source, TargetKind};
use simple_nn::io::{self as checkpoint, ModelSpec};
use simple_nn::nn::fit::{self, FitConfig};
use simple_nn::nn::loss::{bce_with_logits, Loss};
use simple_nn::nn::{Activation, Mlp, MlpConfig, OptimizerConfig, OptimizerKind, Schedule};
use simple_nn::Kernels;

/// `optimizer` (momentum 0.9 where it has one) at `lr` for `epochs` epochs of batches of 16.
fn config(optimizer: OptimizerKind, lr: f64, epochs: usize, seed: u64) -> FitConfig {
    FitConfig {
        optimizer: OptimizerConfig::new(optimizer, 0.9, false, 0.0),
        lr,
        schedule: Schedule::Constant,
        batch_size: 16,
        epochs,
        seed,
        patience: None,
        progress: false,
        ..Default::default()
    }
}

/// A network of `sizes` with biases, trained on `loss`, on the stock kernels.
fn shape(sizes: &[usize], activation: Activation, loss: Loss) -> MlpConfig {
    MlpConfig {
        sizes: sizes.to_vec(),
        activation,
        bias: true,
        loss,
        kernels: Kernels::Stock,
    }
}

#[test]
fn bce_with_logits_matches_its_definition_and_stays_finite() {
    let z = Tensor::new(&[[-3.0f64], [-0.5], [0.0], [2.0]], &Device::Cpu).unwrap();
    let y = Tensor::new(&[0u32, 1, 1, 0], &Device::Cpu).unwrap();
    // −mean(y·log σ(z) + (1 − y)·log(1 − σ(z))), by hand.
    let sigma = |z: f64| 1.0 / (1.0 + (-z).exp());
    let expected = -[(-3.0, 0.0), (-0.5, 1.0), (0.0, 1.0), (2.0, 0.0)]
        .iter()
        .map(|&(z, y): &(f64, f64)| y * sigma(z).ln() + (1.0 - y) * (1.0 - sigma(z)).ln())
        .sum::<f64>()
        / 4.0;
    let got = bce_with_logits(&z, &y).unwrap().to_scalar::<f64>().unwrap();
    assert!((got - expected).abs() < 1e-12, "{got} vs {expected}");
    // Logits far past where σ rounds to 0 or 1: the loss is |z| for a wrong sign, ~0 for a right one.
    let z = Tensor::new(&[[1000.0f64], [-1000.0]], &Device::Cpu).unwrap();
    let y = Tensor::new(&[0u32, 0], &Device::Cpu).unwrap();
    let got = bce_with_logits(&z, &y).unwrap().to_scalar::<f64>().unwrap();
    assert!((got - 500.0).abs() < 1e-9, "{got}");
}

#[test]
fn cross_entropy_and_accuracy_match_hand_computation() {
    let logits = Tensor::new(&[[2.0f64, 0.0, -1.0], [0.0, 3.0, 0.0]], &Device::Cpu).unwrap();
    let labels = Tensor::new(&[0u32, 2], &Device::Cpu).unwrap();
    let nll = |row: [f64; 3], k: usize| row.iter().map(|v| v.exp()).sum::<f64>().ln() - row[k];
    let expected = (nll([2.0, 0.0, -1.0], 0) + nll([0.0, 3.0, 0.0], 2)) / 2.0;
    let got = Loss::CrossEntropy
        .compute(&logits, &labels)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    assert!((got - expected).abs() < 1e-12);
    assert_eq!(
        Loss::CrossEntropy.accuracy(&logits, &labels).unwrap(),
        Some(0.5)
    );
    let probabilities = Loss::CrossEntropy.predictions(&logits).unwrap();
    for row in probabilities.to_vec2::<f64>().unwrap() {
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}

#[test]
fn seeded_networks_repeat_and_differ_by_seed() {
    let config = shape(&[4, 8, 3], Activation::Tanh, Loss::CrossEntropy);
    let x = Tensor::ones((2, 4), DType::F64, &Device::Cpu).unwrap();
    let run = |seed, dtype| {
        let (mlp, varmap) = Mlp::seeded(config.clone(), seed, dtype, &Device::Cpu).unwrap();
        assert_eq!(varmap.all_vars().len(), 4, "two weights and two biases");
        mlp.forward(&x.to_dtype(dtype).unwrap()).unwrap()
    };
    assert_eq!(values(&run(1, DType::F64)), values(&run(1, DType::F64)));
    assert_ne!(values(&run(1, DType::F64)), values(&run(2, DType::F64)));
    assert!(max_abs_diff(&run(1, DType::F32), &run(1, DType::F64)).unwrap() < 1e-5);
}

#[test]
fn mlp_learns_parity_4_for_several_seeds() {
    // Parity has no unseen rows to hold out (all 16 patterns are the data
    // set), so the bar is every pattern right after training on all of them.
    let samples = "parity:4"
        .parse::<Source>()
        .unwrap()
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    assert_eq!(samples.len(), 16);
    for seed in [0, 1, 2] {
        let config = shape(&[4, 32, 32, 2], Activation::Relu, Loss::CrossEntropy);
        let (mlp, varmap) = Mlp::seeded(config, seed, DType::F32, &Device::Cpu).unwrap();
        let fit_config = FitConfig {
            batch_size: 4,
            ..config_for(0.01, 300, seed)
        };
        let epochs = fit::fit(
            &mlp,
            &varmap,
            &samples,
            &samples.select(&[]),
            fit_config,
            |_| Ok(()),
        )
        .unwrap();
        assert!(epochs.last().unwrap().train_loss < epochs[0].train_loss);
        let scored = simple_nn::nn::evaluate(&mlp, &samples, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(
            scored.accuracy,
            Some(1.0),
            "seed {seed}: loss {}",
            scored.loss
        );
    }
}

fn config_for(lr: f64, epochs: usize, seed: u64) -> FitConfig {
    config(OptimizerKind::AdamW, lr, epochs, seed)
}

#[test]
fn mlp_separates_held_out_spirals_for_several_seeds() {
    let source: Source = "spirals:300".parse().unwrap();
    let train = source.load(Part::Train, TargetKind::Classes).unwrap();
    let test = source.load(Part::Test, TargetKind::Classes).unwrap();
    for seed in [0, 1, 2] {
        let config = shape(&[2, 64, 64, 2], Activation::Relu, Loss::CrossEntropy);
        let (mlp, varmap) = Mlp::seeded(config, seed, DType::F32, &Device::Cpu).unwrap();
        let (fit_set, valid) = train.split(0.1, seed).unwrap();
        let epochs = fit::fit(
            &mlp,
            &varmap,
            &fit_set,
            &valid,
            config_for(0.01, 60, seed),
            |_| Ok(()),
        )
        .unwrap();
        assert!(epochs.iter().all(|e| e.valid_accuracy.is_some()));
        let scored = simple_nn::nn::evaluate(&mlp, &test, DType::F32, &Device::Cpu).unwrap();
        // Bar: 95% of 600 unseen points (a linear model gets about half).
        assert!(
            scored.accuracy.unwrap() >= 0.95,
            "seed {seed}: held-out accuracy {:?}",
            scored.accuracy
        );
    }
}

#[test]
fn every_optimizer_and_loss_reduces_the_loss() {
    let samples = "spirals:100"
        .parse::<Source>()
        .unwrap()
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    for (loss, optimizer, lr) in [
        (Loss::CrossEntropy, OptimizerKind::Sgd, 0.1),
        (Loss::CrossEntropy, OptimizerKind::Momentum, 0.05),
        (Loss::Bce, OptimizerKind::AdamW, 0.01),
        (Loss::Mse, OptimizerKind::AdamW, 0.01),
        (Loss::HalfSse, OptimizerKind::Momentum, 0.01),
    ] {
        let data = if loss.is_classification() {
            samples.clone()
        } else {
            samples.clone().into_values()
        };
        let outputs = if loss == Loss::CrossEntropy { 2 } else { 1 };
        let network = shape(&[2, 16, outputs], Activation::Tanh, loss);
        let (mlp, varmap) = Mlp::seeded(network, 3, DType::F64, &Device::Cpu).unwrap();
        let epochs = fit::fit(
            &mlp,
            &varmap,
            &data,
            &data.select(&[]),
            config(optimizer, lr, 20, 3),
            |_| Ok(()),
        )
        .unwrap();
        let (first, last) = (epochs[0].train_loss, epochs.last().unwrap().train_loss);
        assert!(last < first * 0.95, "{loss} {optimizer}: {first} -> {last}");
    }
}

#[test]
fn a_diverging_run_stops_with_an_error_and_finite_weights() {
    let samples = "spirals:50"
        .parse::<Source>()
        .unwrap()
        .load(Part::Train, TargetKind::Classes)
        .unwrap()
        .into_values();
    let config = shape(&[2, 8, 1], Activation::Relu, Loss::Mse);
    let (mlp, varmap) = Mlp::seeded(config, 0, DType::F32, &Device::Cpu).unwrap();
    let err = fit::fit(
        &mlp,
        &varmap,
        &samples,
        &samples.select(&[]),
        config_plain(1e12),
        |_| Ok(()),
    )
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("diverged") && message.contains("lower the learning rate"),
        "{message}"
    );
    for var in varmap.all_vars() {
        assert!(values(var.as_tensor()).iter().all(|v| v.is_finite()));
    }
}

fn config_plain(lr: f64) -> FitConfig {
    config(OptimizerKind::Sgd, lr, 50, 0)
}

#[test]
fn a_saved_model_rebuilds_from_its_file_alone_with_identical_predictions() {
    let dir = common::scratch("model");
    let mut samples = "spirals:40"
        .parse::<Source>()
        .unwrap()
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    let normalization = Normalization::measure(&samples).unwrap();
    normalization.apply(&mut samples).unwrap();
    for (dtype, bias, activation) in [
        (DType::F32, true, Activation::Relu),
        (DType::F64, false, Activation::Sigmoid),
    ] {
        // Written as MLP files were before layer specs existed: sizes and activation, no `layers`.
        let spec = ModelSpec {
            sizes: vec![2, 7, 5, 2],
            activation,
            layers: None,
            input_shape: None,
            bias,
            loss: Loss::CrossEntropy,
            classes: Some(2),
            table: None,
            normalization: Some(normalization.clone()),
            training: None,
            gpt: None,
        };
        let config = MlpConfig {
            sizes: spec.sizes.clone(),
            activation,
            bias,
            loss: spec.loss,
            kernels: Kernels::default(),
        };
        let (mlp, varmap) = Mlp::seeded(config, 11, dtype, &Device::Cpu).unwrap();
        fit::fit(
            &mlp,
            &varmap,
            &samples,
            &samples.select(&[]),
            config_for(0.01, 2, 0),
            |_| Ok(()),
        )
        .unwrap();
        let path = dir.join(format!("model-{}.safetensors", dtype.as_str()));
        checkpoint::save_model(&path, &spec, &varmap).unwrap();
        let (loaded_spec, loaded) = checkpoint::load_model(&path, dtype, &Device::Cpu).unwrap();
        assert_eq!(loaded_spec, spec);
        let (xs, _) = samples.tensors(dtype, &Device::Cpu).unwrap();
        assert_eq!(
            values(&loaded.forward_t(&xs, false).unwrap()),
            values(&mlp.forward(&xs).unwrap())
        );
    }
    // The tutorial's weights file has no model description: a clear error.
    let tutorial = dir.join("tutorial.safetensors");
    let ws = simple_nn::tutorial::Init::Uniform(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    simple_nn::io::weights::save(&tutorial, &ws).unwrap();
    let err = checkpoint::load_model(&tutorial, DType::F32, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no model description"), "{err}");
}

#[test]
fn fused_kernels_train_the_same_weights_as_stock_ops() {
    let data = "spirals:64"
        .parse::<Source>()
        .unwrap()
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    let trained = |kernels| {
        let network = MlpConfig {
            kernels,
            ..shape(&[2, 16, 8, 2], Activation::Relu, Loss::CrossEntropy)
        };
        let (mlp, varmap) = Mlp::seeded(network, 5, DType::F64, &Device::Cpu).unwrap();
        let settings = config(OptimizerKind::Sgd, 0.1, 5, 5);
        fit::fit(
            &mlp,
            &varmap,
            &data,
            &data.select(&[]),
            settings,
            |_| Ok(()),
        )
        .unwrap();
        let (xs, _) = data.tensors(DType::F64, &Device::Cpu).unwrap();
        mlp.forward(&xs).unwrap()
    };
    let diff = max_abs_diff(
        &trained(simple_nn::Kernels::Fused),
        &trained(simple_nn::Kernels::Stock),
    )
    .unwrap();
    assert!(diff <= 1e-10, "outputs after 5 epochs differ by {diff:e}");
}

/// A model file's training record is typed now; files written when it held the optimizer and the
/// schedule as text (the JSON below is one such record, as `mlp train` wrote it) still load, to the
/// same settings.
#[test]
fn training_settings_round_trip_typed_and_old_text_records_still_load() {
    use simple_nn::io::Training;
    use simple_nn::nn::OptimizerConfig;
    let typed = Training {
        epochs: 3,
        fit: FitConfig {
            optimizer: OptimizerConfig::Momentum {
                momentum: 0.8,
                nesterov: true,
                weight_decay: 0.01,
            },
            lr: 0.05,
            schedule: Schedule::Step {
                every: 2,
                gamma: 0.5,
            },
            batch_size: 8,
            epochs: 3,
            seed: 4,
            patience: None,
            progress: false,
            ..Default::default()
        },
        valid_fraction: 0.2,
        steps: 0,
        masks: 0,
        batch: 0,
        best: None,
        sharded: false,
        streams: simple_nn::rng::STREAMS,
    };
    let going = Training {
        steps: 12,
        masks: 5,
        sharded: true,
        ..typed.clone()
    };
    let json = serde_json::to_string(&going).unwrap();
    assert_eq!(serde_json::from_str::<Training>(&json).unwrap(), going);
    let old = r#"{"epochs":3,"optimizer":"momentum","lr":0.05,"momentum":0.8,"nesterov":true,
        "weight_decay":0.01,"schedule":"step:2:0.5","batch_size":8,"seed":4,"valid_fraction":0.2}"#;
    // An old record loads to the same settings, marked as drawn from the old streams (0), which
    // `--resume` refuses.
    let old_streams = Training {
        streams: 0,
        ..typed.clone()
    };
    assert_eq!(serde_json::from_str::<Training>(old).unwrap(), old_streams);
    let broken = old.replace("\"momentum\",", "\"rmsprop\",");
    let err = serde_json::from_str::<Training>(&broken)
        .unwrap_err()
        .to_string();
    // The accepted names, not only the rejected one echoed.
    assert!(err.contains("use sgd, momentum or adamw"), "{err}");
}

/// The defaults a caller gets by writing one line: AdamW at 0.001, constant, batches of 32, 20 epochs;
/// a ReLU classifier on the fused kernels.
#[test]
fn configs_have_documented_defaults() {
    let fit = FitConfig::default();
    assert_eq!(
        (
            fit.optimizer,
            fit.lr,
            fit.schedule,
            fit.batch_size,
            fit.epochs
        ),
        (
            OptimizerConfig::AdamW { weight_decay: 0.0 },
            0.001,
            Schedule::Constant,
            32,
            20
        )
    );
    let net = MlpConfig::default();
    assert_eq!(
        (net.activation, net.bias, net.loss, net.kernels),
        (Activation::Relu, true, Loss::CrossEntropy, Kernels::Fused)
    );
    assert!(fit.validate().is_ok());
    assert!(FitConfig {
        batch_size: 0,
        ..fit.clone()
    }
    .validate()
    .is_err());
    assert!(FitConfig { lr: -1.0, ..fit }.validate().is_err());
}

/// A run by steps on samples takes the batches of a run by epochs: step s is batch s mod b of
/// epoch ⌊s/b⌋ (b batches an epoch). 3 epochs of 90 rows in batches of 16 (6 batches, the last
/// of 10 rows) and 18 steps end with the same bits, at a constant rate.
#[test]
fn steps_on_samples_take_the_batches_of_epochs() {
    use simple_nn::nn::{Learner, StepData};
    let data = Source::Spirals(50)
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    let (train, valid) = data.split(0.1, 3).unwrap();
    assert_eq!(train.len(), 90);
    let config = MlpConfig {
        sizes: vec![2, 16, 2],
        ..Default::default()
    };
    let settings = FitConfig {
        lr: 0.01,
        batch_size: 16,
        epochs: 3,
        seed: 5,
        ..Default::default()
    };
    let trained = |by_steps: bool| {
        let (mlp, varmap) = Mlp::seeded(config.clone(), 1, DType::F64, &Device::Cpu).unwrap();
        let mut learner = Learner::new(&mlp, &varmap, settings.clone()).unwrap();
        match by_steps {
            true => {
                learner
                    .steps_until(StepData::Samples(&train), 7, || false)
                    .unwrap();
                learner
                    .steps_until(StepData::Samples(&train), 18, || false)
                    .unwrap();
                assert_eq!((learner.epochs_done(), learner.batches_done()), (3, 0));
            }
            false => {
                learner.fit(&train, &valid, |_| Ok(())).unwrap();
            }
        }
        assert_eq!(learner.steps_done(), 18);
        values(
            &mlp.forward(&train.tensors(DType::F64, &Device::Cpu).unwrap().0)
                .unwrap(),
        )
    };
    assert_eq!(trained(true), trained(false));
}
