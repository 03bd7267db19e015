//! Training bigger models: epochs of shuffled minibatches, a validation pass after each.
//!
//! The tutorial trains on its whole data set at every step; real data sets
//! are cut into minibatches, reshuffled every epoch (seeded, so a run can be
//! repeated), and scored on held-out rows the model never trains on.
//! Training stops with an error, before the update, as soon as a batch's
//! loss is not a finite number: the weights are left as they were.

use std::io::IsTerminal;
use std::time::Instant;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::VarMap;

use super::loss::Loss;
use super::model::Model;
use super::optim::{AnyOptimizer, OptimizerConfig, Schedule};
use crate::data::Samples;

/// How to train: the optimizer and its learning rate, the schedule, the batches and the epochs.
///
/// `FitConfig { epochs: 40, ..Default::default() }` is AdamW at 0.001, constant, batches of 32.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// The optimizer and its own settings.
    pub optimizer: OptimizerConfig,
    /// The base learning rate.
    pub lr: f64,
    /// How the learning rate changes over epochs.
    pub schedule: Schedule,
    /// Rows per minibatch.
    pub batch_size: usize,
    /// Passes over the training set, in all (a resumed run counts those already done).
    pub epochs: usize,
    /// Seed of the minibatch order.
    pub seed: u64,
    /// Stop when the validation loss has not improved for this many epochs.
    #[serde(default)]
    pub patience: Option<usize>,
    /// Show a progress bar when standard error is a terminal.
    #[serde(skip)]
    pub progress: bool,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self {
            optimizer: OptimizerConfig::default(),
            lr: 0.001,
            schedule: Schedule::Constant,
            batch_size: 32,
            epochs: 20,
            seed: 0,
            patience: None,
            progress: false,
        }
    }
}

impl FitConfig {
    /// Checks the settings before any work is done.
    pub fn validate(&self) -> Result<()> {
        self.optimizer.validate(self.lr)?;
        self.schedule.validate()?;
        if self.batch_size == 0 {
            fail!("batch size 0 holds no rows: use e.g. 32")
        }
        Ok(())
    }
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// The loss per sample.
    pub loss: f64,
    /// The fraction classified correctly (classification only).
    pub accuracy: Option<f64>,
    /// How many samples were scored.
    pub samples: usize,
}

/// A model in training: its optimizer, settings, and the epochs done so far.
pub struct Learner<'a> {
    model: &'a dyn Model,
    optimizer: AnyOptimizer,
    config: FitConfig,
    epochs_done: usize,
    /// Batches done of the epoch under way (a run stopped mid-epoch goes on from there).
    batches_done: usize,
    dtype: DType,
    dev: Device,
}

impl<'a> Learner<'a> {
    /// Starts training `model`, whose variables are `varmap`'s, with `config`; the settings are checked first.
    pub fn new(model: &'a dyn Model, varmap: &VarMap, config: FitConfig) -> Result<Self> {
        config.validate()?;
        let (dtype, dev) = parameters_dtype_device(varmap)?;
        let optimizer = AnyOptimizer::new(
            super::optim::named_vars(varmap)?,
            &config.optimizer,
            config.lr,
            model.kernels(),
        )?;
        Ok(Self {
            model,
            optimizer,
            config,
            epochs_done: 0,
            batches_done: 0,
            dtype,
            dev,
        })
    }

    /// Goes on from `epochs_done` epochs, as a resumed run does (the learning rate follows the schedule from there).
    pub fn resume_after(mut self, epochs_done: usize) -> Self {
        self.epochs_done = epochs_done;
        self
    }

    /// Goes on from batch `batches_done` of the epoch under way, as a run stopped mid-epoch does.
    pub fn at_batch(mut self, batches_done: usize) -> Self {
        self.batches_done = batches_done;
        self
    }

    /// Batches done of the epoch under way (0 between epochs).
    pub fn batches_done(&self) -> usize {
        self.batches_done
    }

    /// The epochs done so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// The settings.
    pub fn config(&self) -> &FitConfig {
        &self.config
    }

