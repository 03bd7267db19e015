//! Model files: a `.safetensors` file whose metadata describes the model ([`ModelSpec`]).
//!
//! The description holds everything needed to rebuild the model and its input
//! pipeline (layer sizes, activation, loss, classes, standardisation; for a GPT its
//! shape and vocabulary) and how it was trained ([`Training`], typed), so `eval`,
//! `predict` and `generate` need only the file and `train --resume` goes on with the
//! saved settings. A GPT's tensors are stored under nanoGPT's state-dict names
//! (`transformer.wte.weight`, …), the tied output layer once. Files written before
//! the training settings were typed (they stored the optimizer and the schedule as
//! text) still load.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Error, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use super::{atomic, safetensors_bytes, shape_text};
use crate::cli::NN;
use crate::data::text::Vocabulary;
use crate::data::{Normalization, Reading, Samples, Schema};
use crate::kernels::{Kernels, Precision};
use crate::nn::{
    check_sizes, Activation, FitConfig, Gpt, GptConfig, LayerSpec, Layers, Loss, Net, NetConfig,
    Network, OptimizerConfig, OptimizerKind, OptimizerState, Schedule,
};

/// The metadata key under which a model checkpoint describes its model.
pub(crate) const MODEL_KEY: &str = "simple-nn";

/// The metadata key under which weights exported for other tools (`nn export`) describe their
/// network: such a file is not a checkpoint.
pub(crate) const WEIGHTS_KEY: &str = "simple-nn-weights";

/// The prefix of the optimizer's tensors in a checkpoint.
const OPTIMIZER: &str = "optimizer.";

/// Everything needed to rebuild a trained model and its input pipeline, stored in its checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelSpec {
    /// The features of a sample, the units of each dense layer, and the outputs.
    pub sizes: Vec<usize>,
    /// The activation of the `--hidden` shorthand (and of files written before `layers`).
    pub activation: Activation,
    /// The hidden layers, in order; files of MLPs written before it had only `sizes` and `activation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Layers>,
    /// The shape of one sample when it is an image (`[C, H, W]`); else `[sizes[0]]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
    /// Whether the layers have biases.
    pub bias: bool,
    /// The loss it was trained with, which fixes the output head.
    pub loss: Loss,
    /// The number of classes, for classification.
    pub classes: Option<usize>,
    /// What the columns of the table it was trained on mean (names, text categories, class
    /// names): the files it reads later are read through it. `None` for other sources and for
    /// models saved before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Schema>,
    /// The feature standardisation fitted on the training data, if any.
    pub normalization: Option<Normalization>,
    /// How it was trained, so that `train --resume` can go on where it stopped.
    #[serde(default)]
    pub training: Option<Training>,
    /// For a GPT (trained on text), its shape and vocabulary; `None` for networks of layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt: Option<TextModel>,
}

/// What a GPT's description adds: the model's shape and the characters it reads and writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TextModel {
    /// nanoGPT's `GPTConfig` (the kernels are chosen when the model is loaded).
    pub config: GptConfig,
    /// The characters, in the order of their ids.
    pub vocabulary: Vocabulary,
}

/// The settings and progress of a model's training, saved with it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "TrainingRecord")]
pub struct Training {
    /// Epochs completed.
    pub epochs: usize,
    /// The training settings (optimizer, learning rate, schedule, batches, seed).
    pub fit: FitConfig,
    /// The fraction held out for validation (the split's seed is `fit.seed`).
    pub valid_fraction: f64,
    /// The optimizer's steps so far (its running tensors are saved beside the weights).
    #[serde(default)]
    pub steps: u64,
    /// The dropout masks drawn so far, so that a resumed run draws the ones it would have.
    #[serde(default)]
    pub masks: u64,
    /// Batches done of epoch `epochs + 1` when the run was stopped in the middle of it.
    #[serde(default)]
    pub batch: usize,
    /// The epoch (counted from 1; in a step run, the step) with the lowest validation loss so
    /// far, and that loss.
    #[serde(default)]
    pub best: Option<(usize, f64)>,
    /// Whether the epochs go shard by shard (the data was larger than the memory budget), so
    /// that a resumed run takes the same batches whatever its budget.
    #[serde(default)]
    pub sharded: bool,
    /// The derivation of the run's random streams ([`crate::rng::STREAMS`]); 0 in files written
    /// before the streams were split by purpose, whose batches and masks cannot be replayed.
    #[serde(default)]
    pub streams: u32,
}

