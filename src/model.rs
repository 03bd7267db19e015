//! The network: a multi-layer perceptron of candle-nn `Linear` layers.
//!
//! The tutorial's network is one configuration of it ([`MlpConfig::tutorial`]):
//! no bias (the constant input column plays that part) and a sigmoid after
//! every layer. Bigger models choose the hidden activation, the bias and the
//! output head ([`Head`], matched to the loss).
//!
//! `Linear` stores its weight as `(out, in)` and computes `x·Wᵀ`, so the
//! tutorial's `w0` (shape `(in, hidden)`) is the transpose of the first
//! layer's weight, `w1` of the second's, and so on.

use std::fmt;
use std::str::FromStr;

use candle_core::{DType, Device, Module, Result, Tensor, Var};
use candle_nn::{linear_b, Linear, VarBuilder, VarMap};

use crate::dense::{self, DenseActivation};
use crate::fused::{self, Kernels};

/// The tutorial's layer sizes: 3 inputs (the last one the constant bias), 4 hidden, 1 output.
pub const TUTORIAL_SIZES: [usize; 3] = [3, 4, 1];

/// The `VarMap` name of layer `i`'s weight.
pub fn weight_name(layer: usize) -> String {
    format!("layers.{layer}.weight")
}

/// Checks that `sizes` describes a network: at least an input and an output, none empty.
pub fn check_sizes(sizes: &[usize]) -> Result<()> {
    if sizes.len() < 2 || sizes.contains(&0) {
        fail!("layer sizes {sizes:?} describe no network: give at least two sizes, all at least 1 (e.g. [3, 4, 1])")
    }
    Ok(())
}

/// The layer sizes that weights in the tutorial's layout chain together, checking that they do.
pub fn sizes_of(ws: &[Tensor]) -> Result<Vec<usize>> {
    let Some(first) = ws.first() else {
        fail!("no weights given: a network needs at least one layer")
    };
    let mut sizes = vec![first.dim(0)?];
    for (i, w) in ws.iter().enumerate() {
        let (n_in, n_out) = w.dims2()?;
        if n_in != sizes[i] {
            fail!(
                "w{i} has shape ({n_in}, {n_out}) but the layer before it has {} outputs",
                sizes[i]
            )
        }
        sizes.push(n_out);
    }
    Ok(sizes)
}

/// The function after each hidden layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activation {
    /// `1 / (1 + e^(−x))`, the tutorial's.
    Sigmoid,
    /// `tanh(x)`.
    Tanh,
    /// `max(0, x)`.
    Relu,
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs),
            Activation::Tanh => xs.tanh(),
            Activation::Relu => xs.relu(),
        }
    }
}

impl FromStr for Activation {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s {
            "sigmoid" => Ok(Activation::Sigmoid),
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            _ => Err(format!(
                "unknown activation '{s}': use relu, tanh or sigmoid"
            )),
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
        })
    }
}

/// What the last layer's output goes through: chosen by the loss it feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// Raw outputs: logits for the cross-entropies (which apply softmax or sigmoid themselves), values for regression.
    Identity,
    /// A sigmoid, as in the tutorial, whose loss compares probabilities with 0/1 labels.
    Sigmoid,
}

/// The shape of a network: layer sizes, hidden activation, bias, output head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlpConfig {
    /// Layer sizes, input first: `[3, 4, 1]` is the tutorial's.
    pub sizes: Vec<usize>,
    /// The activation after every hidden layer.
    pub activation: Activation,
    /// Whether each `Linear` layer has a bias.
    pub bias: bool,
    /// What the output goes through.
    pub head: Head,
}

impl MlpConfig {
    /// The tutorial's kind of network: sigmoid everywhere, no bias.
    pub fn tutorial(sizes: &[usize]) -> Self {
        Self {
            sizes: sizes.to_vec(),
            activation: Activation::Sigmoid,
            bias: false,
            head: Head::Sigmoid,
        }
    }

    /// Whether this is the tutorial's kind of network, which the fused kernels cover.
    fn is_sigmoid_without_bias(&self) -> bool {
        self.activation == Activation::Sigmoid && !self.bias && self.head == Head::Sigmoid
    }
}

/// A multi-layer perceptron of candle-nn `Linear` layers.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    config: MlpConfig,
}

impl Mlp {
    /// The tutorial's kind of network with layer sizes `sizes`, built through `vb` (see [`MlpConfig::tutorial`]).
    pub fn new(sizes: &[usize], vb: VarBuilder) -> Result<Self> {
        Self::build(MlpConfig::tutorial(sizes), vb)
    }

