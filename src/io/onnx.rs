//! A model file as an ONNX graph (`nn export --format onnx`), for onnxruntime and other runtimes.
//!
//! The graph is ONNX opset 17 (IR version 8), its initializers float32 whatever dtype the model
//! was saved in, named as the model names its parameters (`layers.{i}.weight`, …). It takes one
//! input, [`INPUT`], of shape `[batch, features]`, `batch` a symbolic dimension: a sample's
//! features as `nn predict` reads them (a table's columns already encoded as the schema in the
//! metadata says; an image's pixels in C×H×W order), before the `--normalize` standardisation,
//! which is the graph's first two nodes (`Sub`, `Div`) where the model has one. Its one output is
//! [`PROBABILITIES`] (`[batch, classes]`, the `Softmax` of a cross-entropy model or the `Sigmoid`
//! of a bce one, as `nn predict` writes them), or [`OUTPUTS`] for a regression (the network's
//! values as they are, through the sigmoid a half-sse network ends in).
//!
//! Layers map to ONNX's operators one to one: `dense` is `Gemm` (`transB = 1`; `Transpose` and
//! `MatMul` without a bias), `conv` is `Conv`, `maxpool` and `avgpool` are `MaxPool` and
//! `AveragePool` (window and stride k: the remainder that no window covers is left out, as the
//! model does), `batchnorm` is `BatchNormalization` on the running statistics (evaluation), `flatten`
//! (and the flatten before a dense layer on an image) is `Flatten`, and an image-shaped input is
//! `Reshape`d from its row. `relu`, `sigmoid` and `tanh` are ONNX's; `gelu`, an operator only from
//! opset 20, is its exact form `x·½·(1 + erf(x/√2))`. Dropout is nothing (evaluation). The GPT is
//! refused, naming its attention.
//!
//! The metadata (`metadata_props`) holds the key `simple-nn-weights`, the JSON description that
//! `nn export` writes beside safetensors weights ([`super::export::Description`]): the layers,
//! the loss and head, the classes, the table's schema and the standardisation. The protobuf
//! types are ONNX's schema as candle-onnx generates them, written with prost.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Result, Tensor};
use candle_onnx::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use prost::Message;

use super::atomic;
use super::export::describe;
use super::model::{read_model, ModelSpec, WEIGHTS_KEY};
use crate::nn::{Activation, Head, LayerSpec, Loss};

/// The ONNX operator set the graph uses.
pub const OPSET: i64 = 17;
/// The ONNX IR version that goes with [`OPSET`].
const IR_VERSION: i64 = 8;
/// The graph's input: `[batch, features]`, float32.
pub const INPUT: &str = "input";
/// The output of a classifier: `[batch, classes]` (one column for bce), float32.
pub const PROBABILITIES: &str = "probabilities";
/// The output of a regression: `[batch, outputs]`, float32.
pub const OUTPUTS: &str = "outputs";
/// The symbolic name of the batch dimension of the input and the output.
pub const BATCH: &str = "batch";

/// What [`export_onnx`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct OnnxExported {
    /// The file written.
    pub path: PathBuf,
    /// The graph's nodes.
    pub nodes: usize,
    /// The float32 values of the parameters (the initializers less the graph's own constants).
    pub parameters: usize,
    /// The features of one sample, the input's second dimension.
    pub features: usize,
    /// The output's name, [`PROBABILITIES`] or [`OUTPUTS`].
    pub output: &'static str,
    /// The output's second dimension.
    pub outputs: usize,
}

impl std::fmt::Display for OnnxExported {
    /// `wrote an ONNX graph (opset 17) of 7 nodes and 4546 f32 parameters to m.onnx: input 'input' [batch, 2], output 'probabilities' [batch, 3]`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "wrote an ONNX graph (opset {OPSET}) of {} nodes and {} f32 parameters to {}: input '{INPUT}' [{BATCH}, {}], output '{}' [{BATCH}, {}]",
            self.nodes,
            self.parameters,
            self.path.display(),
            self.features,
            self.output,
            self.outputs
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
    let (proto, exported) = graph_of(&spec, &parameters)?;
    atomic::write(output, &proto.encode_to_vec())?;
    Ok(OnnxExported {
        path: output.to_path_buf(),
        ..exported
    })
}

