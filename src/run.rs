//! A training run, from a data source to a trained model: what `nn train` does, as library calls.
//!
//! [`Run::new`] shapes a new model for the data, [`Run::resume`] takes up a saved
//! one with its settings (checking that the run asks for that model), and
//! [`Run::fit`] trains the remaining epochs; the model's description then
//! records them, so [`crate::io::save_model`] writes a file that resumes again.

use std::path::Path;

use candle_core::{DType, Device, Result};
use candle_nn::VarMap;

use crate::data::{memory, Fit, Loaded, Normalization, Part, Samples, Source, TargetKind};
use crate::device::DeviceSpec;
use crate::io::{self, ModelSpec, Training};
use crate::kernels::Kernels;
use crate::nn::{
    footprint, Activation, Epoch, Layers, Learner, Loss, Net, NetConfig, OptimizerState,
};

/// The shape a run asks for; what is left `None` takes the default (new model) or the saved choice (resumed one).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Shape {
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
}

impl Shape {
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
    /// Lines to tell the user about reading the data (a table's classes, columns left out, rows dropped).
    pub notes: Vec<String>,
}

impl Run {
    /// A new model of `shape` for the training part of `data`, split and trained as `training` says, seeded by its seed.
    pub fn new(
        data: &Source,
        shape: &Shape,
        training: Training,
        kernels: Kernels,
        dtype: DType,
        dev: &Device,
    ) -> Result<Self> {
        let loss = shape.loss.unwrap_or(Loss::CrossEntropy);
        let activation = shape.activation.unwrap_or(Activation::Relu);
        let layers = shape.layers.as_ref().map_or_else(
            || Layers::dense(&[64, 32], activation),
            |(layers, _)| layers.clone(),
        );
        // A spec that cannot work on the data's shape is refused before anything loads (for
        // flat rows the feature count does not change what can work).
        let input = shape.image_shape.or(data.image_shape(Part::Train)?);
        layers
            .shapes(&input.map_or(vec![1], |image| image.to_vec()))
            .map_err(|e| {
                candle_core::Error::Msg(format!("--data {data}: {}", crate::error::message(&e)))
            })?;
        let loaded = load(data, Part::Train, loss, shape.image_shape, Fit::New)?;
        let mut training = training;
        training.sharded = loaded.samples.is_sharded();
        let (mut train, mut valid) = loaded
            .samples
            .split(training.valid_fraction, training.fit.seed)?;
        let normalization = (shape.normalize)
            .then(|| Normalization::fit(&train))
            .transpose()?;
        if let Some(norm) = &normalization {
            norm.apply(&mut train)?;
            norm.apply(&mut valid)?;
        }
        let spec = ModelSpec::new(
            &train,
            layers,
            activation,
            !shape.no_bias,
            loss,
            normalization,
            loaded.schema,
        )?;
        let config = NetConfig {
            kernels,
            ..spec.net_config()
        };
        let (optimizer, batch) = (training.fit.optimizer.kind(), training.fit.batch_size);
        let budget = memory::model_budget();
        footprint::check(&config, optimizer, batch.min(train.len()), dtype, budget)?;
        let (net, varmap) = Net::seeded(config, training.fit.seed, dtype, dev)?;
        let optimizer = OptimizerState::default();
        Ok(Self {
            spec,
            training,
            net,
            varmap,
            train,
            valid,
            optimizer,
            notes: loaded.notes,
        })
    }

    /// The model saved at `path`, to train on to `epochs` epochs in all on the training part of `data`.
    pub fn resume(
        path: &Path,
        data: &Source,
        shape: &Shape,
        epochs: usize,
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
        let asked = shape
            .layers
            .as_ref()
            .map(|(layers, flag)| (layers, flag.as_str()));
        let training = spec
            .resume(asked, shape.activation, shape.loss, epochs)
            .map_err(context)?;
        let loaded = load(
            data,
            Part::Train,
            spec.loss,
            shape.image_shape,
            spec.fit(true),
        )?;
        let samples = spec.prepare(loaded.samples, data)?;
        let samples = samples.with_sharding(training.sharded);
        let (train, valid) = samples.split(training.valid_fraction, training.fit.seed)?;
        // Its weights and the optimizer's state are loaded; gradients and batches are to come.
        let (optimizer_kind, batch) = (training.fit.optimizer.kind(), training.fit.batch_size);
        let budget = memory::model_budget();
        footprint::check(
            net.config(),
            optimizer_kind,
            batch.min(train.len()),
            dtype,
            budget,
        )?;
        Ok(Self {
            spec,
            training,
            net,
            varmap,
            train,
            valid,
            optimizer,
            notes: loaded.notes,
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
            ..
        } = self;
        if (training.fit.patience.is_some() || best.is_some()) && valid.is_empty() {
            fail!("--patience and --keep-best watch the validation loss, but no rows are held out: set --valid-fraction above 0")
        }
        let mut learner = Learner::new(net, varmap, training.fit.clone())?
            .resume_after(training.epochs)
            .at_batch(training.batch);
        learner.optimizer_mut().restore(optimizer)?;
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
    /// The one line that says where a stopped run stopped, and how to go on (or that nothing was kept).
    pub fn stopped_line(&self, save: Option<&Path>, data: &Source) -> String {
        let (t, at) = (
            &self.training,
            format!("stopped in epoch {}", self.training.epochs + 1),
        );
        let at = format!("{at} after {} batches", t.batch);
        match save {
            Some(path) => format!(
                "{at}: saved to {}; go on with `nn train --resume {} --data {data} --epochs {}`",
                path.display(),
                path.display(),
                t.fit.epochs
            ),
            None => format!("{at}: nothing was kept (train with --save PATH to keep the state)"),
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
    let loaded = load(data, Part::Test, spec.loss, None, spec.fit(need_target))?;
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
    fit: Fit,
) -> Result<Loaded> {
    let context = |e: candle_core::Error| {
        candle_core::Error::Msg(format!("--data {data}: {}", crate::error::message(&e)))
    };
    let mut loaded = data.read(part, loss.targets(), fit).map_err(context)?;
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
