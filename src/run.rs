//! A training run, from a data source to a trained model: what `nn train` does, as library calls.
//!
//! [`Run::new`] shapes a new model for the data and [`Run::resume`] takes up a saved one; both
//! go through one constructor, which reads and splits the data and builds or takes the model.
//! What the command line asks ([`Asked`]) is settled in one place: a new run fills in the
//! defaults; a resumed run keeps the saved settings, applies what may change between epochs
//! (learning rate, schedule, the optimizer's own settings, patience, batch size, epochs) and
//! says so, and refuses what would make another model or another data split. [`Run::fit`]
//! trains the remaining epochs; the model's description then records them, so
//! [`crate::io::save_model`] writes a file that resumes again.

use std::path::Path;

use candle_core::{DType, Device, Result};
use candle_nn::VarMap;

use crate::cli::NN;
use crate::data::{memory, Loaded, Normalization, Part, Reading, Samples, Source, TargetKind};
use crate::device::DeviceSpec;
use crate::io::{self, ModelSpec, Training};
use crate::kernels::Kernels;
use crate::nn::{
    footprint, Activation, Epoch, FitConfig, Layers, Learner, Loss, Net, NetConfig,
    OptimizerConfig, OptimizerKind, OptimizerState, Schedule,
};

/// The fraction of the training data a new run holds out for validation unless asked otherwise.
pub const VALID_FRACTION: f64 = 0.1;

/// What a command line asks of a training run. `None` (or `false`) is "not given": a new model
/// takes the default, a resumed one its saved value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asked {
    /// The hidden layers, and the flag that gave them (for messages) [default: dense:64,relu,dense:32,relu].
    pub layers: Option<(Layers, String)>,
    /// The activation of the `--hidden` shorthand [default: relu].
    pub activation: Option<Activation>,
    /// The data's samples are images of this shape (`--image-shape C,H,W` for a CSV file).
    pub image_shape: Option<[usize; 3]>,
    /// The loss [default: cross-entropy].
    pub loss: Option<Loss>,
    /// Layers without bias.
    pub no_bias: bool,
    /// Standardise features with the training part's mean and spread.
    pub normalize: bool,
    /// A table's target column, where `--target` named one (the source reads it).
    pub target: Option<String>,
    /// The optimizer [default: adamw].
    pub optimizer: Option<OptimizerKind>,
    /// The base learning rate [default: 0.001].
    pub lr: Option<f64>,
    /// Momentum, for the momentum optimizer [default: 0.9].
    pub momentum: Option<f64>,
    /// Nesterov momentum, for the momentum optimizer.
    pub nesterov: bool,
    /// Weight decay, for momentum (L2) and AdamW (decoupled) [default: 0].
    pub weight_decay: Option<f64>,
    /// The learning-rate schedule [default: constant]; a cosine's length is set from `epochs`.
    pub schedule: Option<Schedule>,
    /// Rows per minibatch [default: 32].
    pub batch_size: Option<usize>,
    /// Epochs in all, those already done included [default: 20; resumed: the saved run's].
    pub epochs: Option<usize>,
    /// Seed of the initial weights, the validation split and the batch order [default: 0].
    pub seed: Option<u64>,
    /// Fraction of the training data held out for validation [default: [`VALID_FRACTION`]].
    pub valid_fraction: Option<f64>,
    /// Stop when the validation loss has not improved for this many epochs.
    pub patience: Option<usize>,
}

impl Asked {
    /// The layers a command line asks for: `--layers`, or `--hidden` with its `activation` (relu
    /// by default) as `dense:A,<activation>,…`; with the flag that asked, for messages.
    pub fn asked_layers(
        layers: Option<&Layers>,
        hidden: Option<&[usize]>,
        activation: Option<Activation>,
    ) -> Option<(Layers, String)> {
        match (layers, hidden) {
            (Some(layers), _) => Some((layers.clone(), format!("--layers {layers}"))),
            (None, Some(h)) => Some((
                Layers::dense(h, activation.unwrap_or(Activation::Relu)),
                format!("--hidden {h:?}"),
            )),
            (None, None) => None,
        }
    }

