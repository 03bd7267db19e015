//! An ONNX graph being built: nodes, initializers and the model's parameters among them, most
//! often as a chain, each node taking the last value as its first input.

use std::collections::HashMap;

use candle_core::{DType, Result, Tensor};
use candle_onnx::onnx::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, NodeProto, TensorProto,
};

use crate::nn::Activation;

/// The nodes and initializers of a graph over a model's `parameters`.
pub(super) struct Graph<'a> {
    parameters: &'a HashMap<String, Tensor>,
    pub(super) nodes: Vec<NodeProto>,
    pub(super) initializers: Vec<TensorProto>,
    /// The value the next [`Graph::apply`] applies to.
    pub(super) last: String,
    /// The float32 values of the model's parameters among the initializers.
    pub(super) parameters_count: usize,
}

impl<'a> Graph<'a> {
    /// An empty graph whose first node applies to `input`.
    pub(super) fn new(parameters: &'a HashMap<String, Tensor>, input: &str) -> Self {
        Self {
            parameters,
            nodes: Vec::new(),
            initializers: Vec::new(),
            last: input.to_string(),
            parameters_count: 0,
        }
    }

    /// Adds the node `op` over `inputs`, and names its output `{op}_{n}` (n the node's number).
    pub(super) fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
    ) -> String {
        let [output] = self.node_of(op, inputs, attribute, [""]);
        output
    }

    /// Adds the node `op` over `inputs` with N outputs, named `{op}_{n}.{part}` for the parts.
    pub(super) fn node_of<const N: usize>(
        &mut self,
        op: &str,
        inputs: &[&str],
        attribute: Vec<AttributeProto>,
        parts: [&str; N],
    ) -> [String; N] {
        let name = format!("{op}_{}", self.nodes.len());
        let outputs = parts.map(|part| match part {
            "" => name.clone(),
            part => format!("{name}.{part}"),
        });
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.to_vec(),
            name,
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
        outputs
    }

    /// Adds the node `op` over the last value and `more`; its output becomes the last value.
    pub(super) fn apply(&mut self, op: &str, more: &[&str], attributes: Vec<AttributeProto>) {
        let last = self.last.clone();
        let inputs: Vec<&str> = [last.as_str()]
            .into_iter()
            .chain(more.iter().copied())
            .collect();
        self.last = self.node(op, &inputs, attributes);
    }

    /// The activation `a` of the last value: `gelu`, an operator only from opset 20, as its
    /// exact form `x·½·(1 + erf(x/√2))`.
    pub(super) fn activation(&mut self, a: Activation) {
        match a {
            Activation::Relu => self.apply("Relu", &[], vec![]),
            Activation::Sigmoid => self.apply("Sigmoid", &[], vec![]),
            Activation::Tanh => self.apply("Tanh", &[], vec![]),
            Activation::Gelu => {
                let x = self.last.clone();
                let sqrt2 = self.scalar("gelu.sqrt2", 2f32.sqrt());
                let one = self.scalar("gelu.one", 1.0);
                let half = self.scalar("gelu.half", 0.5);
                self.apply("Div", &[&sqrt2], vec![]);
                self.apply("Erf", &[], vec![]);
                self.apply("Add", &[&one], vec![]);
                self.apply("Mul", &[&half], vec![]);
                self.apply("Mul", &[&x], vec![]);
            }
        }
    }

    /// The last value times the transpose of `weight` (`x·Wᵀ`, a linear layer without a bias).
    pub(super) fn times_transposed(&mut self, weight: &str) {
        let transposed = self.node("Transpose", &[weight], vec![ints("perm", &[1, 0])]);
        self.apply("MatMul", &[&transposed], vec![]);
    }

    /// The model's parameter `name` as a float32 initializer of that name.
    pub(super) fn parameter(&mut self, name: &str) -> Result<String> {
        let Some(t) = self.parameters.get(name) else {
            fail!("the model lacks '{name}'")
        };
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        self.parameters_count += values.len();
        Ok(self.constant(name, t.dims(), values))
    }

    /// A float32 initializer `name` of shape `dims`.
    pub(super) fn constant(&mut self, name: &str, dims: &[usize], values: Vec<f32>) -> String {
        self.initializers.push(TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: DataType::Float as i32,
            float_data: values,
            ..Default::default()
        });
        name.to_string()
    }

    /// The float32 scalar initializer `name`, made by its first use and shared by the others.
    fn scalar(&mut self, name: &str, value: f32) -> String {
        if !self.initializers.iter().any(|t| t.name == name) {
            self.constant(name, &[], vec![value]);
        }
        name.to_string()
    }

    /// An int64 initializer `name` of one dimension: a shape, indices, or a slice's bounds.
    pub(super) fn int64_constant(&mut self, name: &str, values: Vec<i64>) -> String {
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
    pub(super) fn name_output(&mut self, name: &str) {
        if let Some(node) = self.nodes.last_mut() {
            node.output = vec![name.to_string()];
        }
        self.last = name.to_string();
    }
}

/// An int attribute.
pub(super) fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

/// An attribute of ints.
pub(super) fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Ints as i32,
        ints: values.to_vec(),
        ..Default::default()
    }
}

/// A float attribute.
pub(super) fn float(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.to_string(),
        r#type: AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}