    /// Builds the layers `sizes[i] → sizes[i + 1]` through `vb`, named `layers.{i}.weight` (and `.bias`).
    pub fn build(config: MlpConfig, vb: VarBuilder) -> Result<Self> {
        check_sizes(&config.sizes)?;
        let layers = config
            .sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| linear_b(pair[0], pair[1], config.bias, vb.pp("layers").pp(i)))
            .collect::<Result<_>>()?;
        Ok(Self { layers, config })
    }

    /// A trainable network holding the given weights, in the tutorial's layout `(in, out)`.
    ///
    /// The weights become the `VarMap`'s variables, so an optimizer built on
    /// `varmap.all_vars()` trains this network.
    pub fn from_tutorial_weights(ws: &[Tensor]) -> Result<(Self, VarMap)> {
        let sizes = sizes_of(ws)?;
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, ws[0].dtype(), ws[0].device());
        let mlp = Self::new(&sizes, vb)?;
        for (i, w) in ws.iter().enumerate() {
            varmap.set_one(weight_name(i), w.t()?)?;
        }
        Ok((mlp, varmap))
    }

    /// A trainable network with weights and biases drawn from `seed`, as PyTorch's `Linear` draws them.
    ///
    /// Each layer's parameters are uniform in `±1/√in` (PyTorch's default
    /// `Linear` initialisation), from the crate's own generator, so the same
    /// seed gives the same network on every device and dtype.
    pub fn seeded(
        config: MlpConfig,
        seed: u64,
        dtype: DType,
        dev: &Device,
    ) -> Result<(Self, VarMap)> {
        check_sizes(&config.sizes)?;
        let varmap = VarMap::new();
        {
            let mut rng = crate::init::SplitMix64::new(seed);
            let mut uniform = |n: usize, bound: f64| -> Vec<f64> {
                (0..n)
                    .map(|_| (2.0 * rng.next_f64() - 1.0) * bound)
                    .collect()
            };
            let mut vars = varmap
                .data()
                .lock()
                .map_err(|_| candle_core::Error::Msg("the VarMap's lock is poisoned".into()))?;
            for (i, pair) in config.sizes.windows(2).enumerate() {
                let (n_in, n_out) = (pair[0], pair[1]);
                let bound = 1.0 / (n_in as f64).sqrt();
                let mut put = |name: String, values: Vec<f64>, shape: &[usize]| -> Result<()> {
                    let t = Tensor::from_vec(values, shape, &Device::Cpu)?
                        .to_dtype(dtype)?
                        .to_device(dev)?;
                    vars.insert(name, Var::from_tensor(&t)?);
                    Ok(())
                };
                put(weight_name(i), uniform(n_out * n_in, bound), &[n_out, n_in])?;
                if config.bias {
                    put(format!("layers.{i}.bias"), uniform(n_out, bound), &[n_out])?;
                }
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, dtype, dev);
        Ok((Self::build(config, vb)?, varmap))
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.config.sizes
    }

    /// The network's shape.
    pub fn config(&self) -> &MlpConfig {
        &self.config
    }

    /// The weights in the tutorial's layout: `w_i`, shape `(in, out)`, is layer `i`'s weight transposed.
    pub fn tutorial_weights(&self) -> Result<Vec<Tensor>> {
        self.layers
            .iter()
            .map(|l| l.weight().detach().t()?.contiguous())
            .collect()
    }
}

impl Mlp {
    /// The forward pass with the chosen kernels; [`Module::forward`] uses the stock ones.
    ///
    /// The fused kernels cover the tutorial's kind of network (`fused`) and
    /// relu networks with raw outputs (`dense`); other configurations run the
    /// stock ops whatever is asked.
    pub fn forward_with(&self, xs: &Tensor, kernels: Kernels) -> Result<Tensor> {
        if kernels == Kernels::Fused && self.config.is_sigmoid_without_bias() {
            return self.layers.iter().try_fold(xs.clone(), |h, layer| {
                fused::linear_sigmoid(&h, layer.weight())
            });
        }
        let last = self.layers.len() - 1;
        if kernels == Kernels::Fused
            && self.config.activation == Activation::Relu
            && self.config.head == Head::Identity
        {
            return self
                .layers
                .iter()
                .enumerate()
                .try_fold(xs.clone(), |h, (i, layer)| {
                    let act = if i == last {
                        DenseActivation::Identity
                    } else {
                        DenseActivation::Relu
                    };
                    dense::dense(&h, layer.weight(), layer.bias(), act)
                });
        }
        self.layers
            .iter()
            .enumerate()
            .try_fold(xs.clone(), |h, (i, layer)| {
                let z = layer.forward(&h)?;
                match (i == last, self.config.head) {
                    (false, _) => self.config.activation.apply(&z),
                    (true, Head::Sigmoid) => candle_nn::ops::sigmoid(&z),
                    (true, Head::Identity) => Ok(z),
                }
            })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_with(xs, Kernels::Stock)
    }
}