    /// The optimizer `kind` with the settings asked for over `base` (the saved ones, or the
    /// defaults); a setting `kind` has no use for is refused rather than dropped.
    fn optimizer_config(
        &self,
        kind: OptimizerKind,
        base: OptimizerConfig,
    ) -> Result<OptimizerConfig> {
        let (momentum, nesterov, weight_decay) = match base {
            OptimizerConfig::Momentum {
                momentum,
                nesterov,
                weight_decay,
            } => (momentum, nesterov, weight_decay),
            OptimizerConfig::AdamW { weight_decay }
            | OptimizerConfig::AdamWGroups { weight_decay, .. } => (0.9, false, weight_decay),
            OptimizerConfig::Sgd => (0.9, false, 0.0),
        };
        if kind != OptimizerKind::Momentum && (self.momentum.is_some() || self.nesterov) {
            fail!("--momentum and --nesterov are settings of --optimizer momentum, not of {kind}: drop them, or use --optimizer momentum")
        }
        if kind == OptimizerKind::Sgd && self.weight_decay.is_some() {
            fail!("plain sgd has no weight decay: use --optimizer momentum --momentum 0 for SGD with an L2 penalty, or --optimizer adamw")
        }
        Ok(OptimizerConfig::new(
            kind,
            self.momentum.unwrap_or(momentum),
            nesterov || self.nesterov,
            self.weight_decay.unwrap_or(weight_decay),
        ))
    }

    /// The settings of a new run: what is asked, the defaults for the rest.
    fn new_training(&self) -> Result<Training> {
        let defaults = FitConfig::default();
        let kind = self.optimizer.unwrap_or(defaults.optimizer.kind());
        let epochs = self.epochs.unwrap_or(defaults.epochs);
        let fit = FitConfig {
            optimizer: self.optimizer_config(kind, OptimizerConfig::new(kind, 0.9, false, 0.0))?,
            lr: self.lr.unwrap_or(defaults.lr),
            schedule: self.schedule.unwrap_or_default().with_epochs(epochs),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            epochs,
            seed: self.seed.unwrap_or(defaults.seed),
            patience: self.patience,
            progress: false,
        };
        let valid_fraction = self.valid_fraction.unwrap_or(VALID_FRACTION);
        Ok(Training::new(fit, valid_fraction))
    }

    /// Refuses what would make the model saved as `spec` another model: its layers, activation,
    /// loss, biases, standardisation, input shape and target are its own.
    fn check_model(&self, spec: &ModelSpec) -> Result<()> {
        let saved = spec.net_config().layers;
        if let Some((asked, flag)) = &self.layers {
            if *asked != saved {
                fail!("the saved network's hidden layers are {saved}, not {flag}: drop --hidden/--layers to resume it, or train a new model")
            }
        }
        if self.activation.is_some_and(|a| a != spec.activation)
            || self.loss.is_some_and(|l| l != spec.loss)
        {
            fail!(
                "the saved network uses {} with {}: drop --activation/--loss to resume it, or train a new model",
                spec.activation,
                spec.loss
            )
        }
        if self.no_bias && spec.bias {
            return Err(refused("--no-bias", "has biases in its layers"));
        }
        if self.normalize && spec.normalization.is_none() {
            return Err(refused(
                "--normalize",
                "was trained on features as they are, not standardised",
            ));
        }
        if let Some(shape) = self
            .image_shape
            .filter(|s| spec.input_shape.as_deref() != Some(&s[..]))
        {
            let reads = match spec.input_shape.as_deref() {
                Some(saved) => format!("reads images of {saved:?}"),
                None => format!("reads flat rows of {} features", spec.sizes[0]),
            };
            return Err(refused(&format!("--image-shape {shape:?}"), &reads));
        }
        match (&self.target, &spec.table) {
            (Some(asked), Some(table)) if *asked != table.target => Err(refused(
                &format!("--target {asked}"),
                &format!("predicts column '{}'", table.target),
            )),
            _ => Ok(()),
        }
    }

