//! Training bigger models: epochs of shuffled minibatches with a validation pass after each, or
//! a number of steps scored every so many.
//!
//! The tutorial trains on its whole data set at every step; real data sets
//! are cut into minibatches, reshuffled every epoch (seeded, so a run can be
//! repeated), and scored on held-out rows the model never trains on. A run by
//! steps (`--steps`) takes its batches from the same epochs of samples, or from a
//! text's windows, each step's drawn from the run's seed. Every step is the same:
//! forward, loss, backward, the gradients clipped to a global norm where asked,
//! the optimizer's update at the schedule's rate. Training stops with an error,
//! before the update, as soon as a batch's loss is not a finite number: the
//! weights are left as they were.

use std::io::IsTerminal;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarMap;

use super::clip::clip_grad_norm;
use super::evaluate::{evaluate, per_sample, Evaluation};
use super::model::Model;
use super::optim::{AnyOptimizer, OptimizerConfig};
use super::schedule::Schedule;
use crate::data::text::Corpus;
use crate::data::Samples;
use crate::dist::{self, Ranks};

/// How to train: the optimizer and its learning rate, the schedule, the batches, the epochs (or
/// steps) and the clipping.
///
/// `FitConfig { epochs: 40, ..Default::default() }` is AdamW at 0.001, constant, batches of 32.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct FitConfig {
    /// The optimizer and its own settings.
    pub optimizer: OptimizerConfig,
    /// The base learning rate.
    pub lr: f64,
    /// How the learning rate changes over the run.
    pub schedule: Schedule,
    /// Rows per minibatch.
    pub batch_size: usize,
    /// Passes over the training set, in all (a resumed run counts those already done).
    pub epochs: usize,
    /// Seed of the minibatch order.
    pub seed: u64,
    /// Stop when the validation loss has not improved for this many epochs (or evaluations,
    /// in a step run).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Scale the gradients down to this global L2 norm before each update (PyTorch's
    /// `clip_grad_norm_`).
    #[serde(default)]
    pub grad_clip: Option<f64>,
    /// Train by steps: this many in all (a resumed run counts those already done), in place of
    /// `epochs`.
    #[serde(default)]
    pub steps: Option<usize>,
    /// In a step run, score the validation data (and save) every this many steps, and after
    /// the last [default: [`EVAL_EVERY`]].
    #[serde(default)]
    pub eval_every: Option<usize>,
    /// Show a progress bar when standard error is a terminal.
    #[serde(skip)]
    pub progress: bool,
}

/// How often a step run scores its validation data unless told (nanoGPT's `eval_interval`).
pub const EVAL_EVERY: usize = 250;

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
            grad_clip: None,
            steps: None,
            eval_every: None,
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
        if let Some(max) = self.grad_clip.filter(|m| !(m.is_finite() && *m > 0.0)) {
            fail!("gradient clipping to a norm of {max}: use a positive finite norm, e.g. 1.0")
        }
        if self.steps == Some(0) || self.eval_every == Some(0) {
            fail!("a step run needs at least one step, and scores every 1 step or more: use e.g. --steps 2000 --eval-every 250")
        }
        Ok(())
    }

    /// How many steps pass between two validation scores of a step run.
    pub fn eval_every(&self) -> usize {
        self.eval_every.unwrap_or(EVAL_EVERY)
    }
}

/// What one epoch of training measured, or in a step run one stretch of steps between two
/// validation scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    /// 1 for the first epoch (in a step run, the epochs begun, for samples; 0 for a text).
    pub epoch: usize,
    /// The steps done after it, in all.
    pub step: usize,
    /// The learning rate of its last step.
    pub lr: f64,
    /// The mean training loss per sample (per character, for a text) over its batches.
    pub train_loss: f64,
    /// The validation loss per sample after the epoch (none without validation rows).
    pub valid_loss: Option<f64>,
    /// The validation accuracy after the epoch (classification only).
    pub valid_accuracy: Option<f64>,
    /// Wall time of its training steps.
    pub seconds: f64,
    /// The samples it trained on (windows, for a text).
    pub rows: usize,
}

/// What a run's reports count, and how many in all: epochs, or steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A run by epochs, of this many in all.
    Epochs(usize),
    /// A run by steps, of this many in all.
    Steps(usize),
}

impl Unit {
    /// The unit's name, as a report's first column calls it.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Epochs(_) => "epoch",
            Unit::Steps(_) => "step",
        }
    }

    /// Where `report` stands in this unit: its epoch, or the steps done after it.
    pub fn of(self, report: &Epoch) -> usize {
        match self {
            Unit::Epochs(_) => report.epoch,
            Unit::Steps(_) => report.step,
        }
    }

    /// The run's length in this unit.
    pub fn total(self) -> usize {
        match self {
            Unit::Epochs(n) | Unit::Steps(n) => n,
        }
    }
}

