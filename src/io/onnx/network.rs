//! A network of layers (an MLP or a conv net) as a chain of ONNX operators, one or a few per
//! layer, from the standardisation of its input to the head that `nn predict` applies.

use std::collections::HashMap;

use candle_core::{Result, Tensor};

use super::graph::{float, int, ints, Graph};
use super::interface::{Dim, Port, BATCH, INPUT, OUTPUTS, PROBABILITIES};
use crate::io::model::ModelSpec;
use crate::nn::{Activation, Head, LayerSpec, Loss};

/// The graph of the network of `spec` with `parameters`, its input and its output.
pub(super) fn network<'a>(
    spec: &ModelSpec,
    parameters: &'a HashMap<String, Tensor>,
) -> Result<(Graph<'a>, Port, Port)> {
    let config = spec.net_config();
    let shapes = config.shapes()?;
    let features: usize = config.input.iter().product();
    let mut g = Graph::new(parameters, INPUT);
    if let Some(norm) = &spec.normalization {
        let mean = g.constant("normalization.mean", &[features], norm.mean.clone());
        g.apply("Sub", &[&mean], vec![]);
        let std = g.constant("normalization.std", &[features], norm.std.clone());
        g.apply("Div", &[&std], vec![]);
    }
    if config.input.len() > 1 {
        let mut dims = vec![-1i64];
        dims.extend(config.input.iter().map(|&d| d as i64));
        let shape = g.int64_constant("input.shape", dims);
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
                    g.times_transposed(&weight);
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
                fail!("layer '{layer}' is a whole model, a GPT, which is exported on its own, not as a layer among others: train it alone (--layers gpt:…)")
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
    let batch = Dim::Named(BATCH);
    let input = Port::float(INPUT, vec![batch, Dim::Fixed(features)]);
    let output = Port::float(output, vec![batch, Dim::Fixed(config.outputs)]);
    Ok((g, input, output))
}
