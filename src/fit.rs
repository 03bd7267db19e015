//! Training bigger models: epochs of shuffled minibatches, a validation pass after each.
//!
//! The tutorial trains on its whole data set at every step; real data sets
//! are cut into minibatches, reshuffled every epoch (seeded, so a run can be
//! repeated), and scored on held-out rows the model never trains on.
//! Training stops with an error, before the update, as soon as a batch's
//! loss is not a finite number: the weights are left as they were.

use std::fmt;
use std::io::IsTerminal;
use std::str::FromStr;
use std::time::Instant;

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap, SGD};

use crate::fused::{FusedSgd, Kernels};
use crate::loss::Loss;
use crate::model::Mlp;
use crate::optim::{MomentumConfig, Schedule, SgdMomentum};
use crate::samples::{epoch_batches, Samples};

/// Which optimizer updates the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptimizerKind {
    /// Plain SGD (candle-nn's).
    Sgd,
    /// SGD with momentum ([`SgdMomentum`]).
    Momentum,
    /// AdamW (candle-nn's).
    AdamW,
}

impl FromStr for OptimizerKind {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "sgd" => Ok(OptimizerKind::Sgd),
            "momentum" => Ok(OptimizerKind::Momentum),
            "adamw" => Ok(OptimizerKind::AdamW),
            _ => Err(format!(
                "unknown optimizer '{s}': use sgd, momentum or adamw"
            )),
        }
    }
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Momentum => "momentum",
            OptimizerKind::AdamW => "adamw",
        })
    }
}

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct FitConfig {
    /// The loss to descend.
    pub loss: Loss,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// The base learning rate.
    pub lr: f64,
    /// Momentum, for [`OptimizerKind::Momentum`].
    pub momentum: f64,
    /// Nesterov momentum, for [`OptimizerKind::Momentum`].
    pub nesterov: bool,
    /// Weight decay (AdamW's decoupled decay, or momentum SGD's L2 term).
    pub weight_decay: f64,
    /// How the learning rate changes over epochs.
    pub schedule: Schedule,
    /// Rows per minibatch.
    pub batch_size: usize,
    /// Passes over the training set, in all (counting `start_epoch`).
    pub epochs: usize,
    /// Epochs already done (a resumed run goes on from here; 0 for a new one).
    pub start_epoch: usize,
    /// Seed of the minibatch order.
    pub seed: u64,
    /// Show a progress bar on a terminal.
    pub progress: bool,
    /// Stock candle ops, or the fused ones where they cover the model (same numbers, faster).
    pub kernels: Kernels,
}

/// What one epoch of training measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    /// 1 for the first epoch.
    pub epoch: usize,
    /// The learning rate used in this epoch.
    pub lr: f64,
    /// The mean training loss per sample over the epoch's batches.
    pub train_loss: f64,
    /// The validation loss per sample after the epoch (none without validation rows).
    pub valid_loss: Option<f64>,
    /// The validation accuracy after the epoch (classification only).
    pub valid_accuracy: Option<f64>,
    /// Wall time of the epoch's training steps.
    pub seconds: f64,
}

/// A model's score on a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The loss per sample.
    pub loss: f64,
    /// The fraction classified correctly (classification only).
    pub accuracy: Option<f64>,
    /// How many samples were scored.
    pub samples: usize,
}

/// The optimizers behind one interface.
enum AnyOptimizer {
    Sgd(SGD),
    FusedSgd(FusedSgd),
    Momentum(SgdMomentum),
    AdamW(AdamW),
}