impl FitConfig {
    /// The unit the run's reports count, and its length in it.
    pub fn unit(&self) -> Unit {
        match self.steps {
            Some(steps) => Unit::Steps(steps),
            None => Unit::Epochs(self.epochs),
        }
    }
}

/// Where a step run's batches come from.
#[derive(Clone, Copy)]
pub enum StepData<'a> {
    /// Minibatches of samples, epoch after epoch, each epoch's order from the run's seed (the
    /// same batches as an epoch run's).
    Samples(&'a Samples),
    /// Windows of a text: step s's from the run's seed and s alone ([`Corpus::train_batch`]).
    Text(&'a Corpus),
}

/// A model in training: its optimizer, settings, and the epochs and steps done so far.
pub struct Learner<'a> {
    model: &'a dyn Model,
    optimizer: AnyOptimizer,
    /// The variables, for clipping their gradients.
    vars: Vec<Var>,
    config: FitConfig,
    epochs_done: usize,
    /// Batches done of the epoch under way (a run stopped mid-epoch goes on from there).
    batches_done: usize,
    /// Updates taken so far, in all.
    steps_done: usize,
    /// The batches of the epoch under way of a step run on samples, cut once per epoch.
    order: Option<(usize, Vec<Vec<usize>>)>,
    dtype: DType,
    dev: Device,
    /// The ranks that train the model together, each on its share of every batch.
    ranks: Ranks,
    /// Whether the ranks agreed, at the last step, to stop after it.
    agreed_stop: bool,
}

