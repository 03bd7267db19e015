//! Saving and loading weights: `.npz` in the tutorial's layout, `.safetensors` in the `VarMap`'s.
//!
//! - `.npz`: arrays `w0`, `w1`, … of shape `(in, out)`, float64, as the
//!   tutorial's numpy code holds them; `numpy.load` reads the file.
//! - `.safetensors`: tensors named [`weight_name`]`(i)` (`layers.0.weight`, …)
//!   of shape `(out, in)`, as the network's `VarMap` holds them, in the
//!   network's dtype.
//!
//! Files are written to a temporary name in the same folder and renamed into
//! place, so an interrupted save never leaves a half-written file where the
//! last good one was. Loading checks every name and shape against the layer
//! sizes it was asked for, and says what it expected.
//!
//! Bigger models ([`save_model`], [`load_model`]) are `.safetensors` files
//! whose metadata holds a [`ModelSpec`]: everything needed to rebuild the
//! model and its input pipeline, so `eval` and `predict` need only the file.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Error, Result, Tensor};
use candle_nn::{VarBuilder, VarMap};

use crate::atomic;
use crate::loss::Loss;
use crate::model::{check_sizes, sizes_of, weight_name, Activation, Mlp, MlpConfig};
use crate::samples::Normalization;

/// A checkpoint file format, chosen by the file's extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// numpy's `.npz`, tutorial layout, float64.
    Npz,
    /// `.safetensors`, `VarMap` layout and names.
    Safetensors,
}

impl Format {
    /// The name under which this format stores layer `i`'s weight.
    fn name(self, layer: usize) -> String {
        match self {
            Format::Npz => format!("w{layer}"),
            Format::Safetensors => weight_name(layer),
        }
    }

    /// The stored shape of a weight whose tutorial shape is `(rows, cols)`.
    fn stored_shape(self, rows: usize, cols: usize) -> (usize, usize) {
        match self {
            Format::Npz => (rows, cols),
            Format::Safetensors => (cols, rows),
        }
    }

    /// The format of `path`, from its extension.
    pub fn of(path: &Path) -> Result<Self> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("npz") => Ok(Format::Npz),
            Some("safetensors") => Ok(Format::Safetensors),
            _ => fail!(
                "cannot tell the checkpoint format of '{}': name it *.npz or *.safetensors",
                path.display()
            ),
        }
    }
}

/// Saves weights given in the tutorial's layout (`w_i` of shape `(in, out)`) to `path`.
pub fn save(path: &Path, ws: &[Tensor]) -> Result<()> {
    let format = Format::of(path)?;
    atomic::write_with(path, |tmp| match format {
        Format::Npz => {
            let arrays = ws
                .iter()
                .enumerate()
                .map(|(i, w)| Ok((format!("w{i}"), w.to_dtype(DType::F64)?)))
                .collect::<Result<Vec<_>>>()?;
            Tensor::write_npz(&arrays, tmp)
        }
        Format::Safetensors => {
            let tensors = ws
                .iter()
                .enumerate()
                .map(|(i, w)| Ok((weight_name(i), w.t()?.contiguous()?)))
                .collect::<Result<HashMap<_, _>>>()?;
            candle_core::safetensors::save(&tensors, tmp)
        }
    })
}

/// The layer sizes of the network saved in `path`, read from its weights' shapes.
pub fn sizes(path: &Path) -> Result<Vec<usize>> {
    let (format, tensors) = read(path)?;
    let mut ws = Vec::new();
    while let Some(tensor) = tensors.get(&format.name(ws.len())) {
        ws.push(match format {
            Format::Npz => tensor.clone(),
            Format::Safetensors => tensor.t()?,
        });
    }
    if ws.is_empty() {
        fail!(
            "checkpoint '{}' holds no '{}': it is not a weights file of this crate",
            path.display(),
            format.name(0)
        )
    }
    sizes_of(&ws).map_err(|e| {
        Error::Msg(format!(
            "checkpoint '{}': {}",
            path.display(),
            crate::error::message(&e)
        ))
    })
}

