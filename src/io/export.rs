//! Weights for other tools: a model file's parameters alone, as PyTorch's `load_state_dict`
//! takes them, with a small description that rebuilds the network.
//!
//! A checkpoint carries the optimizer's running tensors (`optimizer.…`) beside the weights, so
//! that `train --resume` goes on exactly; a `load_state_dict(…, strict=True)` refuses them as
//! unexpected keys. [`export`] writes the parameters under the names the model has
//! (`layers.{i}.weight`, `layers.{i}.bias`; batch norm's `running_mean` and `running_var`
//! too), in the dtype they were saved in, and for each batch norm the int64 scalar
//! `layers.{i}.num_batches_tracked` that PyTorch's `BatchNorm` keeps as a buffer (the training
//! batches so far, which batch norm saw in training mode, one per optimizer step): with it a
//! strict load takes the file whatever the PyTorch version.
//!
//! The description is the metadata key `simple-nn-weights`, a JSON object ([`Description`]): the
//! hidden layers' spec, the input shape, the output units and head, bias, loss, classes, the
//! table's schema and the `--normalize` statistics. It is not a checkpoint's description, so
//! `eval`, `predict` and `train --resume` refuse such a file with one line naming the
//! checkpoint to use. `examples/torch_load_export.py` is the PyTorch module that loads it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result, Tensor};

use super::model::{header, read_model, saved_dtype, ModelSpec, TextModel, MODEL_KEY, WEIGHTS_KEY};
use super::{atomic, safetensors_bytes};
use crate::data::{Normalization, Schema};
use crate::nn::{Head, Loss};

named_enum! {
    /// The kind of file `nn export` writes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Format("format") {
        /// The weights alone, as PyTorch's `load_state_dict` takes them ([`export`]).
        Safetensors = "safetensors",
        /// An ONNX graph of the whole network, for onnxruntime and others (the `onnx` feature).
        Onnx = "onnx",
    }
}

/// What an exported file says of its network, under its metadata key `simple-nn-weights`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Description {
    /// The hidden layers, as `train --layers` takes them; a `dense` after an image-shaped
    /// layer flattens first, and the parameters of the i-th layer that has any are `layers.{i}.…`.
    pub layers: String,
    /// The shape of one sample: `[features]`, or `[C, H, W]` for images.
    pub input_shape: Vec<usize>,
    /// The units of the output layer, a dense layer after the hidden ones.
    pub outputs: usize,
    /// What turns the output layer's values into `nn predict`'s numbers: `softmax`
    /// (cross-entropy), `sigmoid` (bce, and half-sse, whose network ends in one) or `identity`.
    pub head: String,
    /// Whether dense and conv layers have biases.
    pub bias: bool,
    /// The loss the model was trained with.
    pub loss: Loss,
    /// The number of classes, for classification.
    pub classes: Option<usize>,
    /// The columns of the table it was trained on (names, text categories, class names).
    pub table: Option<Schema>,
    /// The standardisation applied to every input, `(x − mean) / std`, before the network.
    pub normalization: Option<Normalization>,
    /// For a GPT, its shape and vocabulary: the tensors are nanoGPT's state dict less
    /// `lm_head.weight` (the output layer, tied to `transformer.wte.weight` and stored once),
    /// which nanoGPT's `GPT` takes with `load_state_dict(…, strict=False)`, as `torch_gpt.py
    /// --load` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpt: Option<TextModel>,
}

/// What [`export`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// The file written.
    pub path: PathBuf,
    /// The tensors in it, `num_batches_tracked` included.
    pub tensors: usize,
    /// The numbers the parameters hold.
    pub parameters: usize,
    /// The dtype of the parameters.
    pub dtype: DType,
    /// The optimizer's tensors of the checkpoint that were left out.
    pub left_out: usize,
}

