//! The layer-spec language: `conv:32:3,relu,maxpool:2,flatten,dense:128,relu`, one token a
//! layer, or `gpt:4:4:128` for a whole GPT.
//!
//! [`LayerSpec`] is one token, [`Layers`] the comma-separated list (the hidden part of a
//! network; the output layer comes from the data). Parsing and the shape each layer gives live
//! here, apart from the layers themselves ([`super::net`], [`super::gpt`]), so that a spec can be
//! read, checked and shown before anything is built.

use std::fmt;
use std::str::FromStr;

use candle_core::Result;

use super::mlp::Activation;

/// One layer of a spec, as written on the command line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerSpec {
    /// `dense:N`: a fully connected layer of N units.
    Dense(usize),
    /// `conv:OUT:K` or `conv:OUT:K:STRIDE:PAD`: OUT filters of K×K.
    Conv {
        /// Output channels.
        out: usize,
        /// Kernel height and width.
        kernel: usize,
        /// Step between two windows.
        stride: usize,
        /// Zeros added around each side.
        pad: usize,
    },
    /// `maxpool:K`: the maximum of each K×K window, stride K.
    MaxPool(usize),
    /// `avgpool:K`: the mean of each K×K window, stride K.
    AvgPool(usize),
    /// `dropout:P`: in training, each value zeroed with probability P and the rest scaled by 1/(1−P).
    Dropout(f64),
    /// `flatten`: an image becomes one row of features.
    Flatten,
    /// `batchnorm`: normalised by the batch's statistics per channel (or feature) in training,
    /// by the running ones in evaluation, then scaled and shifted.
    BatchNorm,
    /// `relu`, `tanh`, `sigmoid`, `gelu`.
    Act(Activation),
    /// `gpt:N_LAYER:N_HEAD:N_EMBD`: a whole character-level GPT (nanoGPT's), for text data; it
    /// stands alone in a spec.
    Gpt {
        /// Transformer blocks.
        n_layer: usize,
        /// Attention heads per block.
        n_head: usize,
        /// Features per position.
        n_embd: usize,
    },
}

impl LayerSpec {
    /// Whether the layer has parameters: dense, conv and batch norm.
    pub fn has_parameters(&self) -> bool {
        matches!(
            self,
            LayerSpec::Dense(_) | LayerSpec::Conv { .. } | LayerSpec::BatchNorm
        )
    }
}

const FORMS: &str = "dense:N, conv:OUT:K[:STRIDE:PAD], maxpool:K, avgpool:K, dropout:P, flatten, batchnorm, relu, tanh, sigmoid or gelu (or, alone, gpt:N_LAYER:N_HEAD:N_EMBD)";

impl FromStr for LayerSpec {
    type Err = String;

    fn from_str(token: &str) -> std::result::Result<Self, String> {
        let parts: Vec<&str> = token.split(':').collect();
        let bad = |what: &str| format!("layer '{token}': {what}");
        let size = |text: &str, what: &str| match text.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(bad(&format!(
                "{what} must be a whole number ≥ 1, not '{text}'"
            ))),
        };
        match parts[..] {
            ["dense", n] => Ok(LayerSpec::Dense(size(n, "the units")?)),
            ["conv", out, k] | ["conv", out, k, _, _] => {
                let (stride, pad) = match parts[..] {
                    [_, _, _, stride, pad] => (
                        size(stride, "the stride")?,
                        pad.parse::<usize>().map_err(|_| {
                            bad(&format!(
                                "the padding must be a whole number ≥ 0, not '{pad}'"
                            ))
                        })?,
                    ),
                    _ => (1, 0),
                };
                Ok(LayerSpec::Conv {
                    out: size(out, "the output channels")?,
                    kernel: size(k, "the kernel size")?,
                    stride,
                    pad,
                })
            }
            ["maxpool", k] => Ok(LayerSpec::MaxPool(size(k, "the window")?)),
            ["avgpool", k] => Ok(LayerSpec::AvgPool(size(k, "the window")?)),
            ["dropout", p] => match p.parse::<f64>() {
                Ok(p) if (0.0..1.0).contains(&p) => Ok(LayerSpec::Dropout(p)),
                _ => Err(bad(&format!(
                    "the probability must be in [0, 1), not '{p}'"
                ))),
            },
            ["gpt", n_layer, n_head, n_embd] => Ok(LayerSpec::Gpt {
                n_layer: size(n_layer, "the layers")?,
                n_head: size(n_head, "the heads")?,
                n_embd: size(n_embd, "the embedding size")?,
            }),
            ["flatten"] => Ok(LayerSpec::Flatten),
            ["batchnorm"] => Ok(LayerSpec::BatchNorm),
            [name] if Activation::NAMES.contains(&name) => Ok(LayerSpec::Act(name.parse()?)),
            _ => Err(format!("unknown layer '{token}': use {FORMS}")),
        }
    }
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            LayerSpec::Dense(n) => write!(f, "dense:{n}"),
            LayerSpec::Conv {
                out,
                kernel,
                stride: 1,
                pad: 0,
            } => write!(f, "conv:{out}:{kernel}"),
            LayerSpec::Conv {
                out,
                kernel,
                stride,
                pad,
            } => write!(f, "conv:{out}:{kernel}:{stride}:{pad}"),
            LayerSpec::MaxPool(k) => write!(f, "maxpool:{k}"),
            LayerSpec::AvgPool(k) => write!(f, "avgpool:{k}"),
            LayerSpec::Dropout(p) => write!(f, "dropout:{p}"),
            LayerSpec::Flatten => f.write_str("flatten"),
            LayerSpec::BatchNorm => f.write_str("batchnorm"),
            LayerSpec::Act(a) => write!(f, "{a}"),
            LayerSpec::Gpt {
                n_layer,
                n_head,
                n_embd,
            } => write!(f, "gpt:{n_layer}:{n_head}:{n_embd}"),
        }
    }
}