    /// The settings of a run resumed from `spec`: the saved ones, with what this run asks applied
    /// where it may change between epochs, each change said in one line; the seed, the split
    /// and the optimizer are the model's own and are refused. A new batch size asked in the
    /// middle of an epoch waits for its end (the epoch's batches were cut at the saved size).
    fn resumed_training(&self, spec: &ModelSpec) -> Result<Plan> {
        let Some(done) = &spec.training else {
            fail!("the model records no training settings to resume with: train a new one")
        };
        if done.streams != crate::rng::STREAMS {
            fail!("the model was trained by an earlier simple-nn, whose random streams (batch order, dropout masks) this one cannot replay: train a new model (this one still loads for eval and predict)")
        }
        self.check_model(spec)?;
        let (old, mut next) = (&done.fit, done.clone());
        if let Some(seed) = self.seed.filter(|s| *s != old.seed) {
            return Err(refused(&format!("--seed {seed}"), &format!("was trained with seed {}, which drew its weights, its validation split and its batch order", old.seed)));
        }
        if let Some(v) = self.valid_fraction.filter(|v| *v != done.valid_fraction) {
            return Err(refused(
                &format!("--valid-fraction {v}"),
                &format!(
                    "holds out {} of its data for validation",
                    done.valid_fraction
                ),
            ));
        }
        let kind = old.optimizer.kind();
        if let Some(asked) = self.optimizer.filter(|k| *k != kind) {
            return Err(refused(
                &format!("--optimizer {asked}"),
                &format!("trains with {kind}, whose running state is saved with it"),
            ));
        }
        let epochs = self.epochs.unwrap_or(old.epochs);
        if epochs <= done.epochs {
            match self.epochs {
                Some(_) => fail!("the model has already trained {} epochs: pass --epochs above that to train on", done.epochs),
                None => fail!("the model has trained all {} epochs its run asked for: pass --epochs above that to train on", done.epochs),
            }
        }
        next.fit = FitConfig {
            optimizer: self.optimizer_config(kind, old.optimizer)?,
            lr: self.lr.unwrap_or(old.lr),
            schedule: self.schedule.unwrap_or(old.schedule).with_epochs(epochs),
            epochs,
            patience: self.patience.or(old.patience),
            ..old.clone()
        };
        let from = match done.batch {
            0 => format!("from epoch {}", done.epochs + 1),
            b => format!("from batch {} of epoch {}", b + 1, done.epochs + 1),
        };
        let mut notes = Vec::new();
        let mut change = |what: &str, old: String, new: String| {
            if old != new {
                notes.push(format!("{what} {old} → {new} {from}"));
            }
        };
        change("lr", old.lr.to_string(), next.fit.lr.to_string());
        change(
            "schedule",
            old.schedule.to_string(),
            next.fit.schedule.to_string(),
        );
        match (old.optimizer, next.fit.optimizer) {
            (
                OptimizerConfig::Momentum {
                    momentum: m0,
                    nesterov: n0,
                    weight_decay: w0,
                },
                OptimizerConfig::Momentum {
                    momentum: m1,
                    nesterov: n1,
                    weight_decay: w1,
                },
            ) => {
                change("momentum", m0.to_string(), m1.to_string());
                change("nesterov", n0.to_string(), n1.to_string());
                change("weight decay", w0.to_string(), w1.to_string());
            }
            (
                OptimizerConfig::AdamW { weight_decay: w0 },
                OptimizerConfig::AdamW { weight_decay: w1 },
            ) => change("weight decay", w0.to_string(), w1.to_string()),
            _ => {}
        }
        let patience = |p: Option<usize>| p.map_or("none".to_string(), |p| p.to_string());
        change(
            "patience",
            patience(old.patience),
            patience(next.fit.patience),
        );
        if let (Schedule::Cosine { epochs: a, .. }, Schedule::Cosine { epochs: b, .. }) =
            (old.schedule, next.fit.schedule)
        {
            change(
                "cosine schedule's length",
                format!("{a} epochs"),
                format!("{b} epochs"),
            );
        }
        let mut next_batch_size = None;
        if let Some(size) = self.batch_size.filter(|b| *b != old.batch_size) {
            match done.batch {
                0 => next.fit.batch_size = size,
                _ => next_batch_size = Some(size),
            }
            notes.push(format!(
                "batch size {} → {size} from epoch {}",
                old.batch_size,
                done.epochs + 1 + usize::from(done.batch > 0)
            ));
        }
        Ok(Plan {
            training: next,
            notes,
            next_batch_size,
        })
    }
}