impl Training {
    /// A training that has done nothing yet.
    pub fn new(fit: FitConfig, valid_fraction: f64) -> Self {
        Self {
            epochs: 0,
            fit,
            valid_fraction,
            steps: 0,
            masks: 0,
            batch: 0,
            best: None,
            sharded: false,
            streams: crate::rng::STREAMS,
        }
    }

    /// Whether `patience` epochs (in a step run, evaluations) have passed without a better
    /// validation loss.
    pub fn out_of_patience(&self) -> bool {
        match (self.fit.patience, self.best, self.fit.steps) {
            (Some(patience), Some((best, _)), None) => self.epochs >= best + patience,
            (Some(patience), Some((best, _)), Some(_)) => {
                let every = self.fit.eval_every();
                self.steps as usize >= best.saturating_add(patience.saturating_mul(every))
            }
            _ => false,
        }
    }
}

/// A saved [`Training`]: as written now, or as files written before the settings were typed.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum TrainingRecord {
    Typed {
        epochs: usize,
        fit: FitConfig,
        valid_fraction: f64,
        #[serde(default)]
        steps: u64,
        #[serde(default)]
        masks: u64,
        #[serde(default)]
        batch: usize,
        #[serde(default)]
        best: Option<(usize, f64)>,
        #[serde(default)]
        sharded: bool,
        #[serde(default)]
        streams: u32,
    },
    Text {
        epochs: usize,
        optimizer: String,
        lr: f64,
        momentum: f64,
        nesterov: bool,
        weight_decay: f64,
        schedule: String,
        batch_size: usize,
        seed: u64,
        valid_fraction: f64,
    },
}

impl TryFrom<TrainingRecord> for Training {
    type Error = String;

    fn try_from(record: TrainingRecord) -> std::result::Result<Self, String> {
        Ok(match record {
            TrainingRecord::Typed {
                epochs,
                fit,
                valid_fraction,
                steps,
                masks,
                batch,
                best,
                sharded,
                streams,
            } => Training {
                epochs,
                fit,
                valid_fraction,
                steps,
                masks,
                batch,
                best,
                sharded,
                streams,
            },
            TrainingRecord::Text {
                epochs,
                optimizer,
                lr,
                momentum,
                nesterov,
                weight_decay,
                schedule,
                batch_size,
                seed,
                valid_fraction,
            } => Training {
                epochs,
                fit: FitConfig {
                    optimizer: OptimizerConfig::new(
                        optimizer.parse::<OptimizerKind>()?,
                        momentum,
                        nesterov,
                        weight_decay,
                    ),
                    lr,
                    schedule: schedule.parse::<Schedule>()?,
                    batch_size,
                    epochs,
                    seed,
                    ..FitConfig::default()
                },
                valid_fraction,
                steps: 0,
                masks: 0,
                batch: 0,
                best: None,
                sharded: false,
                streams: 0,
            },
        })
    }
}

impl ModelSpec {
    /// A new model of `layers` for `train` (its shape and targets fix the input and the output layer).
    pub fn new(
        train: &Samples,
        layers: Layers,
        activation: Activation,
        bias: bool,
        loss: Loss,
        normalization: Option<Normalization>,
        table: Option<Schema>,
    ) -> Result<Self> {
        let outputs = match (loss, train.classes()) {
            (Loss::Bce, Some(2)) => 1,
            (Loss::Bce, classes) => fail!(
                "--loss bce needs two classes, the data has {}: use --loss cross-entropy",
                classes.unwrap_or(0)
            ),
            _ => train.n_outputs(),
        };
        let mut sizes = vec![train.n_features()];
        sizes.extend(layers.0.iter().filter_map(|l| match l {
            LayerSpec::Dense(n) => Some(*n),
            _ => None,
        }));
        sizes.push(outputs);
        check_sizes(&sizes)?;
        let spec = Self {
            sizes,
            activation,
            layers: Some(layers),
            input_shape: train.image_shape().map(|s| s.to_vec()),
            bias,
            loss,
            classes: train.classes(),
            table,
            normalization,
            training: None,
            gpt: None,
        };
        spec.net_config().shapes()?;
        Ok(spec)
    }