/// Loads the weights of a network with layer sizes `sizes`, in the tutorial's layout, as `dtype` on `dev`.
pub fn load(path: &Path, sizes: &[usize], dtype: DType, dev: &Device) -> Result<Vec<Tensor>> {
    check_sizes(sizes)?;
    let (format, mut found) = read(path)?;
    let expected_names: Vec<String> = (0..sizes.len() - 1).map(|i| format.name(i)).collect();
    let mut ws = Vec::with_capacity(expected_names.len());
    for (i, name) in expected_names.iter().enumerate() {
        let expected = format.stored_shape(sizes[i], sizes[i + 1]);
        let Some(tensor) = found.remove(name) else {
            fail!(
                "checkpoint '{}' has no tensor '{name}': for layer sizes {sizes:?} it needs {expected_names:?}",
                path.display()
            )
        };
        let found_dims = tensor.dims();
        if found_dims != [expected.0, expected.1] {
            fail!(
                "checkpoint '{}': '{name}' has shape {}, expected {expected:?} for layer sizes {sizes:?}",
                path.display(),
                shape_text(found_dims)
            )
        }
        if !tensor.dtype().is_float() {
            fail!(
                "checkpoint '{}': '{name}' holds {:?} values, expected floats (f64 or f32)",
                path.display(),
                tensor.dtype()
            )
        }
        let w = match format {
            Format::Npz => tensor,
            Format::Safetensors => tensor.t()?,
        };
        ws.push(w.contiguous()?.to_dtype(dtype)?.to_device(dev)?);
    }
    if let Some(extra) = found.keys().min() {
        fail!(
            "checkpoint '{}' has an unexpected tensor '{extra}': for layer sizes {sizes:?} it holds only {expected_names:?}",
            path.display()
        )
    }
    Ok(ws)
}

/// Every tensor in `path`, by name, on the CPU.
fn read(path: &Path) -> Result<(Format, HashMap<String, Tensor>)> {
    let format = Format::of(path)?;
    let tensors = match format {
        Format::Npz => check_npz(path)
            .and_then(|()| Tensor::read_npz(path))
            .map(|arrays| arrays.into_iter().collect()),
        Format::Safetensors => candle_core::safetensors::load(path, &Device::Cpu),
    };
    let tensors = tensors.map_err(|e| {
        Error::Msg(format!(
            "cannot read checkpoint '{}': {}",
            path.display(),
            crate::error::message(&e)
        ))
    })?;
    Ok((format, tensors))
}

/// Checks, before candle reads an `.npz`, that every array's header agrees with the bytes really present.
///
/// candle allocates what a `.npy` header declares before reading the data,
/// so a small file claiming a huge array would exhaust memory or abort.
fn check_npz(path: &Path) -> Result<()> {
    use std::io::Read;
    let file_len = std::fs::metadata(path)?.len();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path)?)
        .map_err(|e| Error::Msg(format!("not a zip archive ({e})")))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| Error::Msg(format!("entry {i} is unreadable ({e})")))?;
        let name = entry
            .name()
            .map_or_else(|_| format!("entry {i}"), |n| n.to_string());
        let size = entry.size();
        if size > file_len {
            fail!("'{name}' claims {size} bytes, more than the whole file holds ({file_len})")
        }
        let mut prefix = [0u8; 12];
        entry
            .read_exact(&mut prefix)
            .map_err(|_| Error::Msg(format!("'{name}' is too short to be a .npy array")))?;
        if &prefix[..6] != b"\x93NUMPY" {
            fail!("'{name}' is not a .npy array (bad magic)")
        }
        let (header_len, header_start) = match prefix[6] {
            1 => (u64::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10u64),
            2 | 3 => (
                u64::from(u32::from_le_bytes([
                    prefix[8], prefix[9], prefix[10], prefix[11],
                ])),
                12u64,
            ),
            v => fail!("'{name}' has .npy version {v}, which this reader does not know"),
        };
        if header_start + header_len > size {
            fail!("'{name}' declares a {header_len}-byte header in {size} bytes")
        }
        let mut header = vec![0u8; header_len as usize];
        let skip = (header_start - 10) as usize;
        let mut rest = prefix[10..].to_vec();
        rest.drain(..skip.min(rest.len()));
        let have = rest.len().min(header.len());
        header[..have].copy_from_slice(&rest[..have]);
        entry
            .read_exact(&mut header[have..])
            .map_err(|_| Error::Msg(format!("'{name}' ends inside its header")))?;
        let header = String::from_utf8_lossy(&header);
        let data = npy_data_bytes(&header).ok_or_else(|| {
            Error::Msg(format!(
                "'{name}' has a .npy header this reader cannot size: {}",
                header.trim()
            ))
        })?;
        if header_start + header_len + data > size {
            fail!(
                "'{name}' declares {data} bytes of data but holds {}: the file is truncated or its header is wrong",
                size.saturating_sub(header_start + header_len)
            )
        }
    }
    Ok(())
}