/// The ONNX model of `spec` with `parameters`, and what it holds (its `path` left empty).
fn graph_of(
    spec: &ModelSpec,
    parameters: &HashMap<String, Tensor>,
) -> Result<(ModelProto, OnnxExported)> {
    if spec.gpt.is_some() {
        fail!("the GPT's causal attention is not exported to ONNX yet: use --format safetensors")
    }
    let config = spec.net_config();
    let shapes = config.shapes()?;
    let features: usize = config.input.iter().product();
    let mut g = Graph::new(parameters);
    if let Some(norm) = &spec.normalization {
        let mean = g.constant("normalization.mean", &[features], norm.mean.clone());
        g.apply("Sub", &[&mean], vec![]);
        let std = g.constant("normalization.std", &[features], norm.std.clone());
        g.apply("Div", &[&std], vec![]);
    }
    if config.input.len() > 1 {
        let mut dims = vec![-1i64];
        dims.extend(config.input.iter().map(|&d| d as i64));
        let shape = g.shape_constant("input.shape", dims);
        g.apply("Reshape", &[&shape], vec![]);
    }
    let output_layer = LayerSpec::Dense(config.outputs);
    let layers: Vec<&LayerSpec> = config.layers.0.iter().chain([&output_layer]).collect();
    let mut numbered = 0..;
    for (k, layer) in layers.iter().enumerate() {
        let input = &shapes[k];
        let mut number = || numbered.next().unwrap_or_default();
        match **layer {
            LayerSpec::Dense(_) => {
                let i = number();
                if input.len() > 1 {
                    g.apply("Flatten", &[], vec![int("axis", 1)]);
                }
                let weight = g.parameter(&format!("layers.{i}.weight"))?;
                if config.bias {
                    let bias = g.parameter(&format!("layers.{i}.bias"))?;
                    g.apply("Gemm", &[&weight, &bias], vec![int("transB", 1)]);
                } else {
                    let t = g.node("Transpose", &[&weight], vec![ints("perm", &[1, 0])]);
                    g.apply("MatMul", &[&t], vec![]);
                }
            }
            LayerSpec::Conv {
                kernel,
                stride,
                pad,
                ..
            } => {
                let i = number();
                let mut inputs = vec![g.parameter(&format!("layers.{i}.weight"))?];
                if config.bias {
                    inputs.push(g.parameter(&format!("layers.{i}.bias"))?);
                }
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                let (k, s, p) = (kernel as i64, stride as i64, pad as i64);
                let attributes = vec![
                    ints("kernel_shape", &[k, k]),
                    ints("strides", &[s, s]),
                    ints("pads", &[p, p, p, p]),
                ];
                g.apply("Conv", &inputs, attributes);
            }
            LayerSpec::MaxPool(k) | LayerSpec::AvgPool(k) => {
                let op = match layer {
                    LayerSpec::MaxPool(_) => "MaxPool",
                    _ => "AveragePool",
                };
                let k = k as i64;
                let attributes = vec![ints("kernel_shape", &[k, k]), ints("strides", &[k, k])];
                g.apply(op, &[], attributes);
            }
            LayerSpec::BatchNorm => {
                let i = number();
                let names = ["weight", "bias", "running_mean", "running_var"];
                let inputs = names
                    .iter()
                    .map(|what| g.parameter(&format!("layers.{i}.{what}")))
                    .collect::<Result<Vec<_>>>()?;
                let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
                // The epsilon of the model's batch norm (candle-nn's, PyTorch's default).
                g.apply("BatchNormalization", &inputs, vec![float("epsilon", 1e-5)]);
            }
            LayerSpec::Dropout(_) => {}
            LayerSpec::Flatten => g.apply("Flatten", &[], vec![int("axis", 1)]),
            LayerSpec::Act(a) => g.activation(a),
            LayerSpec::Gpt { .. } => {
                fail!("layer '{layer}' is a whole model, a GPT, which is not exported to ONNX yet: use --format safetensors")
            }
        }
    }
    // The head: a half-sse network's output layer ends in a sigmoid; cross-entropy and bce
    // models give logits, which `nn predict` turns into probabilities.
    if config.loss.head() == Head::Sigmoid {
        g.activation(Activation::Sigmoid);
    }
    let output = match spec.loss {
        Loss::CrossEntropy => {
            g.apply("Softmax", &[], vec![int("axis", 1)]);
            PROBABILITIES
        }
        Loss::Bce => {
            g.activation(Activation::Sigmoid);
            PROBABILITIES
        }
        Loss::Mse | Loss::HalfSse => OUTPUTS,
    };
    g.name_output(output);
    let description = serde_json::to_string(&describe(spec))
        .map_err(|e| candle_core::Error::Msg(format!("cannot describe the model: {e}")))?;
    let exported = OnnxExported {
        path: PathBuf::new(),
        nodes: g.nodes.len(),
        parameters: g.parameters_count,
        features,
        output,
        outputs: config.outputs,
    };
    let graph = GraphProto {
        name: "simple-nn".to_string(),
        input: vec![value_info(INPUT, features)],
        output: vec![value_info(output, config.outputs)],
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
        doc_string: format!("input '{INPUT}' [{BATCH}, features]; output '{output}' [{BATCH}, outputs]; the network is described under the metadata key '{WEIGHTS_KEY}'"),
        graph: Some(graph),
        metadata_props: vec![StringStringEntryProto {
            key: WEIGHTS_KEY.to_string(),
            value: description,
        }],
        ..Default::default()
    };
    Ok((proto, exported))
}