    /// A new GPT of `config` over `vocabulary` (its size is the model's `vocab`).
    pub fn gpt(config: GptConfig, vocabulary: Vocabulary) -> Result<Self> {
        let vocab = vocabulary.len();
        let config = GptConfig { vocab, ..config };
        config.validate()?;
        let layers = LayerSpec::Gpt {
            n_layer: config.n_layer,
            n_head: config.n_head,
            n_embd: config.n_embd,
        };
        Ok(Self {
            sizes: vec![vocab, vocab],
            activation: Activation::Gelu,
            layers: Some(Layers(vec![layers])),
            input_shape: None,
            bias: config.bias,
            loss: Loss::CrossEntropy,
            classes: Some(vocab),
            table: None,
            normalization: None,
            training: None,
            gpt: Some(TextModel { config, vocabulary }),
        })
    }

    /// The name of class `id`: the table's class name, or the id itself.
    pub fn class_name(&self, id: usize) -> String {
        let names = self.table.as_ref().and_then(|t| t.classes.as_ref());
        names
            .and_then(|names| names.get(id).cloned())
            .unwrap_or_else(|| id.to_string())
    }

    /// How a data source is read for this model: through its table's schema where it has one.
    pub fn reading(&self, need_target: bool) -> Reading<'_> {
        Reading::Saved {
            schema: self.table.as_ref(),
            classes: self.classes,
            need_target,
        }
    }

    /// The network's shape, on the default kernels.
    pub fn net_config(&self) -> NetConfig {
        let hidden = &self.sizes[1..self.sizes.len().max(1) - 1];
        NetConfig {
            input: self.input_shape.clone().unwrap_or(vec![self.sizes[0]]),
            layers: (self.layers.clone()).unwrap_or_else(|| Layers::dense(hidden, self.activation)),
            outputs: self.sizes.last().copied().unwrap_or(0),
            bias: self.bias,
            loss: self.loss,
            kernels: Kernels::default(),
        }
    }

    /// Checks that `samples` fit the model (features, classes), then prepares them as its
    /// training data was (standardisation); the errors name `source`, where they came from.
    pub fn prepare(&self, mut samples: Samples, source: &dyn std::fmt::Display) -> Result<Samples> {
        if samples.n_features() != self.sizes[0] {
            fail!(
                "--data {source} has {} features but the model takes {}: give it data shaped like its training data",
                samples.n_features(),
                self.sizes[0]
            )
        }
        if let (Some(model_classes), Some(data_classes)) = (self.classes, samples.classes()) {
            if data_classes > model_classes {
                fail!(
                    "--data {source} has labels up to {} but the model knows {model_classes} classes",
                    data_classes - 1
                )
            }
        }
        if let Some(norm) = &self.normalization {
            norm.apply(&mut samples)?;
        }
        match self.input_shape.as_deref() {
            Some(&[c, h, w]) if samples.image_shape().is_none() => {
                samples.with_image_shape([c, h, w])
            }
            _ => Ok(samples),
        }
    }

    /// A GPT's products from now on in `precision` (what its next checkpoint records).
    fn set_precision(&mut self, precision: Precision) {
        if let Some(text) = self.gpt.as_mut() {
            text.config.precision = precision;
        }
    }

    /// Whether this is a GPT whose projections multiply bf16 roundings of f32 weights.
    pub fn bf16_products(&self) -> bool {
        (self.gpt.as_ref()).is_some_and(|text| text.config.precision == Precision::Bf16)
    }

    /// The model its description builds from `vb`'s variables, on `kernels` (a GPT's
    /// projections in `precision`); its dropout masks are drawn from `seed`.
    pub fn build(
        &self,
        vb: VarBuilder,
        seed: u64,
        (kernels, precision): (Kernels, Precision),
    ) -> Result<Network> {
        Ok(match &self.gpt {
            Some(text) => {
                let config = GptConfig {
                    kernels,
                    precision,
                    ..text.config.clone()
                };
                Network::Gpt(Gpt::build(config, vb, seed)?)
            }
            None => {
                let config = NetConfig {
                    kernels,
                    ..self.net_config()
                };
                Network::Net(Net::build(config, vb, seed)?)
            }
        })
    }

    /// The names and shapes of the parameters such a model has, in `VarMap` layout, after
    /// checking that the description agrees with itself (sizes, input shape and layers).
    pub fn parameters(&self) -> Result<Vec<(String, Vec<usize>)>> {
        if let Some(text) = &self.gpt {
            let (vocab, config) = (text.vocabulary.len(), &text.config);
            if config.vocab != vocab || self.sizes != [vocab, vocab] {
                fail!(
                    "its GPT has {} tokens but its vocabulary {vocab} characters",
                    config.vocab
                )
            }
            config.validate()?;
            return Ok(config
                .parameters()
                .into_iter()
                .map(|(name, shape, _)| (name, shape))
                .collect());
        }
        let config = self.net_config();
        let dense = config.layers.0.iter().filter_map(|l| match l {
            LayerSpec::Dense(n) => Some(*n),
            _ => None,
        });
        let Some(features) = crate::nn::spec::elements(&config.input) else {
            fail!(
                "its input shape {:?} holds more values than can be counted",
                config.input
            )
        };
        let sizes: Vec<usize> = std::iter::once(features)
            .chain(dense)
            .chain([config.outputs])
            .collect();
        if sizes != self.sizes {
            fail!(
                "its sizes {:?} are not those of its input {:?} and layers '{}' ({sizes:?})",
                self.sizes,
                config.input,
                config.layers
            )
        }
        config.parameters()
    }
}

