//! What an exported graph shows the outside: the names, element types and shapes of its input
//! and output, with symbolic dimensions for the batch and the GPT's sequence.

use candle_onnx::onnx::{
    tensor_proto::DataType, tensor_shape_proto::dimension, tensor_shape_proto::Dimension,
    type_proto, TensorShapeProto, TypeProto, ValueInfoProto,
};

/// A network's input: `[batch, features]`, float32.
pub const INPUT: &str = "input";
/// A classifier's output: `[batch, classes]` (one column for bce), float32.
pub const PROBABILITIES: &str = "probabilities";
/// A regression's output: `[batch, outputs]`, float32.
pub const OUTPUTS: &str = "outputs";
/// A GPT's input: `[batch, sequence]` int64 token ids, each an index into the vocabulary.
pub const INPUT_IDS: &str = "input_ids";
/// A GPT's output: `[batch, sequence, vocab]` float32, the next token's logits at each position.
pub const LOGITS: &str = "logits";
/// The symbolic name of the batch dimension.
pub const BATCH: &str = "batch";
/// The symbolic name of a GPT's sequence dimension (1 to its block size).
pub const SEQUENCE: &str = "sequence";

/// One dimension of a [`Port`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dim {
    /// Any size, named: [`BATCH`] or [`SEQUENCE`].
    Named(&'static str),
    /// This size.
    Fixed(usize),
}

/// The graph's input or output: name, element type and shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// The value's name in the graph.
    pub name: &'static str,
    /// float32 (the networks' values and every output) or int64 (a GPT's token ids).
    pub int64: bool,
    /// Its shape.
    pub dims: Vec<Dim>,
}

impl Port {
    /// A float32 value `name` of shape `dims`.
    pub fn float(name: &'static str, dims: Vec<Dim>) -> Self {
        Self {
            name,
            int64: false,
            dims,
        }
    }

    /// An int64 value `name` of shape `dims`.
    pub fn int64(name: &'static str, dims: Vec<Dim>) -> Self {
        Self {
            name,
            int64: true,
            dims,
        }
    }

    /// The port as ONNX declares a graph's input or output.
    pub(super) fn value_info(&self) -> ValueInfoProto {
        let dim = |d: &Dim| Dimension {
            value: Some(match *d {
                Dim::Named(name) => dimension::Value::DimParam(name.to_string()),
                Dim::Fixed(n) => dimension::Value::DimValue(n as i64),
            }),
            ..Default::default()
        };
        let elem = if self.int64 {
            DataType::Int64
        } else {
            DataType::Float
        };
        let tensor = type_proto::Tensor {
            elem_type: elem as i32,
            shape: Some(TensorShapeProto {
                dim: self.dims.iter().map(dim).collect(),
            }),
        };
        ValueInfoProto {
            name: self.name.to_string(),
            r#type: Some(TypeProto {
                value: Some(type_proto::Value::TensorType(tensor)),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

impl std::fmt::Display for Port {
    /// `'input' [batch, 2]`, or `'input_ids' [batch, sequence] int64`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = (self.dims.iter())
            .map(|d| match d {
                Dim::Named(name) => name.to_string(),
                Dim::Fixed(n) => n.to_string(),
            })
            .collect();
        write!(f, "'{}' [{}]", self.name, dims.join(", "))?;
        if self.int64 {
            write!(f, " int64")?;
        }
        Ok(())
    }
}