/// The one-line error that refuses `flag` on resume: the saved model `has`, and how to go on.
fn refused(flag: &str, has: &str) -> candle_core::Error {
    candle_core::Error::Msg(format!("{flag}: the saved model {has}: drop it to resume the model, or leave out --resume to train a new one"))
}

/// A run's settings, before the data and the model are there.
struct Plan {
    training: Training,
    notes: Vec<String>,
    next_batch_size: Option<usize>,
}

/// A trained model as a checkpoint holds it.
struct Saved {
    spec: ModelSpec,
    net: Net,
    varmap: VarMap,
    optimizer: OptimizerState,
}

/// A model ready to train: its description, settings, layers and variables, and the data split.
pub struct Run {
    /// The model's description, as it will be saved.
    pub spec: ModelSpec,
    /// The training settings and the epochs done.
    pub training: Training,
    /// The network.
    pub net: Net,
    /// Its variables.
    pub varmap: VarMap,
    /// The rows it trains on.
    pub train: Samples,
    /// The rows held out for validation.
    pub valid: Samples,
    /// The optimizer's running tensors and steps (empty for a new model).
    pub optimizer: OptimizerState,
    /// A batch size asked for in the middle of an epoch: it takes over when that epoch ends.
    pub next_batch_size: Option<usize>,
    /// Lines to tell the user: settings changed on resume, reading the data (a table's classes,
    /// columns left out, rows dropped).
    pub notes: Vec<String>,
}

impl Run {
    /// A new model for the training part of `data`, shaped, split and trained as `asked` says (the defaults for the rest).
    pub fn new(
        data: &Source,
        asked: &Asked,
        kernels: Kernels,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        let plan = Plan {
            training: asked.new_training()?,
            notes: Vec::new(),
            next_batch_size: None,
        };
        Self::start(data, asked, plan, None, kernels, dtype, dev)
    }

    /// The model saved at `path`, to train on the training part of `data` with its saved
    /// settings and what `asked` may change of them (see [`Asked`]).
    pub fn resume(
        path: &Path,
        data: &Source,
        asked: &Asked,
        kernels: Kernels,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        let context = |e: candle_core::Error| {
            candle_core::Error::Msg(format!(
                "--resume {}: {}",
                path.display(),
                crate::error::message(&e)
            ))
        };
        let (spec, net, varmap, optimizer) =
            io::load_trainable(path, kernels, dtype, dev).map_err(context)?;
        let mut plan = asked.resumed_training(&spec).map_err(context)?;
        if let Some(saved) = io::saved_dtype(path).filter(|d| *d != dtype) {
            plan.notes.push(format!(
                "{} → {}: the saved weights are converted (a resumed run repeats an uninterrupted one only in the dtype it was saved in)",
                saved.as_str(),
                dtype.as_str()
            ));
        }
        let saved = Saved {
            spec,
            net,
            varmap,
            optimizer,
        };
        Self::start(data, asked, plan, Some(saved), kernels, dtype, dev)
    }

