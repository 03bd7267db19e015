//! Files in and out: atomic writes, `.npz` checks, the tutorial's weight files, model files
//! (weights with the description that rebuilds them), their weights exported for other tools,
//! the whole network as an ONNX graph, and the reports a run writes.

pub mod atomic;
pub mod export;
pub mod model;
pub mod npz;
#[cfg(feature = "onnx")]
pub mod onnx;
pub mod report;
pub mod weights;

pub use export::{export, Exported, Format};
pub use model::{
    check_model_path, last_beside, load_model, load_trainable, resumed_dtype, save_checkpoint,
    save_model, saved_bf16_products, saved_dtype, ModelSpec, Training,
};
#[cfg(feature = "onnx")]
pub use onnx::{export_onnx, OnnxExported};

/// A shape as `(3, 4)`, the way numpy writes it.
pub(crate) fn shape_text(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    format!("({})", dims.join(", "))
}

/// `tensors` (moved to the CPU) and `metadata` as the bytes of a `.safetensors` file.
///
/// Written by [`atomic`] from memory: safetensors' own file writer keeps a temporary
/// file of its own (mode 0600), which a killed process would leave behind.
pub(crate) fn safetensors_bytes(
    tensors: &[(String, candle_core::Tensor)],
    metadata: Option<std::collections::HashMap<String, String>>,
) -> candle_core::Result<Vec<u8>> {
    let on_cpu = tensors
        .iter()
        .map(|(name, t)| Ok((name.as_str(), t.to_device(&candle_core::Device::Cpu)?)))
        .collect::<candle_core::Result<Vec<_>>>()?;
    safetensors::tensor::serialize(on_cpu.iter().map(|(n, t)| (*n, t)), metadata)
        .map_err(|e| candle_core::Error::Msg(e.to_string()))
}