/// The bytes of data a `.npy` header declares (`descr` item size × the product of `shape`), if it can tell.
fn npy_data_bytes(header: &str) -> Option<u64> {
    let after = |key: &str| header.split_once(key).map(|(_, rest)| rest);
    let descr = after("'descr':")?
        .trim_start()
        .trim_start_matches('\'')
        .split('\'')
        .next()?;
    let item: u64 = descr
        .trim_start_matches(['<', '>', '|', '='])
        .get(1..)?
        .parse()
        .ok()?;
    let shape = after("'shape':")?
        .trim_start()
        .strip_prefix('(')?
        .split(')')
        .next()?;
    shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .try_fold(item, |acc, d| acc.checked_mul(d.parse::<u64>().ok()?))
}

/// A shape as `(3, 4)`, the way numpy writes it.
fn shape_text(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("({})", dims.join(", "))
}

/// The metadata key under which a model checkpoint describes its model.
const MODEL_KEY: &str = "simple-nn";

/// Everything needed to rebuild a trained model and its input pipeline, stored in its checkpoint.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelSpec {
    /// Layer sizes, input first.
    pub sizes: Vec<usize>,
    /// The hidden layers' activation.
    pub activation: Activation,
    /// Whether the layers have biases.
    pub bias: bool,
    /// The loss it was trained with, which fixes the output head.
    pub loss: Loss,
    /// The number of classes, for classification.
    pub classes: Option<usize>,
    /// The feature standardisation fitted on the training data, if any.
    pub normalization: Option<Normalization>,
    /// How it was trained, so that `train --resume` can go on where it stopped.
    #[serde(default)]
    pub training: Option<Training>,
}

/// The settings and progress of a model's training, saved with it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Training {
    /// Epochs completed.
    pub epochs: usize,
    /// The optimizer, as written on the command line (`adamw`, …).
    pub optimizer: String,
    /// The base learning rate.
    pub lr: f64,
    /// Momentum (momentum SGD).
    pub momentum: f64,
    /// Nesterov momentum (momentum SGD).
    pub nesterov: bool,
    /// Weight decay.
    pub weight_decay: f64,
    /// The learning-rate schedule, as written on the command line.
    pub schedule: String,
    /// Rows per minibatch.
    pub batch_size: usize,
    /// The seed of the split and the batch order.
    pub seed: u64,
    /// The fraction held out for validation.
    pub valid_fraction: f64,
}

impl ModelSpec {
    /// The network's shape.
    pub fn config(&self) -> MlpConfig {
        MlpConfig {
            sizes: self.sizes.clone(),
            activation: self.activation,
            bias: self.bias,
            head: self.loss.head(),
        }
    }