/// Where `--keep-best` keeps the last epoch's resumable checkpoint beside the best model at
/// `best`: `model.safetensors` → `model.last.safetensors`.
pub fn last_beside(best: &Path) -> std::path::PathBuf {
    let stem = best
        .file_stem()
        .map(|s| s.to_string_lossy())
        .unwrap_or_default();
    best.with_file_name(format!("{stem}.last.safetensors"))
}

/// Checks, before any work, that a model can be saved at `path`: a `.safetensors` name in a folder that can be written.
pub fn check_model_path(path: &Path) -> Result<()> {
    if path.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        fail!(
            "a model is saved as .safetensors, not '{}': rename it *.safetensors",
            path.display()
        )
    }
    atomic::check_writable(path)
}

/// Saves a model's parameters and its [`ModelSpec`] as one `.safetensors` file, atomically.
pub fn save_model(path: &Path, spec: &ModelSpec, varmap: &VarMap) -> Result<()> {
    save_checkpoint(path, spec, varmap, &OptimizerState::default())
}

/// [`save_model`] with the optimizer's running tensors beside the weights (named `optimizer.…`),
/// so that `train --resume` takes the steps an uninterrupted run would have.
pub fn save_checkpoint(
    path: &Path,
    spec: &ModelSpec,
    varmap: &VarMap,
    optimizer: &OptimizerState,
) -> Result<()> {
    check_model_path(path)?;
    let tensors: Vec<(String, Tensor)> = {
        let vars = varmap
            .data()
            .lock()
            .map_err(|_| Error::Msg("the VarMap's lock is poisoned".into()))?;
        let mut tensors = Vec::with_capacity(vars.len());
        for (name, _) in spec.parameters()? {
            let Some(var) = vars.get(&name) else {
                fail!("the model has no parameter '{name}' although its description needs it")
            };
            tensors.push((name, var.as_tensor().to_device(&Device::Cpu)?));
        }
        for (name, t) in &optimizer.tensors {
            tensors.push((format!("{OPTIMIZER}{name}"), t.to_device(&Device::Cpu)?));
        }
        tensors
    };
    let description = serde_json::to_string(spec)
        .map_err(|e| Error::Msg(format!("cannot describe the model: {e}")))?;
    let metadata = HashMap::from([(MODEL_KEY.to_string(), description)]);
    atomic::write(path, &safetensors_bytes(&tensors, Some(metadata))?)
}