impl<'a> Learner<'a> {
    /// Starts training `model`, whose variables are `varmap`'s, with `config`; the settings are checked first.
    pub fn new(model: &'a dyn Model, varmap: &VarMap, config: FitConfig) -> Result<Self> {
        config.validate()?;
        let (dtype, dev) = parameters_dtype_device(varmap)?;
        let named = super::optim::named_vars(varmap)?;
        let vars = named.iter().map(|(_, v)| v.clone()).collect();
        let optimizer = AnyOptimizer::new(named, &config.optimizer, config.lr, model.kernels())?;
        Ok(Self {
            model,
            optimizer,
            vars,
            config,
            epochs_done: 0,
            batches_done: 0,
            steps_done: 0,
            order: None,
            dtype,
            dev,
            ranks: Ranks::single(),
            agreed_stop: false,
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

    /// Goes on after `steps_done` updates, as a resumed run does (a per-step schedule, and a
    /// text's windows, follow the step).
    pub fn at_step(mut self, steps_done: usize) -> Self {
        self.steps_done = steps_done;
        self
    }

    /// Trains as one of `ranks`: each step on this rank's [share](Ranks::share) of the global
    /// batch, with the gradients summed over the ranks before the update (and the validation
    /// scored by rank 0), so that every rank takes the step one process would take.
    pub fn on_ranks(mut self, ranks: Ranks) -> Self {
        self.ranks = ranks;
        self
    }

    /// Whether any rank's `stop` says to stop (each rank asks its own: a signal may reach
    /// one rank before another); in a run of one process, `stop` itself.
    pub fn any_stop(&self, stop: impl Fn() -> bool) -> bool {
        self.ranks.any(stop())
    }

    /// Batches done of the epoch under way (0 between epochs).
    pub fn batches_done(&self) -> usize {
        self.batches_done
    }

    /// The epochs done so far.
    pub fn epochs_done(&self) -> usize {
        self.epochs_done
    }

    /// The updates taken so far, in all.
    pub fn steps_done(&self) -> usize {
        self.steps_done
    }

    /// The settings.
    pub fn config(&self) -> &FitConfig {
        &self.config
    }

    /// The model's loss on `(xs, ys)` and the gradient step it gives (clipped where the settings
    /// say), at the learning rate the optimizer has, without reading the loss back.
    pub fn step(&mut self, xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
        let loss = self.model.loss(&self.model.forward_t(xs, true)?, ys)?;
        self.update(&loss)?;
        Ok(loss)
    }

    /// Back-propagates `loss`, clips the gradients where the settings say, and applies them.
    fn update(&mut self, loss: &Tensor) -> Result<()> {
        match self.config.grad_clip {
            None => self.optimizer.backward_step(loss)?,
            Some(max) => {
                let mut grads = loss.backward()?;
                clip_grad_norm(&mut grads, &self.vars, max)?;
                self.optimizer.step(&grads)?;
            }
        }
        self.steps_done += 1;
        Ok(())
    }

    /// One update on `(xs, ys)` at learning rate `lr`, after checking that the loss is finite
    /// (`at` says where, for the error); the loss as a number.
    ///
    /// On several ranks, `(xs, ys)` are this rank's share (none where it is empty) of a global
    /// batch of `rows`, the value is the global batch's loss, and the ranks agree whether to
    /// stop after this step (each asks its own `stop` once; see [`Self::stopping`]).
    fn train_step(
        &mut self,
        batch: Option<(Tensor, Tensor)>,
        rows: usize,
        lr: f64,
        at: impl Fn() -> String,
        stop: &dyn Fn() -> bool,
    ) -> Result<f64> {
        self.optimizer.set_learning_rate(lr);
        let diverged = |value: f64| -> Result<()> {
            if !value.is_finite() {
                fail!(
                    "training diverged at {}: the loss is {value}; lower the learning rate (now {lr})",
                    at()
                )
            }
            Ok(())
        };
        let Some((xs, ys)) = batch.as_ref().filter(|_| !self.ranks.is_parallel()) else {
            return self.parallel_step(batch, rows, diverged, stop);
        };
        let loss = self.model.loss(&self.model.forward_t(xs, true)?, ys)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        diverged(value)?;
        self.update(&loss)?;
        Ok(value)
    }

    /// [`Self::train_step`] on several ranks: this rank's loss and gradients, weighted by its
    /// share of the `rows` (for a mean over them), summed over the ranks with the stop flags;
    /// then the check, the clipping and the update that one process would make.
    fn parallel_step(
        &mut self,
        batch: Option<(Tensor, Tensor)>,
        rows: usize,
        diverged: impl Fn(f64) -> Result<()>,
        stop: &dyn Fn() -> bool,
    ) -> Result<f64> {
        let (mut grads, value, mine) = match &batch {
            Some((xs, ys)) => {
                let loss = self.model.loss(&self.model.forward_t(xs, true)?, ys)?;
                let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                (loss.backward()?, value, xs.dim(0)?)
            }
            None => (GradStore::default(), 0.0, 0),
        };
        let weight = match self.model.loss_kind() {
            super::loss::Loss::HalfSse => 1.0,
            _ => mine as f64 / rows.max(1) as f64,
        };
        let mut scalars = [value * weight, f64::from(u8::from(stop()))];
        dist::sum_gradients(self.ranks, &mut grads, &self.vars, weight, &mut scalars)?;
        // Every rank sees the same sum, and fails alike: rank 0 says so.
        diverged(scalars[0]).map_err(|e| dist::Shared::error(crate::error::message(&e)))?;
        if let Some(max) = self.config.grad_clip {
            clip_grad_norm(&mut grads, &self.vars, max)?;
        }
        self.optimizer.step(&grads)?;
        self.steps_done += 1;
        self.agreed_stop = scalars[1] > 0.0;
        Ok(scalars[0])
    }

    /// Whether to stop after the step just taken: `stop` in one process; on several ranks,
    /// what they agreed at that step (so that all stop after the same one).
    fn stopping(&self, stop: &dyn Fn() -> bool) -> bool {
        match self.ranks.is_parallel() {
            true => self.agreed_stop,
            false => stop(),
        }
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
        let (schedule, base_lr) = (config.schedule, config.lr);
        let mut last_lr = schedule.lr(base_lr, epoch, self.steps_done);
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
        // On two cores that both train, the loader only got in the way of the kernels' threads;
        // so it did beside another rank on the same cores (two ranks of one thread on two cores
        // trained at half the speed with their loaders, MPI's waits spinning).
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let busy = crate::kernels::threads::current() * self.ranks.on_host();
        let prefetch = train.is_streamed() || busy < cores;
        let (done, todo, ranks) = (self.batches_done, &batches, self.ranks);
        // This rank's rows of a global batch (all of them, in one process).
        let mine = move |indices: &'_ [usize]| -> Vec<usize> {
            indices[ranks.share(indices.len())].to_vec()
        };
        // One waiting in the channel, one in the loader's hands: two ahead.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let stopped = std::thread::scope(|scope| -> Result<bool> {
            // Owned here: returning drops it, which ends the loader's loop.
            let receiver = receiver;
            match prefetch {
                true => {
                    scope.spawn(move || {
                        for indices in todo.iter().skip(done) {
                            if sender.send(train.rows(&mine(indices))).is_err() {
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
                    false => train.rows(&mine(indices)),
                };
                let batch = batch?;
                let local = (!ranks.share(indices.len()).is_empty())
                    .then(|| batch.tensors(self.dtype, &self.dev))
                    .transpose()?;
                let lr = schedule.lr(base_lr, epoch, self.steps_done);
                let at = || format!("epoch {}, batch {}", epoch + 1, step + 1);
                let value = self.train_step(local, indices.len(), lr, at, &stop)?;
                last_lr = lr;
                loss_sum += per_sample(loss_kind, value, indices.len()) * indices.len() as f64;
                rows += indices.len();
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                if step + 1 < batches.len() && self.stopping(&stop) {
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
            .then(|| self.scored(|| evaluate(self.model, valid, self.dtype, &self.dev)))
            .transpose()?;
        Ok(Some(Epoch {
            epoch: epoch + 1,
            step: self.steps_done,
            lr: last_lr,
            train_loss: loss_sum / rows.max(1) as f64,
            valid_loss: scored.map(|e| e.loss),
            valid_accuracy: scored.and_then(|e| e.accuracy),
            seconds,
            rows,
        }))
    }

    /// Steps from [`steps_done`](Self::steps_done) up to step `until`, on `data`'s batches; `stop`
    /// is asked after each, and when it says so the stretch ends there (`None`), its position
    /// kept for a later call. The stretch's numbers are not scored on validation data (the
    /// caller does, as often as it likes); its train loss averages the steps this call ran.
    ///
    /// In a step run every schedule counts steps (a cosine decays over the run's steps). On
    /// samples, step s is batch s mod b of epoch ⌊s / b⌋ for the b batches of an epoch, the
    /// batches an epoch run takes; on a text, step s's windows come from the seed and s.
    pub fn steps_until(
        &mut self,
        data: StepData,
        until: usize,
        stop: impl Fn() -> bool,
    ) -> Result<Option<Epoch>> {
        let (schedule, base_lr) = (self.config.schedule, self.config.lr);
        let (batch_size, seed) = (self.config.batch_size, self.config.seed);
        let loss_kind = self.model.loss_kind();
        let mut last_lr = schedule.lr(base_lr, self.steps_done, self.steps_done);
        let start = Instant::now();
        let (mut loss_sum, mut rows) = (0.0, 0);
        while self.steps_done < until {
            let step = self.steps_done;
            let lr = schedule.lr(base_lr, step, step);
            let (local, n) = match data {
                StepData::Text(corpus) => {
                    // Each rank reads only its rows of the global batch.
                    let rows = self.ranks.share(batch_size);
                    let local = match (rows.is_empty(), self.ranks.is_parallel()) {
                        (true, _) => None,
                        (false, true) => Some(corpus.train_rows(seed, step as u64, rows)?),
                        (false, false) => {
                            Some(corpus.train_batch(seed, step as u64, batch_size)?)
                        }
                    };
                    (local.map(|b| b.tensors(&self.dev)).transpose()?, batch_size)
                }
                StepData::Samples(train) => {
                    let indices = self.next_batch(train)?;
                    let share = &indices[self.ranks.share(indices.len())];
                    let local =
                        (!share.is_empty()).then(|| train.batch(share, self.dtype, &self.dev));
                    (local.transpose()?, indices.len())
                }
            };
            let at = || format!("step {}", step + 1);
            let value = self.train_step(local, n, lr, at, &stop)?;
            last_lr = lr;
            loss_sum += per_sample(loss_kind, value, n) * n as f64;
            rows += n;
            if self.steps_done < until && self.stopping(&stop) {
                return Ok(None);
            }
        }
        self.dev.synchronize()?;
        Ok(Some(Epoch {
            epoch: match data {
                StepData::Samples(_) => self.epochs_done + usize::from(self.batches_done > 0),
                StepData::Text(_) => 0,
            },
            step: self.steps_done,
            lr: last_lr,
            train_loss: loss_sum / rows.max(1) as f64,
            valid_loss: None,
            valid_accuracy: None,
            seconds: start.elapsed().as_secs_f64(),
            rows,
        }))
    }

    /// `score`'s evaluation, computed on rank 0 alone and sent to the others (so that every
    /// rank sees the same numbers, and decides the same, whatever its threads).
    pub fn scored(&self, score: impl FnOnce() -> Result<Evaluation>) -> Result<Evaluation> {
        let [loss, accuracy, samples] = self.ranks.from_root(|| {
            let e = score()?;
            Ok([e.loss, e.accuracy.unwrap_or(f64::NAN), e.samples as f64])
        })?;
        Ok(Evaluation {
            loss,
            accuracy: (!accuracy.is_nan()).then_some(accuracy),
            samples: samples as usize,
        })
    }

    /// The next batch of a step run on samples: batch [`batches_done`](Self::batches_done) of
    /// the epoch under way, whose order is cut once; the position moves on by one.
    fn next_batch(&mut self, train: &Samples) -> Result<Vec<usize>> {
        if train.is_empty() {
            fail!("no training rows: the data set is empty or --valid-fraction took them all")
        }
        let epoch = self.epochs_done;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let batches = train.epoch_batches(self.config.batch_size, self.config.seed, epoch)?;
            self.order = Some((epoch, batches));
        }
        let Some((_, batches)) = &self.order else {
            fail!("the epoch's batches were not cut")
        };
        let indices = batches[self.batches_done].clone();
        self.batches_done += 1;
        if self.batches_done == batches.len() {
            self.epochs_done += 1;
            self.batches_done = 0;
        }
        Ok(indices)
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