    /// The names and shapes of the parameters such a model has, in `VarMap` layout.
    fn parameters(&self) -> Vec<(String, Vec<usize>)> {
        let mut names = Vec::new();
        for (i, pair) in self.sizes.windows(2).enumerate() {
            names.push((weight_name(i), vec![pair[1], pair[0]]));
            if self.bias {
                names.push((format!("layers.{i}.bias"), vec![pair[1]]));
            }
        }
        names
    }
}

/// Saves a model's parameters and its [`ModelSpec`] as one `.safetensors` file, atomically.
pub fn save_model(path: &Path, spec: &ModelSpec, varmap: &VarMap) -> Result<()> {
    if Format::of(path)? != Format::Safetensors {
        fail!(
            "a model is saved as .safetensors, not '{}': rename it *.safetensors",
            path.display()
        )
    }
    let tensors: Vec<(String, Tensor)> = {
        let vars = varmap
            .data()
            .lock()
            .map_err(|_| Error::Msg("the VarMap's lock is poisoned".into()))?;
        let mut tensors = Vec::with_capacity(vars.len());
        for (name, _) in spec.parameters() {
            let Some(var) = vars.get(&name) else {
                fail!("the model has no parameter '{name}' although its description needs it")
            };
            tensors.push((name, var.as_tensor().to_device(&Device::Cpu)?));
        }
        tensors
    };
    let description = serde_json::to_string(spec)
        .map_err(|e| Error::Msg(format!("cannot describe the model: {e}")))?;
    let metadata = HashMap::from([(MODEL_KEY.to_string(), description)]);
    atomic::write_with(path, |tmp| {
        safetensors::tensor::serialize_to_file(
            tensors.iter().map(|(n, t)| (n.as_str(), t)),
            Some(metadata),
            tmp,
        )
        .map_err(|e| Error::Msg(e.to_string()))
    })
}

/// Loads a model saved by [`save_model`]: its description and the network, in `dtype` on `dev`.
pub fn load_model(path: &Path, dtype: DType, dev: &Device) -> Result<(ModelSpec, Mlp)> {
    let (spec, parameters) = read_model(path, dtype, dev)?;
    let vb = VarBuilder::from_tensors(parameters, dtype, dev);
    let mlp = Mlp::build(spec.config(), vb)?;
    Ok((spec, mlp))
}

/// Loads a model saved by [`save_model`] with trainable parameters: its description, the network and its variables.
pub fn load_trainable(path: &Path, dtype: DType, dev: &Device) -> Result<(ModelSpec, Mlp, VarMap)> {
    let (spec, parameters) = read_model(path, dtype, dev)?;
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
    let mlp = Mlp::build(spec.config(), vb)?;
    Ok((spec, mlp, varmap))
}

/// A model file's description and parameters, checked against each other.
fn read_model(
    path: &Path,
    dtype: DType,
    dev: &Device,
) -> Result<(ModelSpec, HashMap<String, Tensor>)> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Msg(format!(
            "cannot read model '{shown}': {e}: run `mlp train --save {shown}` first"
        ))
    })?;
    let (_, metadata) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::Msg(format!("model '{shown}' is not a safetensors file ({e})")))?;
    let Some(description) = metadata.metadata().as_ref().and_then(|m| m.get(MODEL_KEY)) else {
        fail!("'{shown}' has no model description: it was not saved by `mlp train` (weights of the tutorial's network load with `xor --init`)")
    };
    let spec: ModelSpec = serde_json::from_str(description)
        .map_err(|e| Error::Msg(format!("model '{shown}' has a broken description ({e})")))?;
    check_sizes(&spec.sizes)?;
    let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::Msg(format!("model '{shown}': {}", crate::error::message(&e))))?;
    let mut parameters = HashMap::new();
    for (name, shape) in spec.parameters() {
        let Some(tensor) = tensors.remove(&name) else {
            fail!(
                "model '{shown}' lacks '{name}', which its description ({:?}) needs",
                spec.sizes
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
    if let Some(extra) = tensors.keys().min() {
        fail!("model '{shown}' has an unexpected tensor '{extra}' that its description does not mention")
    }
    Ok((spec, parameters))
}
