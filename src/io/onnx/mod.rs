//! A model file as an ONNX graph (`nn export --format onnx`), for onnxruntime and other runtimes.
//!
//! The graph is ONNX opset 17 (IR version 8), its initializers float32 whatever dtype the model
//! was saved in, named as the model names its parameters (`layers.{i}.weight`,
//! `transformer.h.{i}.attn.c_attn.weight`, …). Its batch dimension is symbolic ([`BATCH`]).
//!
//! A network of layers takes one input, [`INPUT`], of shape `[batch, features]`: a sample's
//! features as `nn predict` reads them (a table's columns already encoded as the schema in the
//! metadata says; an image's pixels in C×H×W order), before the `--normalize` standardisation,
//! which is the graph's first two nodes (`Sub`, `Div`) where the model has one. Its one output is
//! [`PROBABILITIES`] (`[batch, classes]`, the `Softmax` of a cross-entropy model or the `Sigmoid`
//! of a bce one, as `nn predict` writes them), or [`OUTPUTS`] for a regression (the network's
//! values as they are, through the sigmoid a half-sse network ends in). Layers map to ONNX's
//! operators one to one: `dense` is `Gemm` (`transB = 1`; `Transpose` and `MatMul` without a
//! bias), `conv` is `Conv`, `maxpool` and `avgpool` are `MaxPool` and `AveragePool` (window and
//! stride k: the remainder that no window covers is left out, as the model does), `batchnorm` is
//! `BatchNormalization` on the running statistics (evaluation), `flatten` (and the flatten before
//! a dense layer on an image) is `Flatten`, and an image-shaped input is `Reshape`d from its row.
//! `relu`, `sigmoid` and `tanh` are ONNX's; `gelu`, an operator only from opset 20, is its exact
//! form `x·½·(1 + erf(x/√2))`. Dropout is nothing (evaluation).
//!
//! A GPT takes [`INPUT_IDS`], `[batch, sequence]` int64 token ids (indices into the vocabulary,
//! `sequence` from 1 to the block size, symbolic: [`SEQUENCE`]), and gives [`LOGITS`], `[batch,
//! sequence, vocab]`: at each position, the next token's logits (a softmax of them is its
//! distribution). The layer norms are `LayerNormalization`, standard from opset 17; how the rest
//! is written is in the private `gpt` module's description. A model trained with bf16 products
//! (`--dtype bf16`) is exported with its f32 weights, and the graph's products are float32.
//!
//! The metadata (`metadata_props`) holds the key `simple-nn-weights`, the JSON description that
//! `nn export` writes beside safetensors weights ([`super::export::Description`]): the layers,
//! the loss and head, the classes, the table's schema and the standardisation, or the GPT's shape
//! and vocabulary; a GPT's also holds [`VOCABULARY`], its characters in the order of their ids. The
//! protobuf types are ONNX's schema as candle-onnx generates them, written with prost.

mod gpt;
mod graph;
mod interface;
mod network;

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result};
use candle_onnx::onnx::{GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto};
use prost::Message;

pub use interface::{Dim, Port, BATCH, INPUT, INPUT_IDS, LOGITS, OUTPUTS, PROBABILITIES, SEQUENCE};

use super::atomic;
use super::export::describe;
use super::model::{read_model, WEIGHTS_KEY};

/// The ONNX operator set the graph uses.
pub const OPSET: i64 = 17;
/// The ONNX IR version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;
/// The metadata key of a GPT's vocabulary: its characters, the i-th that of token id i.
pub const VOCABULARY: &str = "vocabulary";

/// What [`export_onnx`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxExported {
    /// The file written.
    pub path: PathBuf,
    /// The graph's nodes.
    pub nodes: usize,
    /// The float32 values of the parameters (the initializers less the graph's own constants).
    pub parameters: usize,
    /// The graph's input.
    pub input: Port,
    /// The graph's output.
    pub output: Port,
}

impl std::fmt::Display for OnnxExported {
    /// `wrote an ONNX graph (opset 17) of 7 nodes and 4546 f32 parameters to m.onnx: input 'input' [batch, 2], output 'probabilities' [batch, 3]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote an ONNX graph (opset {OPSET}) of {} nodes and {} f32 parameters to {}: input {}, output {}",
            self.nodes,
            self.parameters,
            self.path.display(),
            self.input,
            self.output,
        )
    }
}

/// Checks, before any work, that an ONNX graph can be written at `output`: a `.onnx` name in a
/// folder that can be written.
pub fn check_output(output: &Path) -> Result<()> {
    if output.extension().and_then(|e| e.to_str()) != Some("onnx") || output.is_dir() {
        fail!(
            "--output '{}': an ONNX graph is written to a .onnx file: name one, e.g. model.onnx",
            output.display()
        )
    }
    atomic::check_writable(output)
}

/// Writes the model file at `model` to `output` as an ONNX graph (see the module's description),
/// checking `output` first, and says what it wrote.
pub fn export_onnx(model: &Path, output: &Path) -> Result<OnnxExported> {
    check_output(output)?;
    let (spec, parameters, _) = read_model(model, DType::F32, &Device::Cpu)?;
    let (g, input, out) = match &spec.gpt {
        Some(text) => gpt::gpt(text, &parameters)?,
        None => network::network(&spec, &parameters)?,
    };
    let description = serde_json::to_string(&describe(&spec))
        .map_err(|e| candle_core::Error::Msg(format!("cannot describe the model: {e}")))?;
    let mut metadata = vec![(WEIGHTS_KEY, description)];
    if let Some(text) = &spec.gpt {
        metadata.push((VOCABULARY, text.vocabulary.to_string()));
    }
    let exported = OnnxExported {
        path: output.to_path_buf(),
        nodes: g.nodes.len(),
        parameters: g.parameters_count,
        input,
        output: out,
    };
    let graph = GraphProto {
        name: "simple-nn".to_string(),
        input: vec![exported.input.value_info()],
        output: vec![exported.output.value_info()],
        node: g.nodes,
        initializer: g.initializers,
        ..Default::default()
    };
    let proto = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "simple-nn".to_string(),
        producer_version: env!("CARGO_PKG_VERSION").to_string(),
        doc_string: format!(
            "input {}; output {}; the model is described under the metadata key '{WEIGHTS_KEY}'",
            exported.input, exported.output
        ),
        graph: Some(graph),
        metadata_props: (metadata.into_iter())
            .map(|(key, value)| StringStringEntryProto {
                key: key.to_string(),
                value,
            })
            .collect(),
        ..Default::default()
    };
    atomic::write(output, &proto.encode_to_vec())?;
    Ok(exported)
}