/// Loads a model saved by [`save_model`]: its description and the model, in `dtype` on `dev`.
///
/// The model runs on the default kernels; `load_trainable` chooses them.
pub fn load_model(path: &Path, dtype: DType, dev: &Device) -> Result<(ModelSpec, Network)> {
    let kernels = Kernels::default();
    let (dtype, precision) = stored(path, dtype, dev, kernels);
    let (mut spec, parameters, _) = read_model(path, dtype, dev)?;
    spec.set_precision(precision);
    let vb = VarBuilder::from_tensors(parameters, dtype, dev);
    let model = spec.build(vb, 0, (kernels, precision))?;
    Ok((spec, model))
}

/// The dtype the model at `path` is loaded in and its products' precision, for a run asked to
/// go in `dtype`: a GPT's `bf16` on the CPU's fused kernels is f32 weights and bf16 products
/// ([`Precision::for_dtype`]); anything else loads in `dtype`.
fn stored(path: &Path, dtype: DType, dev: &Device, kernels: Kernels) -> (DType, Precision) {
    match saved_description(path).is_some_and(|spec| spec.gpt.is_some()) {
        true => Precision::for_dtype(dtype, dev, kernels),
        false => (dtype, Precision::Full),
    }
}

/// Loads a model saved by [`save_checkpoint`] with trainable parameters, on `kernels`: its
/// description, the model (its dropout where it stopped), its variables, and the optimizer's state.
pub fn load_trainable(
    path: &Path,
    kernels: Kernels,
    dtype: DType,
    dev: &Device,
) -> Result<(ModelSpec, Network, VarMap, OptimizerState)> {
    let (dtype, precision) = stored(path, dtype, dev, kernels);
    let (mut spec, parameters, mut optimizer) = read_model(path, dtype, dev)?;
    spec.set_precision(precision);
    let varmap = VarMap::new();
    {
        let mut vars = varmap
            .data()
            .lock()
            .map_err(|_| Error::Msg("the VarMap's lock is poisoned".into()))?;
        for (name, tensor) in parameters {
            vars.insert(name, candle_core::Var::from_tensor(&tensor)?);
        }
    }
    let vb = VarBuilder::from_varmap(&varmap, dtype, dev);
    let (seed, masks, steps) = spec
        .training
        .as_ref()
        .map_or((0, 0, 0), |t| (t.fit.seed, t.masks, t.steps));
    let model = spec.build(vb, seed, (kernels, precision))?;
    model.set_masks_drawn(masks);
    optimizer.steps = steps;
    Ok((spec, model, varmap, optimizer))
}

/// The dtype the parameters of the model file at `path` are stored in, read from the file's
/// header alone; `None` where the file cannot tell (loading it then says why).
pub fn saved_dtype(path: &Path) -> Option<DType> {
    let header = header(path)?;
    let dtype = (header.iter())
        .filter(|(name, _)| *name != "__metadata__" && !name.starts_with(OPTIMIZER))
        .find_map(|(_, tensor)| tensor.get("dtype")?.as_str().map(str::to_string))?;
    match dtype.as_str() {
        "F64" => Some(DType::F64),
        "F32" => Some(DType::F32),
        "BF16" => Some(DType::BF16),
        "F16" => Some(DType::F16),
        _ => None,
    }
}

/// Whether the model file at `path` is a GPT whose products ran on bf16 roundings of its f32
/// weights (`--dtype bf16` on the CPU), read from its header alone.
pub fn saved_bf16_products(path: &Path) -> bool {
    saved_description(path).is_some_and(|spec| spec.bf16_products())
}