    /// The one constructor of [`new`](Self::new) and [`resume`](Self::resume): reads the
    /// training part of `data` (through the saved model's schema and standardisation where it
    /// resumes one), splits it by the plan's fraction and seed, and builds the new model or
    /// takes the saved one.
    fn start(
        data: &Source,
        asked: &Asked,
        plan: Plan,
        saved: Option<Saved>,
        kernels: Kernels,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        if let (Some(target), false) = (&asked.target, matches!(data, Source::Csv(..))) {
            fail!("--target {target} names a table's column, and --data {data} is not a table: drop --target")
        }
        let Plan {
            mut training,
            mut notes,
            next_batch_size,
        } = plan;
        let loss = match &saved {
            Some(s) => s.spec.loss,
            None => asked.loss.unwrap_or(Loss::CrossEntropy),
        };
        let activation = asked.activation.unwrap_or(Activation::Relu);
        let layers = asked.layers.as_ref().map_or_else(
            || Layers::dense(&[64, 32], activation),
            |(layers, _)| layers.clone(),
        );
        if saved.is_none() {
            // A spec that cannot work on the data's shape is refused before anything loads
            // (for flat rows the feature count does not change what can work).
            let input = asked.image_shape.or(data.image_shape(Part::Train)?);
            layers
                .shapes(&input.map_or(vec![1], |image| image.to_vec()))
                .map_err(|e| {
                    candle_core::Error::Msg(format!("--data {data}: {}", crate::error::message(&e)))
                })?;
        }
        let reading = saved
            .as_ref()
            .map_or(Reading::New, |s| s.spec.reading(true));
        let loaded = load(data, Part::Train, loss, asked.image_shape, reading)?;
        notes.extend(loaded.notes);
        let samples = match &saved {
            Some(s) => (s.spec.prepare(loaded.samples, data)?).with_sharding(training.sharded),
            None => {
                training.sharded = loaded.samples.is_sharded();
                loaded.samples
            }
        };
        let (mut train, mut valid) = samples.split(training.valid_fraction, training.fit.seed)?;
        // The model's memory, checked before its weights are drawn (a resumed model's are loaded
        // already; its gradients, optimizer steps and batches are still to come).
        let batch = (training.fit.batch_size)
            .max(next_batch_size.unwrap_or(0))
            .min(train.len());
        let fits = |config: &NetConfig| {
            let optimizer = training.fit.optimizer.kind();
            footprint::check(config, optimizer, batch, dtype, memory::model_budget())
        };
        let saved = match saved {
            Some(saved) => {
                fits(saved.net.config())?;
                saved
            }
            None => {
                let normalization = (asked.normalize)
                    .then(|| Normalization::measure(&train))
                    .transpose()?;
                if let Some(norm) = &normalization {
                    norm.apply(&mut train)?;
                    norm.apply(&mut valid)?;
                }
                let spec = ModelSpec::new(
                    &train,
                    layers,
                    activation,
                    !asked.no_bias,
                    loss,
                    normalization,
                    loaded.schema,
                )?;
                let config = NetConfig {
                    kernels,
                    ..spec.net_config()
                };
                fits(&config)?;
                let (net, varmap) = Net::seeded(config, training.fit.seed, dtype, dev)?;
                let optimizer = OptimizerState::default();
                Saved {
                    spec,
                    net,
                    varmap,
                    optimizer,
                }
            }
        };
        Ok(Self {
            spec: saved.spec,
            training,
            net: saved.net,
            varmap: saved.varmap,
            train,
            valid,
            optimizer: saved.optimizer,
            next_batch_size,
            notes,
        })
    }