impl std::fmt::Display for Exported {
    /// `wrote 6 tensors (4546 f32 values) to w.safetensors; left out the optimizer's 12 tensors`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote {} tensors ({} {} values) to {}; left out the optimizer's {} tensors",
            self.tensors,
            self.parameters,
            self.dtype.as_str(),
            self.path.display(),
            self.left_out
        )
    }
}

/// Checks, before any work, that exported weights can be written at `output`: a `.safetensors`
/// name in a folder that can be written, and not a checkpoint of `nn train` (which it would
/// replace, losing the training state).
pub fn check_output(output: &Path) -> Result<()> {
    let shown = output.display();
    if output.extension().and_then(|e| e.to_str()) != Some("safetensors") || output.is_dir() {
        fail!("--output '{shown}': weights are written to a .safetensors file: name one, e.g. weights.safetensors")
    }
    atomic::check_writable(output)?;
    if output.exists() && metadata_of(output).is_some_and(|m| m.contains_key(MODEL_KEY)) {
        fail!("--output '{shown}' is a checkpoint of `nn train`, which exporting over it would lose: write the weights to another file")
    }
    Ok(())
}

/// Writes the weights of the model file at `model` to `output` (see the module's description),
/// checking `output` first, and says what it wrote.
pub fn export(model: &Path, output: &Path) -> Result<Exported> {
    check_output(output)?;
    let dtype = saved_dtype(model).unwrap_or(DType::F32);
    let (spec, mut parameters, optimizer) = read_model(model, dtype, &Device::Cpu)?;
    let steps = spec.training.as_ref().map_or(0, |t| t.steps);
    let mut tensors = Vec::new();
    let mut count = 0;
    for (name, _) in spec.parameters()? {
        let Some(t) = parameters.remove(&name) else {
            fail!("model '{}' lacks '{name}'", model.display())
        };
        count += t.elem_count();
        if let Some(layer) = name.strip_suffix(".running_mean") {
            let batches = i64::try_from(steps).unwrap_or(i64::MAX);
            let tracked = Tensor::new(batches, &Device::Cpu)?;
            tensors.push((format!("{layer}.num_batches_tracked"), tracked));
        }
        tensors.push((name, t));
    }
    let description = describe(&spec);
    let json = serde_json::to_string(&description)
        .map_err(|e| candle_core::Error::Msg(format!("cannot describe the weights: {e}")))?;
    let metadata = HashMap::from([(WEIGHTS_KEY.to_string(), json)]);
    atomic::write(output, &safetensors_bytes(&tensors, Some(metadata))?)?;
    Ok(Exported {
        path: output.to_path_buf(),
        tensors: tensors.len(),
        parameters: count,
        dtype,
        left_out: optimizer.tensors.len(),
    })
}

/// What an exported file says of the network of `spec` (the safetensors and the ONNX export alike).
pub(crate) fn describe(spec: &ModelSpec) -> Description {
    let config = spec.net_config();
    let head = match (spec.loss, config.loss.head()) {
        _ if spec.gpt.is_some() => "logits",
        (Loss::CrossEntropy, _) => "softmax",
        (Loss::Bce, _) | (_, Head::Sigmoid) => "sigmoid",
        _ => "identity",
    };
    Description {
        layers: config.layers.to_string(),
        input_shape: match &spec.gpt {
            Some(text) => vec![text.config.block_size],
            None => config.input.clone(),
        },
        outputs: config.outputs,
        head: head.to_string(),
        bias: config.bias,
        loss: spec.loss,
        classes: spec.classes,
        table: spec.table.clone(),
        normalization: spec.normalization.clone(),
        gpt: spec.gpt.clone(),
    }
}

/// The metadata of a `.safetensors` file, where it has any.
fn metadata_of(path: &Path) -> Option<serde_json::Map<String, serde_json::Value>> {
    match header(path)?.remove("__metadata__")? {
        serde_json::Value::Object(metadata) => Some(metadata),
        _ => None,
    }
}