impl AnyOptimizer {
    fn new(varmap: &VarMap, config: &FitConfig) -> Result<Self> {
        let vars = varmap.all_vars();
        Ok(match config.optimizer {
            OptimizerKind::Sgd if config.kernels == Kernels::Fused => {
                AnyOptimizer::FusedSgd(FusedSgd::new(vars, config.lr)?)
            }
            OptimizerKind::Sgd => AnyOptimizer::Sgd(SGD::new(vars, config.lr)?),
            OptimizerKind::Momentum => AnyOptimizer::Momentum(SgdMomentum::new(
                vars,
                MomentumConfig {
                    lr: config.lr,
                    momentum: config.momentum,
                    nesterov: config.nesterov,
                    weight_decay: config.weight_decay,
                },
            )?),
            OptimizerKind::AdamW => AnyOptimizer::AdamW(AdamW::new(
                vars,
                ParamsAdamW {
                    lr: config.lr,
                    weight_decay: config.weight_decay,
                    ..Default::default()
                },
            )?),
        })
    }

    fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(o) => o.backward_step(loss),
            AnyOptimizer::FusedSgd(o) => o.backward_step(loss),
            AnyOptimizer::Momentum(o) => o.backward_step(loss),
            AnyOptimizer::AdamW(o) => o.backward_step(loss),
        }
    }

    fn set_learning_rate(&mut self, lr: f64) {
        match self {
            AnyOptimizer::Sgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::FusedSgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::Momentum(o) => o.set_learning_rate(lr),
            AnyOptimizer::AdamW(o) => o.set_learning_rate(lr),
        }
    }
}

/// Checks the settings before any work is done.
pub fn check_config(config: &FitConfig) -> Result<()> {
    if !(config.lr.is_finite() && config.lr > 0.0) {
        fail!("learning rate {} is not a positive finite number: use e.g. 0.001 for adamw, 0.1 for sgd", config.lr)
    }
    if config.batch_size == 0 {
        fail!("batch size 0 holds no rows: use e.g. 32")
    }
    if !(config.momentum.is_finite() && (0.0..1.0).contains(&config.momentum)) {
        fail!(
            "momentum {} is outside [0, 1): use e.g. 0.9",
            config.momentum
        )
    }
    if !(config.weight_decay.is_finite() && config.weight_decay >= 0.0) {
        fail!(
            "weight decay {} is not a non-negative number: use e.g. 0.01",
            config.weight_decay
        )
    }
    Ok(())
}