    /// The model's loss on `(xs, ys)` and the gradient step it gives, without reading the loss back.
    pub fn step(&mut self, xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
        let loss = self.model.loss(&self.model.forward_t(xs, true)?, ys)?;
        self.optimizer.backward_step(&loss)?;
        Ok(loss)
    }

    /// The optimizer: its state to save, or to restore on resume.
    pub fn optimizer_mut(&mut self) -> &mut AnyOptimizer {
        &mut self.optimizer
    }

    /// Trains the remaining epochs on `train`, scoring `valid` after each.
    ///
    /// `on_epoch` sees each epoch's numbers as soon as they exist (to print or
    /// log them); an error from it stops training.
    pub fn fit(
        &mut self,
        train: &Samples,
        valid: &Samples,
        mut on_epoch: impl FnMut(&Epoch) -> Result<()>,
    ) -> Result<Vec<Epoch>> {
        let mut epochs = Vec::new();
        while self.epochs_done < self.config.epochs {
            let report = self.epoch(train, valid)?;
            on_epoch(&report)?;
            epochs.push(report);
        }
        Ok(epochs)
    }

    /// One epoch of seeded minibatches over `train`, then the score on `valid`.
    pub fn epoch(&mut self, train: &Samples, valid: &Samples) -> Result<Epoch> {
        match self.epoch_until(train, valid, || false)? {
            Some(epoch) => Ok(epoch),
            None => fail!("an epoch that cannot be stopped stopped"),
        }
    }

    /// The rest of the epoch under way, from [`batches_done`](Self::batches_done); `stop` is
    /// asked after each batch, and when it says so the epoch ends there (`None`), its position
    /// kept for a later call. The epoch's train loss averages the batches this call ran.
    pub fn epoch_until(
        &mut self,
        train: &Samples,
        valid: &Samples,
        stop: impl Fn() -> bool,
    ) -> Result<Option<Epoch>> {
        if train.is_empty() {
            fail!("no training rows: the data set is empty or --valid-fraction took them all")
        }
        let (epoch, config) = (self.epochs_done, &self.config);
        let lr = config.schedule.lr(config.lr, epoch);
        self.optimizer.set_learning_rate(lr);
        let loss_kind = self.model.loss_kind();
        let batches = train.epoch_batches(config.batch_size, config.seed, epoch)?;
        let bar = progress_bar(config.progress, batches.len(), epoch + 1, config.epochs);
        let start = Instant::now();
        let (mut loss_sum, mut rows) = (0.0, 0);
        if let Some(bar) = &bar {
            bar.inc(self.batches_done as u64);
        }
        // The next batches' rows are gathered on a thread of their own while this one trains,
        // two ahead at most, where a core is spare or the rows come from disk (their tensors
        // are made here: candle's worker pool does not take work from two threads at once).
        // On two cores that both train, the loader only got in the way of the kernels' threads.
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let prefetch = train.is_streamed() || crate::kernels::threads::current() < cores;
        let (done, todo) = (self.batches_done, &batches);
        // One waiting in the channel, one in the loader's hands: two ahead.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let stopped = std::thread::scope(|scope| -> Result<bool> {
            // Owned here: returning drops it, which ends the loader's loop.
            let receiver = receiver;
            match prefetch {
                true => {
                    scope.spawn(move || {
                        for indices in todo.iter().skip(done) {
                            if sender.send(train.rows(indices)).is_err() {
                                break;
                            }
                        }
                    });
                }
                false => drop(sender),
            }
            for (step, indices) in batches.iter().enumerate().skip(done) {
                let batch = match prefetch {
                    true => match receiver.recv() {
                        Ok(batch) => batch,
                        Err(_) => fail!("the batch loader stopped before the epoch's end"),
                    },
                    false => train.rows(indices),
                };
                let (xs, ys) = batch?.tensors(self.dtype, &self.dev)?;
                let loss = self.model.loss(&self.model.forward_t(&xs, true)?, &ys)?;
                let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                if !value.is_finite() {
                    fail!(
                        "training diverged at epoch {}, batch {}: the loss is {value}; lower the learning rate (now {lr})",
                        epoch + 1,
                        step + 1
                    )
                }
                self.optimizer.backward_step(&loss)?;
                loss_sum += per_sample(loss_kind, value, indices.len()) * indices.len() as f64;
                rows += indices.len();
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                if step + 1 < batches.len() && stop() {
                    self.batches_done = step + 1;
                    return Ok(true);
                }
            }
            Ok(false)
        })?;
        if stopped {
            return Ok(None);
        }
        self.dev.synchronize()?;
        let seconds = start.elapsed().as_secs_f64();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        self.epochs_done += 1;
        self.batches_done = 0;
        let scored = (!valid.is_empty())
            .then(|| evaluate(self.model, valid, self.dtype, &self.dev))
            .transpose()?;
        Ok(Some(Epoch {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / rows.max(1) as f64,
            valid_loss: scored.map(|e| e.loss),
            valid_accuracy: scored.and_then(|e| e.accuracy),
            seconds,
        }))
    }
}