    /// Trains the remaining epochs, calling `on_epoch` after each and, with `save`, rewriting
    /// the checkpoint there (atomically): weights, optimizer state, and the description, which
    /// records the epochs, batches, steps and dropout masks so far. `stop` is asked after every
    /// batch: when it says so, training ends after that batch, the checkpoint is written, and
    /// the result says it was stopped.
    ///
    /// A run resumed from such a checkpoint takes the steps the uninterrupted run would have,
    /// bit for bit on the same machine, dtype and thread count (the tests check it).
    ///
    /// With `best`, the model of the epoch with the lowest validation loss so far is written
    /// there too, whenever an epoch improves on it. With a `patience` in the settings, training
    /// ends once that many epochs have passed without an improvement.
    pub fn fit(
        &mut self,
        save: Option<&Path>,
        best: Option<&Path>,
        stop: impl Fn() -> bool,
        mut on_epoch: impl FnMut(&Epoch) -> Result<()>,
    ) -> Result<Fitted> {
        let Run {
            spec,
            training,
            net,
            varmap,
            train,
            valid,
            optimizer,
            next_batch_size,
            ..
        } = self;
        if (training.fit.patience.is_some() || best.is_some()) && valid.is_empty() {
            fail!("--patience and --keep-best watch the validation loss, but no rows are held out: set --valid-fraction above 0")
        }
        let mut learner = Learner::new(net, varmap, training.fit.clone())?
            .resume_after(training.epochs)
            .at_batch(training.batch);
        learner.optimizer_mut().restore(optimizer)?;
        let net = &*net;
        let mut epochs = Vec::new();
        let end = |epochs, stopped| Fitted {
            epochs,
            stopped,
            patience_ran_out: false,
        };
        while learner.epochs_done() < training.fit.epochs && !training.out_of_patience() {
            let ended = learner.epoch_until(train, valid, &stop)?;
            *optimizer = learner.optimizer_mut().state();
            training.epochs = learner.epochs_done();
            training.batch = learner.batches_done();
            training.steps = optimizer.steps;
            training.masks = net.masks_drawn();
            let improved = match (&ended, training.best) {
                (
                    Some(Epoch {
                        valid_loss: Some(loss),
                        epoch,
                        ..
                    }),
                    best,
                ) => {
                    let better = best.is_none_or(|(_, b)| *loss < b);
                    if better {
                        training.best = Some((*epoch, *loss));
                    }
                    better
                }
                _ => false,
            };
            // A batch size asked in the middle of an epoch takes over once that epoch is done.
            let resized = ended.is_some() && next_batch_size.is_some();
            if let (true, Some(size)) = (resized, next_batch_size.take()) {
                training.fit.batch_size = size;
            }
            spec.training = Some(training.clone());
            if let Some(path) = save {
                io::save_checkpoint(path, spec, varmap, optimizer)?;
            }
            if let (Some(path), true) = (best, improved) {
                io::save_checkpoint(path, spec, varmap, optimizer)?;
            }
            let Some(epoch) = ended else {
                return Ok(end(epochs, true));
            };
            if resized {
                learner =
                    Learner::new(net, varmap, training.fit.clone())?.resume_after(training.epochs);
                learner.optimizer_mut().restore(optimizer)?;
            }
            on_epoch(&epoch)?;
            epochs.push(epoch);
            if learner.epochs_done() < training.fit.epochs && stop() {
                return Ok(end(epochs, true));
            }
        }
        Ok(Fitted {
            patience_ran_out: training.out_of_patience()
                && learner.epochs_done() < training.fit.epochs,
            ..end(epochs, false)
        })
    }
}

impl std::fmt::Display for Run {
    /// `[2] dense:64,relu,dense:32,relu → 2, cross-entropy (270 train, 30 validation rows), adamw lr 0.001 batch 32, epochs 1..20`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (net, fit) = (self.net.config(), &self.training.fit);
        write!(
            f,
            "{:?} {} → {}, {} ({} train, {} validation rows), {} lr {} batch {}, epochs {}..{}",
            net.input,
            net.layers,
            net.outputs,
            net.loss,
            self.train.len(),
            self.valid.len(),
            fit.optimizer.kind(),
            fit.lr,
            fit.batch_size,
            self.training.epochs + 1,
            fit.epochs
        )
    }
}

/// What [`Run::fit`] did: the epochs it finished, and whether it was stopped before the last.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    /// The epochs finished, each with its numbers.
    pub epochs: Vec<Epoch>,
    /// Whether `stop` ended the run early (the checkpoint, if any, holds where).
    pub stopped: bool,
    /// Whether it ended early because the validation loss stopped improving (`patience`).
    pub patience_ran_out: bool,
}