/// Trains `mlp` (whose variables are `varmap`'s) on `train`, scoring `valid` after every epoch.
///
/// `on_epoch` sees each epoch's numbers as soon as they exist (to print or
/// log them); an error from it stops training.
///
/// ```
/// use candle_core::{DType, Device};
/// use simple_nn::fit::{self, FitConfig, OptimizerKind};
/// use simple_nn::loss::Loss;
/// use simple_nn::model::{Activation, Mlp, MlpConfig};
/// use simple_nn::optim::Schedule;
/// use simple_nn::samples::{Part, Source, TargetKind};
///
/// # fn main() -> candle_core::Result<()> {
/// let data = "spirals:300".parse::<Source>().unwrap().load(Part::Train, TargetKind::Classes)?;
/// let (train, valid) = data.split(0.1, 0)?;
/// let config = MlpConfig { sizes: vec![2, 64, 64, 2], activation: Activation::Relu, bias: true, head: Loss::CrossEntropy.head() };
/// let (mlp, varmap) = Mlp::seeded(config, 0, DType::F32, &Device::Cpu)?;
/// let settings = FitConfig {
///     loss: Loss::CrossEntropy, optimizer: OptimizerKind::AdamW, lr: 0.01, momentum: 0.9, nesterov: false,
///     weight_decay: 0.0, schedule: Schedule::Constant, batch_size: 32, epochs: 40, start_epoch: 0, seed: 0, progress: false,
///     kernels: simple_nn::Kernels::Fused,
/// };
/// let epochs = fit::fit(&mlp, &varmap, &train, &valid, &settings, |epoch| {
///     println!("epoch {}: validation accuracy {:?}", epoch.epoch, epoch.valid_accuracy);
///     Ok(())
/// })?;
/// assert!(epochs[39].valid_accuracy.unwrap() > 0.9);
/// # Ok(())
/// # }
/// ```
pub fn fit(
    mlp: &Mlp,
    varmap: &VarMap,
    train: &Samples,
    valid: &Samples,
    config: &FitConfig,
    mut on_epoch: impl FnMut(&Epoch) -> Result<()>,
) -> Result<Vec<Epoch>> {
    check_config(config)?;
    if train.is_empty() {
        fail!("no training rows: the data set is empty or --valid-fraction took them all")
    }
    let (dtype, dev) = parameters_dtype_device(varmap)?;
    let mut optimizer = AnyOptimizer::new(varmap, config)?;
    let mut epochs = Vec::with_capacity(config.epochs.saturating_sub(config.start_epoch));
    for epoch in config.start_epoch..config.epochs {
        let lr = config.schedule.lr(config.lr, epoch);
        optimizer.set_learning_rate(lr);
        let batches = epoch_batches(
            train.len(),
            config.batch_size,
            config.seed.wrapping_add(epoch as u64),
        )?;
        let bar = progress_bar(config.progress, batches.len(), epoch + 1, config.epochs);
        let start = Instant::now();
        let mut loss_sum = 0.0;
        for (step, indices) in batches.iter().enumerate() {
            let (xs, ys) = train.batch(indices, dtype, &dev)?;
            let output = mlp.forward_with(&xs, config.kernels)?;
            let loss = config.loss.compute_with(&output, &ys, config.kernels)?;
            let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            if !value.is_finite() {
                fail!(
                    "training diverged at epoch {}, batch {}: the loss is {value}; lower the learning rate (now {lr})",
                    epoch + 1,
                    step + 1
                )
            }
            optimizer.backward_step(&loss)?;
            loss_sum += per_sample(config.loss, value, indices.len()) * indices.len() as f64;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        dev.synchronize()?;
        let seconds = start.elapsed().as_secs_f64();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let scored = (!valid.is_empty())
            .then(|| evaluate(mlp, config.loss, valid, dtype, &dev))
            .transpose()?;
        let report = Epoch {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / train.len() as f64,
            valid_loss: scored.map(|e| e.loss),
            valid_accuracy: scored.and_then(|e| e.accuracy),
            seconds,
        };
        on_epoch(&report)?;
        epochs.push(report);
    }
    Ok(epochs)
}

/// Scores `mlp` on `samples` in batches of 1024 rows, with `loss` and (for classification) accuracy.
pub fn evaluate(
    mlp: &Mlp,
    loss: Loss,
    samples: &Samples,
    dtype: DType,
    dev: &Device,
) -> Result<Evaluation> {
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    let indices: Vec<usize> = (0..samples.len()).collect();
    for chunk in indices.chunks(1024) {
        let (xs, ys) = samples.batch(chunk, dtype, dev)?;
        let output = mlp.forward(&xs)?;
        let value = loss
            .compute(&output, &ys)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        loss_sum += per_sample(loss, value, chunk.len()) * chunk.len() as f64;
        correct += loss.accuracy(&output, &ys)?.unwrap_or(0.0) * chunk.len() as f64;
    }
    let n = samples.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        accuracy: loss.is_classification().then_some(correct / n),
        samples: samples.len(),
    })
}

/// A batch's loss per sample: the summed half-SSE is divided by the rows, the means are already per sample.
fn per_sample(loss: Loss, value: f64, rows: usize) -> f64 {
    match loss {
        Loss::HalfSse => value / rows.max(1) as f64,
        Loss::CrossEntropy | Loss::Mse | Loss::Bce => value,
    }
}

/// The dtype and device of the model's parameters.
fn parameters_dtype_device(varmap: &VarMap) -> Result<(DType, Device)> {
    match varmap.all_vars().first() {
        Some(var) => Ok((var.dtype(), var.device().clone())),
        None => fail!("the model has no parameters to train"),
    }
}

fn progress_bar(
    wanted: bool,
    batches: usize,
    epoch: usize,
    epochs: usize,
) -> Option<indicatif::ProgressBar> {
    if !wanted || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(batches as u64);
    let style =
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} batches, {eta} left")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(format!("epoch {epoch}/{epochs}"));
    Some(bar)
}