/// Trains `model` (whose variables are `varmap`'s) on `train` from its first epoch, scoring `valid` after every epoch.
///
/// ```
/// use simple_nn::candle::{DType, Device};
/// use simple_nn::data::{Part, Source, TargetKind};
/// use simple_nn::nn::{self, FitConfig, Mlp, MlpConfig};
///
/// # fn main() -> simple_nn::candle::Result<()> {
/// let data = "spirals:300".parse::<Source>().unwrap().load(Part::Train, TargetKind::Classes)?;
/// let (train, valid) = data.split(0.1, 0)?;
/// let config = MlpConfig { sizes: vec![2, 64, 64, 2], ..Default::default() };
/// let (mlp, varmap) = Mlp::seeded(config, 0, DType::F32, &Device::Cpu)?;
/// let settings = FitConfig { lr: 0.01, epochs: 40, ..Default::default() };
/// let epochs = nn::fit(&mlp, &varmap, &train, &valid, settings, |epoch| {
///     println!("epoch {}: validation accuracy {:?}", epoch.epoch, epoch.valid_accuracy);
///     Ok(())
/// })?;
/// assert!(epochs[39].valid_accuracy.unwrap() > 0.9);
/// # Ok(())
/// # }
/// ```
pub fn fit(
    model: &dyn Model,
    varmap: &VarMap,
    train: &Samples,
    valid: &Samples,
    config: FitConfig,
    on_epoch: impl FnMut(&Epoch) -> Result<()>,
) -> Result<Vec<Epoch>> {
    Learner::new(model, varmap, config)?.fit(train, valid, on_epoch)
}

/// Scores `model` on `samples` in batches of 1024 rows, with its loss and (for classification) accuracy.
pub fn evaluate(
    model: &dyn Model,
    samples: &Samples,
    dtype: DType,
    dev: &Device,
) -> Result<Evaluation> {
    if matches!(samples.targets(), crate::data::Targets::Unknown) {
        fail!("the samples have no targets to score against: give the data its target column")
    }
    let loss = model.loss_kind();
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    let indices: Vec<usize> = (0..samples.len()).collect();
    for chunk in indices.chunks(1024) {
        let (xs, ys) = samples.batch(chunk, dtype, dev)?;
        let output = model.forward_t(&xs, false)?;
        let value = model
            .loss(&output, &ys)?
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

/// `model`'s predictions for every sample, in batches of 1024 rows: class probabilities, or the regression outputs.
pub fn predict(
    model: &dyn Model,
    samples: &Samples,
    dtype: DType,
    dev: &Device,
) -> Result<Vec<Vec<f64>>> {
    let loss = model.loss_kind();
    let indices: Vec<usize> = (0..samples.len()).collect();
    let mut rows = Vec::with_capacity(samples.len());
    for chunk in indices.chunks(1024) {
        let (xs, _) = samples.batch(chunk, dtype, dev)?;
        let predictions = loss.predictions(&model.forward_t(&xs, false)?)?;
        rows.extend(predictions.to_dtype(DType::F64)?.to_vec2::<f64>()?);
    }
    Ok(rows)
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