impl Run {
    /// The one line that says where a stopped run stopped and the command that goes on from
    /// there, as it runs from a clone of the repository (or that nothing was kept). `last` is
    /// the checkpoint written after every epoch, `best` the `--keep-best` model beside it.
    pub fn stopped_line(&self, last: Option<&Path>, best: Option<&Path>, data: &Source) -> String {
        let t = &self.training;
        let at = format!(
            "stopped in epoch {} after {} batches",
            t.epochs + 1,
            t.batch
        );
        let Some(last) = last else {
            return format!("{at}: nothing was kept (train with --save PATH to keep the state)");
        };
        let mut go_on = format!(
            "{NN} train --resume {} --data {}",
            shell_word(&last.display().to_string()),
            shell_word(&data.to_string())
        );
        if let Source::Csv(_, options) = data {
            if let Some(d) = options.delimiter {
                let d = if d == b'\t' {
                    "tab".to_string()
                } else {
                    char::from(d).to_string()
                };
                go_on += &format!(" --delimiter {}", shell_word(&d));
            }
            if options.drop_incomplete {
                go_on += " --drop-incomplete";
            }
        }
        go_on += &format!(" --epochs {}", t.fit.epochs);
        if let Some(size) = self.next_batch_size {
            go_on += &format!(" --batch-size {size}");
        }
        if self.net.config().kernels != Kernels::default() {
            go_on += &format!(" --kernels {}", self.net.config().kernels);
        }
        go_on += &match best {
            Some(best) => format!(
                " --save {} --keep-best",
                shell_word(&best.display().to_string())
            ),
            None => format!(" --save {}", shell_word(&last.display().to_string())),
        };
        format!("{at}: saved to {}; go on with `{go_on}`", last.display())
    }

    /// The line a run that saves nothing prints at its start: what is lost, and how to keep it.
    pub fn keeps_nothing_line(&self, resumed: Option<&Path>) -> String {
        match resumed {
            Some(path) => format!(
                "no --save: this run keeps nothing, and {} stays as it was ({}); add --save {} to go on in it",
                path.display(),
                match self.training.batch {
                    0 => format!("{} epochs done", self.training.epochs),
                    b => format!("{} epochs and {b} batches done", self.training.epochs),
                },
                shell_word(&path.display().to_string())
            ),
            None => "no --save: this run keeps nothing; add --save PATH.safetensors to keep the model".to_string(),
        }
    }

    /// What `--patience` and `--keep-best` did, one line each (none when neither was asked for).
    pub fn early_lines(
        &self,
        fitted: &Fitted,
        best: Option<&Path>,
        last: Option<&Path>,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let Some((epoch, loss)) = self.training.best else {
            return lines;
        };
        if fitted.patience_ran_out {
            let patience = self.training.fit.patience.unwrap_or(0);
            lines.push(format!("stopped early: the validation loss has not improved for {patience} epochs (best {loss:.5} at epoch {epoch})"));
        }
        if let (Some(best), Some(last)) = (best, last) {
            lines.push(format!(
                "kept the best epoch's model (epoch {epoch}, validation loss {loss:.5}) in {}; the last epoch's, to resume, is in {}",
                best.display(),
                last.display()
            ));
        }
        lines
    }

    /// The title of this run's loss plot: `cross-entropy loss, adamw on spirals:500`.
    pub fn title(&self, data: &Source) -> String {
        let optimizer = self.training.fit.optimizer.kind();
        format!("{} loss, {optimizer} on {data}", self.spec.loss)
    }
}

impl std::fmt::Display for Summary {
    /// `trained 20 epochs in 1.25 s (43210 samples/s)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "trained {} epochs in {:.2} s ({:.0} samples/s)",
            self.epochs, self.seconds, self.samples_per_sec
        )
    }
}