/// The hidden part of a network, in order; written as comma-separated [`LayerSpec`] tokens.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Layers(pub Vec<LayerSpec>);

impl Layers {
    /// The MLP shorthand `--hidden A,B`: `dense:A,<activation>,dense:B,<activation>`.
    pub fn dense(hidden: &[usize], activation: Activation) -> Self {
        Layers(
            hidden
                .iter()
                .flat_map(|&n| [LayerSpec::Dense(n), LayerSpec::Act(activation)])
                .collect(),
        )
    }

    /// The GPT's `(n_layer, n_head, n_embd)` where the spec is one `gpt:…` token.
    pub fn gpt(&self) -> Option<(usize, usize, usize)> {
        match self.0[..] {
            [LayerSpec::Gpt {
                n_layer,
                n_head,
                n_embd,
            }] => Some((n_layer, n_head, n_embd)),
            _ => None,
        }
    }

    /// The shape after each layer for an input of `input` (`[features]` or `[C, H, W]`), the
    /// first entry `input` itself; an error names the first token that cannot take its input.
    ///
    /// Every size is counted with checked arithmetic: a shape whose values per sample cannot be
    /// counted in a `usize` is an error naming the layer, never a wrapped number.
    pub fn shapes(&self, input: &[usize]) -> Result<Vec<Vec<usize>>> {
        if elements(input).is_none() {
            fail!(
                "an input of {} per sample holds more values than can be counted: give a smaller input shape",
                dims_text(input)
            )
        }
        let mut shapes = vec![input.to_vec()];
        for layer in &self.0 {
            let shape = shapes.last().cloned().unwrap_or_default();
            let out = output_shape(layer, &shape)?;
            if elements(&out).is_none() {
                fail!(
                    "layer '{layer}' on an input of {} gives {} per sample, more values than can be counted: use fewer channels or units, a smaller padding or a larger stride",
                    dims_text(&shape),
                    dims_text(&out)
                )
            }
            shapes.push(out);
        }
        Ok(shapes)
    }
}

impl FromStr for Layers {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        if s.trim().is_empty() {
            return Ok(Layers::default());
        }
        s.split(',')
            .map(|t| t.trim().parse())
            .collect::<std::result::Result<_, _>>()
            .map(Layers)
    }
}

impl fmt::Display for Layers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens: Vec<String> = self.0.iter().map(LayerSpec::to_string).collect();
        f.write_str(&tokens.join(","))
    }
}

impl TryFrom<String> for Layers {
    type Error = String;

    fn try_from(s: String) -> std::result::Result<Self, String> {
        s.parse()
    }
}

impl From<Layers> for String {
    fn from(layers: Layers) -> String {
        layers.to_string()
    }
}

/// The number of values in a tensor of `dims`, or `None` where the product overflows a `usize`.
pub fn elements(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d))
}

/// `3×28×28`, or `784 values` for a flat row, as the messages write a shape.
pub(super) fn dims_text(dims: &[usize]) -> String {
    let dims: Vec<String> = dims.iter().map(usize::to_string).collect();
    match &dims[..] {
        [n] => format!("{n} values"),
        _ => dims.join("×"),
    }
}

/// The shape out of `layer` for an input of `shape`, or an error naming the layer.
fn output_shape(layer: &LayerSpec, shape: &[usize]) -> Result<Vec<usize>> {
    let image = |what: &str| -> Result<(usize, usize, usize)> {
        match *shape {
            [c, h, w] => Ok((c, h, w)),
            _ => fail!(
                "layer '{layer}' {what} an image (C×H×W), but its input is a flat row of features: give image-shaped data (mnist:DIR, or csv:PATH with --image-shape C,H,W), or put it before any dense or flatten"
            ),
        }
    };
    Ok(match *layer {
        LayerSpec::Dense(n) => vec![n],
        LayerSpec::Conv {
            out,
            kernel,
            stride,
            pad,
        } => {
            let (_, h, w) = image("needs")?;
            let padded = |side: usize| pad.checked_mul(2).and_then(|p| p.checked_add(side));
            let (Some(hp), Some(wp)) = (padded(h), padded(w)) else {
                fail!("layer '{layer}': a padding of {pad} around its {h}×{w} input is more than can be counted: use a padding below the kernel size")
            };
            if hp < kernel || wp < kernel {
                fail!("layer '{layer}': its {kernel}×{kernel} kernel is larger than its {h}×{w} input (with padding {pad}): use a smaller kernel or fewer poolings before it")
            }
            vec![out, (hp - kernel) / stride + 1, (wp - kernel) / stride + 1]
        }
        LayerSpec::MaxPool(k) | LayerSpec::AvgPool(k) => {
            let (c, h, w) = image("pools")?;
            if k > h || k > w {
                fail!("layer '{layer}': its {k}×{k} window is larger than its {h}×{w} input: use a smaller window or fewer poolings")
            }
            vec![c, h / k, w / k]
        }
        LayerSpec::Flatten => vec![shape.iter().product()],
        LayerSpec::Dropout(_) | LayerSpec::BatchNorm | LayerSpec::Act(_) => shape.to_vec(),
        LayerSpec::Gpt { .. } => fail!(
            "layer '{layer}' is a whole model, a character-level GPT, which trains on text: give it --data text:PATH, alone in --layers"
        ),
    })
}
