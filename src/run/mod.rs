//! A training run, from a data source to a trained model: what `nn train` does, as library calls.
//!
//! [`Run::new`] shapes a new model for the data and [`Run::resume`] takes up a saved one; both
//! go through one constructor, which reads and splits the data and builds or takes the model.
//! What the command line asks ([`Asked`]) is settled in one place: a new run fills in the
//! defaults; a resumed run keeps the saved settings, applies what may change between epochs
//! (learning rate, schedule, the optimizer's own settings, patience, batch size, epochs or
//! steps, clipping) and says so, and refuses what would make another model or another data
//! split. [`Run::fit`] trains the remaining epochs or steps on the one training loop
//! ([`Learner`]); the model's description then records them, so [`crate::io::save_model`]
//! writes a file that resumes again. Rows of samples train any network of layers; a text
//! (`--data text:PATH`) trains a GPT, by steps.

mod asked;
mod lines;
mod parallel;

pub use asked::{Asked, TextDefaults, TEXT_DEFAULTS, VALID_FRACTION};

use std::path::Path;

use candle_core::{DType, Device, Result};
use candle_nn::VarMap;

use crate::data::text::{Corpus, Span, TextOptions};
use crate::data::{memory, Loaded, Normalization, Part, Reading, Samples, Source, TargetKind};
use crate::device::DeviceSpec;
use crate::dist::Ranks;
use crate::io::{self, ModelSpec, Training};
use crate::kernels::{Kernels, Precision};
use crate::nn::{
    self, footprint, Activation, Epoch, Evaluation, Gpt, GptConfig, Layers, Learner, Loss, Net,
    NetConfig, Network, OptimizerState, StepData,
};
use asked::Plan;

/// A trained model as a checkpoint holds it.
struct Saved {
    spec: ModelSpec,
    model: Network,
    varmap: VarMap,
    optimizer: OptimizerState,
}

/// What a run trains on.
// A run holds one, never a collection of them: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Data {
    /// Rows of samples, split into the rows it trains on and those held out for validation.
    Samples {
        /// The rows it trains on.
        train: Samples,
        /// The rows held out for validation.
        valid: Samples,
    },
    /// A text: the first part trains, the last validates.
    Text(Corpus),
}

impl Data {
    /// The rows (windows of a text) that train, and those that validate.
    pub fn sizes(&self) -> (usize, usize) {
        match self {
            Data::Samples { train, valid } => (train.len(), valid.len()),
            Data::Text(corpus) => (
                corpus
                    .train_len()
                    .saturating_sub(corpus.options().block_size),
                corpus.window_count(Span::Valid),
            ),
        }
    }

    /// Whether anything is held out to score the model on.
    pub fn has_validation(&self) -> bool {
        self.sizes().1 > 0
    }

    /// The model's score on the held-out part.
    pub fn score(&self, model: &Network, dtype: DType, dev: &Device) -> Result<Evaluation> {
        match self {
            Data::Samples { valid, .. } => nn::evaluate(model, valid, dtype, dev),
            Data::Text(corpus) => nn::evaluate_text(model, corpus, Span::Valid, dev),
        }
    }
}

