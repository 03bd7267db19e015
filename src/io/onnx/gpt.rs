//! A GPT as an ONNX graph: nanoGPT's forward written in ONNX's operators, the sequence length
//! free up to the block size.
//!
//! Token ids `[batch, sequence]` are `Gather`ed from `transformer.wte.weight`, and the first
//! `sequence` rows of `transformer.wpe.weight` (a `Slice` to the input's length) added. Each block
//! is `x + attn(ln_1(x))`, then `x + mlp(ln_2(x))`: the layer norms are `LayerNormalization`
//! (ε = 1e-5); a projection is `MatMul` by its weight's `Transpose` (and `Add` of its bias);
//! attention `Split`s the projected queries, keys and values, `Reshape`s and `Transpose`s them to
//! heads, scales `q·kᵀ` by 1/√(head size), adds the causal mask (the `Slice` of a
//! `[block, block]` initializer, 0 on and below the diagonal, −∞ above, to `[sequence,
//! sequence]`), takes the `Softmax` and its product with the values, and joins the heads again;
//! the MLP's GELU is its exact form through `Erf`. After `ln_f`, the logits are the product with
//! `transformer.wte.weight`'s `Transpose`: the output layer is tied to the embedding, which the
//! file holds once. Dropout is left out (evaluation).

use std::collections::HashMap;

use candle_core::{Result, Tensor};

use super::graph::{float, int, ints, Graph};
use super::interface::{Dim, Port, BATCH, INPUT_IDS, LOGITS, SEQUENCE};
use crate::io::model::TextModel;
use crate::nn::layer_norm::EPS;
use crate::nn::Activation;

/// The graph of the GPT `text` with `parameters`, its input and its output.
pub(super) fn gpt<'a>(
    text: &TextModel,
    parameters: &'a HashMap<String, Tensor>,
) -> Result<(Graph<'a>, Port, Port)> {
    let config = &text.config;
    let (block, c, heads) = (config.block_size, config.n_embd, config.n_head);
    let mut g = Graph::new(parameters, INPUT_IDS);

    // The input's length as a one-value vector: the bounds of the slices below.
    let shape = g.node("Shape", &[INPUT_IDS], vec![]);
    let second = g.int64_constant("sequence.index", vec![1]);
    let sequence = g.node("Gather", &[&shape, &second], vec![int("axis", 0)]);
    let zero = g.int64_constant("sequence.zero", vec![0]);
    let zeros = g.int64_constant("sequence.zeros", vec![0, 0]);
    let rows = g.int64_constant("sequence.rows", vec![0]);
    let rows_and_columns = g.int64_constant("sequence.rows_and_columns", vec![0, 1]);
    let square = g.node("Concat", &[&sequence, &sequence], vec![int("axis", 0)]);

    let wte = g.parameter("transformer.wte.weight")?;
    let wpe = g.parameter("transformer.wpe.weight")?;
    let tokens = g.node("Gather", &[&wte, INPUT_IDS], vec![int("axis", 0)]);
    let positions = g.node("Slice", &[&wpe, &zero, &sequence, &rows], vec![]);
    g.last = g.node("Add", &[&tokens, &positions], vec![]);

    let mask: Vec<f32> = (0..block * block)
        .map(|n| match n % block > n / block {
            true => f32::NEG_INFINITY,
            false => 0.0,
        })
        .collect();
    let mask = g.constant("causal_mask", &[block, block], mask);
    let mask = g.node(
        "Slice",
        &[&mask, &zeros, &square, &rows_and_columns],
        vec![],
    );
    let d = c / heads;
    let heads_shape = g.int64_constant("heads.shape", vec![0, 0, heads as i64, d as i64]);
    let joined_shape = g.int64_constant("heads.joined_shape", vec![0, 0, c as i64]);
    let split = g.int64_constant("qkv.split", vec![c as i64; 3]);
    let scale = g.constant("attention.scale", &[], vec![1.0 / (d as f32).sqrt()]);

    for i in 0..config.n_layer {
        let h = format!("transformer.h.{i}");
        let x = g.last.clone();

        layer_norm(&mut g, &format!("{h}.ln_1"), config.bias)?;
        projection(&mut g, &format!("{h}.attn.c_attn"), config.bias)?;
        let qkv = g.last.clone();
        let attributes = vec![int("axis", 2)];
        let [q, k, v] = g.node_of("Split", &[&qkv, &split], attributes, ["q", "k", "v"]);
        // (b, t, c) → (b, heads, t, d), the keys → (b, heads, d, t).
        let to_heads = |g: &mut Graph, part: &str, perm: &[i64]| {
            let split = g.node("Reshape", &[part, &heads_shape], vec![]);
            g.node("Transpose", &[&split], vec![ints("perm", perm)])
        };
        let q = to_heads(&mut g, &q, &[0, 2, 1, 3]);
        let k = to_heads(&mut g, &k, &[0, 2, 3, 1]);
        let v = to_heads(&mut g, &v, &[0, 2, 1, 3]);
        g.last = g.node("MatMul", &[&q, &k], vec![]);
        g.apply("Mul", &[&scale], vec![]);
        g.apply("Add", &[&mask], vec![]);
        g.apply("Softmax", &[], vec![int("axis", -1)]);
        g.apply("MatMul", &[&v], vec![]);
        g.apply("Transpose", &[], vec![ints("perm", &[0, 2, 1, 3])]);
        g.apply("Reshape", &[&joined_shape], vec![]);
        projection(&mut g, &format!("{h}.attn.c_proj"), config.bias)?;
        g.apply("Add", &[&x], vec![]);

        let x = g.last.clone();
        layer_norm(&mut g, &format!("{h}.ln_2"), config.bias)?;
        projection(&mut g, &format!("{h}.mlp.c_fc"), config.bias)?;
        g.activation(Activation::Gelu);
        projection(&mut g, &format!("{h}.mlp.c_proj"), config.bias)?;
        g.apply("Add", &[&x], vec![]);
    }
    layer_norm(&mut g, "transformer.ln_f", config.bias)?;
    g.times_transposed(&wte);
    g.name_output(LOGITS);

    let (batch, sequence) = (Dim::Named(BATCH), Dim::Named(SEQUENCE));
    let input = Port::int64(INPUT_IDS, vec![batch, sequence]);
    let output = Port::float(LOGITS, vec![batch, sequence, Dim::Fixed(config.vocab)]);
    Ok((g, input, output))
}

/// The layer norm `name` (its `.weight`, and `.bias` with `bias`) of the last value.
fn layer_norm(g: &mut Graph, name: &str, bias: bool) -> Result<()> {
    let mut inputs = vec![g.parameter(&format!("{name}.weight"))?];
    if bias {
        inputs.push(g.parameter(&format!("{name}.bias"))?);
    }
    let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let attributes = vec![int("axis", -1), float("epsilon", EPS as f32)];
    g.apply("LayerNormalization", &inputs, attributes);
    Ok(())
}

/// The linear projection `name` (`x·Wᵀ`, plus its `.bias` with `bias`) of the last value.
fn projection(g: &mut Graph, name: &str, bias: bool) -> Result<()> {
    let weight = g.parameter(&format!("{name}.weight"))?;
    g.times_transposed(&weight);
    if bias {
        let bias = g.parameter(&format!("{name}.bias"))?;
        g.apply("Add", &[&bias], vec![]);
    }
    Ok(())
}