/// A graph being built as a chain: each [`Graph::apply`] takes the last value as its first input.
struct Graph<'a> {
    parameters: &'a HashMap<String, Tensor>,
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// The value the next node applies to.
    last: String,
    /// The float32 values of the model's parameters among the initializers.
    parameters_count: usize,
}

impl<'a> Graph<'a> {
    fn new(parameters: &'a HashMap<String, Tensor>) -> Self {
        Self {
            parameters,
            nodes: Vec::new(),
            initializers: Vec::new(),
            last: INPUT.to_string(),
            parameters_count: 0,
        }
    }

    /// Adds the node `op` over `inputs`, and names its output `{op}_{n}` (n the node's number).
    fn node(&mut self, op: &str, inputs: &[&str], attribute: Vec<AttributeProto>) -> String {
        let name = format!("{op}_{}", self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![name.clone()],
            name: name.clone(),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
        name
    }

    /// Adds the node `op` over the last value and `more`; its output becomes the last value.
    fn apply(&mut self, op: &str, more: &[&str], attributes: Vec<AttributeProto>) {
        let last = self.last.clone();
        let inputs: Vec<&str> = [last.as_str()]
            .into_iter()
            .chain(more.iter().copied())
            .collect();
        self.last = self.node(op, &inputs, attributes);
    }

    /// The activation `a` of the last value: `gelu` as `x·½·(1 + erf(x/√2))`.
    fn activation(&mut self, a: Activation) {
        match a {
            Activation::Relu => self.apply("Relu", &[], vec![]),
            Activation::Sigmoid => self.apply("Sigmoid", &[], vec![]),
            Activation::Tanh => self.apply("Tanh", &[], vec![]),
            Activation::Gelu => {
                let x = self.last.clone();
                let n = self.nodes.len();
                let sqrt2 = self.constant(&format!("gelu_{n}.sqrt2"), &[], vec![2f32.sqrt()]);
                let one = self.constant(&format!("gelu_{n}.one"), &[], vec![1.0]);
                let half = self.constant(&format!("gelu_{n}.half"), &[], vec![0.5]);
                self.apply("Div", &[&sqrt2], vec![]);
                self.apply("Erf", &[], vec![]);
                self.apply("Add", &[&one], vec![]);
                self.apply("Mul", &[&half], vec![]);
                self.apply("Mul", &[&x], vec![]);
            }
        }
    }

    /// The model's parameter `name` as a float32 initializer of that name.
    fn parameter(&mut self, name: &str) -> Result<String> {
        let Some(t) = self.parameters.get(name) else {
            fail!("the model lacks '{name}'")
        };
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        self.parameters_count += values.len();
        Ok(self.constant(name, t.dims(), values))
    }

    /// A float32 initializer `name` of shape `dims`.
    fn constant(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name.to_string()
    }

    /// An int64 initializer `name` of one dimension: a shape for `Reshape`.
    fn shape_constant(&mut self, name: &str, values: Vec<i64>) -> String {
        self.initializers.push(TensorProto {
            name: name.to_string(),
            dims: vec![values.len() as i64],
            data_type: DataType::Int64 as i32,
            int64_data: values,
            ..Default::default()
        });
        name.to_string()
    }

    /// Names the last node's output `name`, the graph's output.
    fn name_output(&mut self, name: &str) {
        if let Some(node) = self.nodes.last_mut() {
            node.output = vec![name.to_string()];
        }
        self.last = name.to_string();
    }
}

/// A float32 value of shape `[batch, n]`, `batch` symbolic.
fn value_info(name: &str, n: usize) -> ValueInfoProto {
    let dim = |value| Dimension {
        value: Some(value),
        ..Default::default()
    };
    let tensor = type_proto::Tensor {
        elem_type: DataType::Float as i32,
        shape: Some(TensorShapeProto {
            dim: vec![
                dim(dimension::Value::DimParam(BATCH.to_string())),
                dim(dimension::Value::DimValue(n as i64)),
            ],
        }),
    };
    ValueInfoProto {
        name: name.to_string(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(tensor)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An int attribute.
fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

/// An attribute of ints.
fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A float attribute.
fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}