/// What a run's epochs came to, as `--metrics-json` writes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Epochs trained in this run.
    pub epochs: usize,
    /// The last epoch's training loss per sample.
    pub train_loss: f64,
    /// The last epoch's validation loss per sample.
    pub valid_loss: Option<f64>,
    /// The last epoch's validation accuracy.
    pub valid_accuracy: Option<f64>,
    /// Rows trained on.
    pub train_samples: usize,
    /// Rows held out.
    pub valid_samples: usize,
    /// Wall time of the whole run, validation included.
    pub seconds: f64,
    /// Rows trained per second of the training steps.
    pub samples_per_sec: f64,
    /// Where it ran.
    pub device: String,
    /// In what precision.
    pub dtype: &'static str,
}

impl Run {
    /// The summary of `epochs`, trained by this run in `seconds` of wall time.
    pub fn summary(&self, epochs: &[Epoch], seconds: f64) -> Result<Summary> {
        let Some(last) = epochs.last() else {
            fail!("no epoch ran: pass --epochs above the epochs already trained")
        };
        let train_seconds: f64 = epochs.iter().map(|e| e.seconds).sum();
        let var = self.varmap.all_vars();
        let (device, dtype) = var.first().map_or(("cpu".to_string(), "f32"), |v| {
            (crate::device::name(v.device()), v.dtype().as_str())
        });
        Ok(Summary {
            epochs: epochs.len(),
            train_loss: last.train_loss,
            valid_loss: last.valid_loss,
            valid_accuracy: last.valid_accuracy,
            train_samples: self.train.len(),
            valid_samples: self.valid.len(),
            seconds,
            samples_per_sec: (self.train.len() * epochs.len()) as f64 / train_seconds.max(1e-9),
            device,
            dtype,
        })
    }
}

/// A saved model and the test part of `data` to score (`eval`) or predict (`predict`).
pub struct Scoring {
    /// The model's description.
    pub spec: ModelSpec,
    /// The network.
    pub net: Net,
    /// The samples, read through the model's table schema where it has one and prepared as its
    /// training data was; unlabeled where `predict` read a table without its target column.
    pub samples: Samples,
    /// The device of the model.
    pub dev: Device,
    /// Lines to tell the user about reading the data.
    pub notes: Vec<String>,
}

/// A saved model on `device` in `dtype`, and the test part of `data`, read through the model's
/// table schema (columns matched by name), checked against the model and prepared as its
/// training data was; `need_target` is false for `predict`, which needs no labels.
pub fn model_and_test_data(
    path: &Path,
    data: &Source,
    device: DeviceSpec,
    dtype: DType,
    need_target: bool,
) -> Result<Scoring> {
    let dev = device.open_for(dtype)?;
    let (spec, net) = io::load_model(path, dtype, &dev)?;
    let loaded = load(data, Part::Test, spec.loss, None, spec.reading(need_target))?;
    let samples = spec.prepare(loaded.samples, data)?;
    Ok(Scoring {
        spec,
        net,
        samples,
        dev,
        notes: loaded.notes,
    })
}

/// A part of `data` read as `fit` says, with the targets `loss` needs (class ids become values
/// for a regression loss), read as images of `image_shape` where given; errors name the source.
fn load(
    data: &Source,
    part: Part,
    loss: Loss,
    image_shape: Option<[usize; 3]>,
    reading: Reading,
) -> Result<Loaded> {
    let context = |e: candle_core::Error| {
        candle_core::Error::Msg(format!("--data {data}: {}", crate::error::message(&e)))
    };
    let mut loaded = data.read(part, loss.targets(), reading).map_err(context)?;
    let mut samples = loaded.samples;
    if let Some(shape) = image_shape {
        samples = samples.with_image_shape(shape).map_err(context)?;
    }
    loaded.samples = match loss.targets() {
        TargetKind::Classes => samples,
        TargetKind::Values => samples.into_values(),
    };
    Ok(loaded)
}

/// `word` as one word of a shell command: as it is when it holds nothing a shell reads
/// otherwise, else in single quotes.
fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:,=+@%".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', "'\\''")),
    }
}