/// The dtype a run resumed from the model file at `path` goes on in unless told otherwise: bf16
/// where its products ran in bf16 (on f32 weights), else the dtype its weights are stored in.
pub fn resumed_dtype(path: &Path) -> Option<DType> {
    match saved_bf16_products(path) {
        true => Some(DType::BF16),
        false => saved_dtype(path),
    }
}

/// The description of the model file at `path`, read from its header alone; `None` where it
/// has none (loading it then says why).
fn saved_description(path: &Path) -> Option<ModelSpec> {
    let mut header = header(path)?;
    let serde_json::Value::Object(metadata) = header.remove("__metadata__")? else {
        return None;
    };
    serde_json::from_str(metadata.get(MODEL_KEY)?.as_str()?).ok()
}

/// The header of a `.safetensors` file, read without its tensors: `None` where `path` cannot be
/// read as one.
pub(crate) fn header(path: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut size = [0u8; 8];
    file.read_exact(&mut size).ok()?;
    // A safetensors header is a JSON object of at most 100 MB (the format's own limit).
    let size = usize::try_from(u64::from_le_bytes(size))
        .ok()?
        .min(100_000_000);
    let mut text = Vec::new();
    file.take(size as u64).read_to_end(&mut text).ok()?;
    serde_json::from_slice(&text).ok()
}

/// A model file's description and parameters, checked against each other, and the optimizer
/// state saved beside them (its tensors; the step count is the description's).
pub(crate) fn read_model(
    path: &Path,
    dtype: DType,
    dev: &Device,
) -> Result<(ModelSpec, HashMap<String, Tensor>, OptimizerState)> {
    let shown = path.display();
    if path.is_dir() {
        fail!("'{shown}' is a folder: name the model file in it that `train --save` wrote (*.safetensors)")
    }
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Msg(format!(
            "there is no model '{shown}': train one first with `{NN} train --data … --save {shown}`"
        )),
        _ => Error::Msg(format!("cannot read model '{shown}': {e}")),
    })?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::Msg(format!("model '{shown}' is not a safetensors file ({e})")))?;
    let metadata = metadata.metadata().as_ref();
    if metadata.is_some_and(|m| m.contains_key(WEIGHTS_KEY)) {
        fail!("'{shown}' holds weights exported by `nn export` for other tools, without the training state: give the checkpoint they were exported from (the file `nn train --save` wrote)")
    }
    let Some(description) = metadata.and_then(|m| m.get(MODEL_KEY)) else {
        fail!("'{shown}' has no model description: it was not saved by `nn train` (weights of the tutorial's network load with `xor --init`)")
    };
    let spec: ModelSpec = serde_json::from_str(description)
        .map_err(|e| Error::Msg(format!("model '{shown}' has a broken description ({e})")))?;
    check_sizes(&spec.sizes)?;
    let needed = spec.parameters().map_err(|e| {
        Error::Msg(format!(
            "model '{shown}' has a broken description ({})",
            crate::error::message(&e)
        ))
    })?;
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::Msg(format!("model '{shown}': {}", crate::error::message(&e))))?;
    let mut parameters = HashMap::new();
    for (name, shape) in needed {
        let Some(tensor) = tensors.remove(&name) else {
            fail!(
                "model '{shown}' lacks '{name}', which its description ({}) needs",
                spec.net_config().layers
            )
        };
        if tensor.dims() != shape.as_slice() {
            fail!(
                "model '{shown}': '{name}' has shape {}, its description needs {}",
                shape_text(tensor.dims()),
                shape_text(&shape)
            )
        }
        parameters.insert(name, tensor.to_dtype(dtype)?.to_device(dev)?);
    }
    let mut optimizer = OptimizerState::default();
    let names: Vec<String> = tensors.keys().cloned().collect();
    for name in names {
        if let Some(slot) = name.strip_prefix(OPTIMIZER) {
            if let Some(t) = tensors.remove(&name) {
                optimizer.tensors.push((slot.to_string(), t));
            }
        }
    }
    optimizer.tensors.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(extra) = tensors.keys().min() {
        fail!("model '{shown}' has an unexpected tensor '{extra}' that its description does not mention")
    }
    Ok((spec, parameters, optimizer))
}