/// A model ready to train: its description, settings, layers and variables, and its data.
pub struct Run {
    /// The model's description, as it will be saved.
    pub spec: ModelSpec,
    /// The training settings and the epochs done.
    pub training: Training,
    /// The model.
    pub model: Network,
    /// Its variables.
    pub varmap: VarMap,
    /// What it trains on.
    pub data: Data,
    /// The optimizer's running tensors and steps (empty for a new model).
    pub optimizer: OptimizerState,
    /// A batch size asked for in the middle of an epoch: it takes over when that epoch ends.
    pub next_batch_size: Option<usize>,
    /// Lines to tell the user: settings changed on resume, reading the data (a table's classes,
    /// columns left out, rows dropped).
    pub notes: Vec<String>,
    /// The ranks that train it together (one process unless [`Run::on_ranks`] says more).
    ranks: Ranks,
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
            training: asked.new_training(matches!(data, Source::Text(_)))?,
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
        let (spec, model, varmap, optimizer) =
            io::load_trainable(path, kernels, dtype, dev).map_err(context)?;
        match (&spec.gpt, data) {
            (Some(_), Source::Text(_)) | (None, Source::Csv(..) | Source::Mnist(_) | Source::Parity(_) | Source::Spirals(_)) => {}
            (Some(_), _) => return Err(context(candle_core::Error::Msg(format!("the model is a GPT, which trains on text, not on --data {data}: give it --data text:PATH")))),
            (None, _) => return Err(context(candle_core::Error::Msg(format!("the model is a network of layers, which trains on rows of samples, not on --data {data}: give it the data it was trained on")))),
        }
        let mut plan = asked.resumed_training(&spec).map_err(context)?;
        if let Some(saved) = io::resumed_dtype(path).filter(|d| *d != dtype) {
            let what = match io::saved_bf16_products(path) {
                true => "the products now multiply the f32 weights as they are",
                false => "the saved weights are converted",
            };
            plan.notes.push(format!(
                "{} → {}: {what} (a resumed run repeats an uninterrupted one only in the dtype it was saved in)",
                saved.as_str(),
                dtype.as_str()
            ));
        }
        let saved = Saved {
            spec,
            model,
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
        if let Source::Text(path) = data {
            asked.check_text()?;
            return Self::start_text(path, asked, plan, saved, kernels, dtype, dev);
        }
        if let Some((layers, flag)) = asked.layers.as_ref().filter(|(l, _)| l.gpt().is_some()) {
            fail!("{flag}: layer '{layers}' is a character-level GPT, which trains on text: give it --data text:PATH")
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
        let per_epoch = train.len().div_ceil(training.fit.batch_size.max(1));
        let fit = &mut training.fit;
        let units = fit.steps.unwrap_or(fit.epochs);
        let steps = fit.steps.unwrap_or(fit.epochs.saturating_mul(per_epoch));
        fit.schedule = fit.schedule.with_length(units, steps);
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
                if let Network::Net(net) = &saved.model {
                    fits(net.config())?;
                }
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
                    model: Network::Net(net),
                    varmap,
                    optimizer,
                }
            }
        };
        Ok(Self {
            spec: saved.spec,
            training,
            model: saved.model,
            varmap: saved.varmap,
            data: Data::Samples { train, valid },
            optimizer: saved.optimizer,
            next_batch_size,
            notes,
            ranks: Ranks::single(),
        })
    }

    /// [`start`](Self::start) for a text at `path`: its vocabulary (the saved model's, where it
    /// resumes one), the split and windows of the plan's block size, and a new GPT of the
    /// layers asked (`gpt:4:4:128` by default) or the saved one.
    fn start_text(
        path: &Path,
        asked: &Asked,
        plan: Plan,
        saved: Option<Saved>,
        kernels: Kernels,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        let Plan {
            mut training,
            mut notes,
            ..
        } = plan;
        let defaults = TEXT_DEFAULTS;
        let block_size = match saved.as_ref().and_then(|s| s.spec.gpt.as_ref()) {
            Some(text) => text.config.block_size,
            None => asked.block_size.unwrap_or(defaults.block_size),
        };
        let options = TextOptions {
            block_size,
            valid_fraction: training.valid_fraction,
        };
        let corpus = match saved.as_ref().and_then(|s| s.spec.gpt.as_ref()) {
            Some(text) => Corpus::read_with(path, &text.vocabulary, options)?,
            None => Corpus::read(path, options)?,
        };
        notes.extend(corpus.note());
        let fit = &mut training.fit;
        let steps = fit.steps.unwrap_or(defaults.steps);
        fit.schedule = fit.schedule.with_length(steps, steps);
        let (n_layer, n_head, n_embd) = (asked.layers.as_ref())
            .and_then(|(layers, _)| layers.gpt())
            .unwrap_or(defaults.shape);
        let saved = match saved {
            Some(saved) => saved,
            None => {
                let (dtype, precision) = Precision::for_dtype(dtype, dev, kernels);
                let config = GptConfig {
                    vocab: corpus.vocabulary().len(),
                    block_size,
                    n_layer,
                    n_head,
                    n_embd,
                    dropout: asked.dropout.unwrap_or(0.0),
                    bias: false,
                    kernels,
                    precision,
                };
                let spec = ModelSpec::gpt(config.clone(), corpus.vocabulary().clone())?;
                let batch = training.fit.batch_size;
                footprint::check_gpt(&config, batch, dtype, memory::model_budget())?;
                let (gpt, varmap) = Gpt::seeded(config, training.fit.seed, dtype, dev)?;
                Saved {
                    spec,
                    model: Network::Gpt(gpt),
                    varmap,
                    optimizer: OptimizerState::default(),
                }
            }
        };
        Ok(Self {
            spec: saved.spec,
            training,
            model: saved.model,
            varmap: saved.varmap,
            data: Data::Text(corpus),
            optimizer: saved.optimizer,
            next_batch_size: None,
            notes,
            ranks: Ranks::single(),
        })
    }

    /// Trains the remaining epochs (or steps), calling `on_epoch` after each epoch (or each
    /// stretch of `eval_every` steps, scored on the validation data) and, with `save`,
    /// rewriting the checkpoint there (atomically): weights, optimizer state, and the
    /// description, which records the epochs, batches, steps and dropout masks so far. `stop`
    /// is asked after every batch: when it says so, training ends after that batch, the
    /// checkpoint is written, and the result says it was stopped.
    ///
    /// A run resumed from such a checkpoint takes the steps the uninterrupted run would have,
    /// bit for bit on the same machine, dtype and thread count (the tests check it).
    ///
    /// With `best`, the model of the epoch (or evaluation) with the lowest validation loss so
    /// far is written there too, whenever one improves on it. With a `patience` in the
    /// settings, training ends once that many epochs (or evaluations) have passed without an
    /// improvement.
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
            model,
            varmap,
            data,
            optimizer,
            next_batch_size,
            ranks,
            ..
        } = self;
        let (ranks, root) = (*ranks, ranks.is_root());
        if (training.fit.patience.is_some() || best.is_some()) && !data.has_validation() {
            fail!("--patience and --keep-best watch the validation loss, but nothing is held out: set --valid-fraction above 0")
        }
        let Some(first) = varmap.all_vars().into_iter().next() else {
            fail!("the model has no parameters to train")
        };
        let (dtype, dev) = (first.dtype(), first.device().clone());
        let learner_at = |training: &Training| -> Result<Learner> {
            let learner = Learner::new(&*model, varmap, training.fit.clone())?
                .resume_after(training.epochs)
                .at_batch(training.batch)
                .at_step(training.steps as usize)
                .on_ranks(ranks);
            Ok(learner)
        };
        let mut learner = learner_at(training)?;
        learner.optimizer_mut().restore(optimizer)?;
        let model = &*model;
        let mut epochs = Vec::new();
        let end = |epochs, stopped| Fitted {
            epochs,
            stopped,
            patience_ran_out: false,
        };
        let done = |learner: &Learner, training: &Training| match training.fit.steps {
            Some(steps) => learner.steps_done() >= steps,
            None => learner.epochs_done() >= training.fit.epochs,
        };
        while !done(&learner, training) && !training.out_of_patience() {
            let ended = match (training.fit.steps, &*data) {
                (None, Data::Samples { train, valid }) => {
                    learner.epoch_until(train, valid, &stop)?
                }
                (None, Data::Text(_)) => fail!("a text trains by steps: give --steps N"),
                (Some(steps), data) => {
                    let every = training.fit.eval_every();
                    let until = (learner.steps_done() / every + 1)
                        .saturating_mul(every)
                        .min(steps);
                    let from = match data {
                        Data::Samples { train, .. } => StepData::Samples(train),
                        Data::Text(corpus) => StepData::Text(corpus),
                    };
                    match learner.steps_until(from, until, &stop)? {
                        Some(mut stretch) if data.has_validation() => {
                            let scored = learner.scored(|| data.score(model, dtype, &dev))?;
                            stretch.valid_loss = Some(scored.loss);
                            stretch.valid_accuracy = scored.accuracy;
                            Some(stretch)
                        }
                        ended => ended,
                    }
                }
            };
            *optimizer = learner.optimizer_mut().state();
            training.epochs = learner.epochs_done();
            training.batch = learner.batches_done();
            training.steps = learner.steps_done() as u64;
            training.masks = model.masks_drawn();
            let at = |e: &Epoch| match training.fit.steps {
                Some(_) => e.step,
                None => e.epoch,
            };
            let improved = match (&ended, training.best) {
                (
                    Some(
                        e @ Epoch {
                            valid_loss: Some(loss),
                            ..
                        },
                    ),
                    best,
                ) => {
                    let better = best.is_none_or(|(_, b)| *loss < b);
                    if better {
                        training.best = Some((at(e), *loss));
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
            // Rank 0 alone writes: every rank holds the same weights.
            if let (Some(path), true) = (save, root) {
                io::save_checkpoint(path, spec, varmap, optimizer)?;
            }
            if let (Some(path), true, true) = (best, improved, root) {
                io::save_checkpoint(path, spec, varmap, optimizer)?;
            }
            let Some(epoch) = ended else {
                return Ok(end(epochs, true));
            };
            if resized {
                learner = learner_at(training)?;
                learner.optimizer_mut().restore(optimizer)?;
            }
            on_epoch(&epoch)?;
            epochs.push(epoch);
            if !done(&learner, training) && learner.any_stop(&stop) {
                return Ok(end(epochs, true));
            }
        }
        Ok(Fitted {
            patience_ran_out: training.out_of_patience() && !done(&learner, training),
            ..end(epochs, false)
        })
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

/// What a run's epochs (or stretches of steps) came to, as `--metrics-json` writes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Epochs (or, in a step run, scored stretches of steps) trained in this run.
    pub epochs: usize,
    /// The steps done, in all.
    pub steps: u64,
    /// The last epoch's training loss per sample (per character, for a text).
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
    /// Rows (windows, for a text) trained per second of the training steps.
    pub samples_per_sec: f64,
    /// For a text, characters trained per second of the training steps (windows × block size).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_sec: Option<f64>,
    /// Where it ran.
    pub device: String,
    /// In what precision.
    pub dtype: &'static str,
}

impl Run {
    /// The summary of `epochs`, trained by this run in `seconds` of wall time.
    pub fn summary(&self, epochs: &[Epoch], seconds: f64) -> Result<Summary> {
        let Some(last) = epochs.last() else {
            fail!("nothing ran: pass --epochs (or --steps) above those already trained")
        };
        let train_seconds: f64 = epochs.iter().map(|e| e.seconds).sum();
        let var = self.varmap.all_vars();
        let (device, dtype) = var.first().map_or(("cpu".to_string(), "f32"), |v| {
            (crate::device::name(v.device()), v.dtype().as_str())
        });
        let rows: usize = epochs.iter().map(|e| e.rows).sum();
        let (train_samples, valid_samples) = self.data.sizes();
        let tokens = match &self.data {
            Data::Text(corpus) => rows * corpus.options().block_size,
            Data::Samples { .. } => rows,
        };
        Ok(Summary {
            epochs: epochs.len(),
            steps: self.training.steps,
            train_loss: last.train_loss,
            valid_loss: last.valid_loss,
            valid_accuracy: last.valid_accuracy,
            train_samples,
            valid_samples,
            seconds,
            samples_per_sec: rows as f64 / train_seconds.max(1e-9),
            tokens_per_sec: matches!(self.data, Data::Text(_))
                .then(|| tokens as f64 / train_seconds.max(1e-9)),
            device,
            dtype,
        })
    }
}

/// A saved model and the test part of `data` to score (`eval`) or predict (`predict`).
pub struct Scoring {
    /// The model's description.
    pub spec: ModelSpec,
    /// The model.
    pub model: Network,
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
    let (spec, model) = io::load_model(path, dtype, &dev)?;
    let loaded = load(data, Part::Test, spec.loss, None, spec.reading(need_target))?;
    let samples = spec.prepare(loaded.samples, data)?;
    Ok(Scoring {
        spec,
        model,
        samples,
        dev,
        notes: loaded.notes,
    })
}

/// A saved GPT at `path` on `device` in `dtype`: its description, the model and the device
/// (for `nn eval --data text:PATH` and `nn generate`).
pub fn load_gpt(path: &Path, device: DeviceSpec, dtype: DType) -> Result<(ModelSpec, Gpt, Device)> {
    let dev = device.open_for(dtype)?;
    let (spec, model) = io::load_model(path, dtype, &dev)?;
    match model {
        Network::Gpt(gpt) => Ok((spec, gpt, dev)),
        Network::Net(_) => fail!(
            "model '{}' is a network of layers, not a GPT: only a model trained on text (--data text:PATH) reads and writes text",
            path.display()
        ),
    }
}

/// The loss of the GPT saved at `model` over the whole text at `text` (read with the model's
/// vocabulary, in consecutive windows of its block size), on `device` in `dtype`.
pub fn score_text(
    model: &Path,
    text: &Path,
    device: DeviceSpec,
    dtype: DType,
) -> Result<(ModelSpec, Evaluation)> {
    let (spec, gpt, dev) = load_gpt(model, device, dtype)?;
    let Some(saved) = &spec.gpt else {
        fail!("model '{}' describes no vocabulary", model.display())
    };
    let options = TextOptions {
        block_size: saved.config.block_size,
        valid_fraction: 0.0,
    };
    let corpus = Corpus::read_with(text, &saved.vocabulary, options)?;
    let scored = nn::evaluate_text(&gpt, &corpus, Span::Whole, &dev)?;
    Ok((spec, scored))
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
