//! The tutorial network's weights: `.npz` in the tutorial's layout, `.safetensors` in the `VarMap`'s.
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

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Error, Result, Tensor};

use super::{atomic, npz, safetensors_bytes, shape_text};
use crate::nn::{check_sizes, sizes_of, weight_name};

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
                .collect::<Result<Vec<_>>>()?;
            Ok(std::fs::write(tmp, safetensors_bytes(&tensors, None)?)?)
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
        Format::Npz => npz::check(path)
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
