//! The network: a multi-layer perceptron of candle-nn `Linear` layers.
//!
//! The tutorial's network is one configuration of it ([`MlpConfig::tutorial`]):
//! no bias (the constant input column plays that part) and a sigmoid after
//! every layer. Bigger models choose the hidden activation, the bias and the
//! loss, which fixes the output head ([`Head`]).
//!
//! The kernels are chosen once, in the config: each [`Dense`] layer is a
//! `Module` whose `forward` runs the fused op that covers it (see
//! [`crate::kernels`]) or candle's stock ops, and [`Mlp::loss`] computes the
//! model's loss on the same kernels.
//!
//! `Linear` stores its weight as `(out, in)` and computes `x·Wᵀ`, so the
//! tutorial's `w0` (shape `(in, hidden)`) is the transpose of the first
//! layer's weight, `w1` of the second's, and so on.

use candle_core::{DType, Device, Module, Result, Tensor};
use candle_nn::{linear_b, Linear, VarBuilder, VarMap};

use super::loss::{Head, Loss};
use super::model::Model;
use crate::kernels::{self, DenseActivation, Kernels};

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

named_enum! {
    /// The function after each hidden layer.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    pub enum Activation("activation") {
        /// `1 / (1 + e^(−x))`, the tutorial's.
        Sigmoid = "sigmoid",
        /// `tanh(x)`.
        Tanh = "tanh",
        /// `max(0, x)`.
        Relu = "relu",
        /// `x·Φ(x)`, Φ the standard normal's distribution function (PyTorch's default GELU).
        Gelu = "gelu",
    }
}

impl Activation {
    /// Applies the activation.
    pub fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs),
            Activation::Tanh => xs.tanh(),
            Activation::Relu => xs.relu(),
            Activation::Gelu => xs.gelu_erf(),
        }
    }
}

/// The shape of a network: layer sizes, hidden activation, bias, loss, and the kernels it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MlpConfig {
    /// Layer sizes, input first: `[3, 4, 1]` is the tutorial's.
    pub sizes: Vec<usize>,
    /// The activation after every hidden layer.
    pub activation: Activation,
    /// Whether each `Linear` layer has a bias.
    pub bias: bool,
    /// The loss the model is trained with; it fixes the output head ([`Loss::head`]).
    pub loss: Loss,
    /// Fused ops where they cover a layer (the default), or candle's stock ops throughout.
    pub kernels: Kernels,
}

impl Default for MlpConfig {
    /// A classifier of 2 inputs and 2 classes with two ReLU layers of 64 and 32, biases, cross-entropy.
    fn default() -> Self {
        Self {
            sizes: vec![2, 64, 32, 2],
            activation: Activation::Relu,
            bias: true,
            loss: Loss::CrossEntropy,
            kernels: Kernels::default(),
        }
    }
}

impl MlpConfig {
    /// The tutorial's kind of network: sigmoid everywhere, no bias, the loss `½·Σ(ŷ − y)²`.
    pub fn tutorial(sizes: &[usize]) -> Self {
        Self {
            sizes: sizes.to_vec(),
            activation: Activation::Sigmoid,
            bias: false,
            loss: Loss::HalfSse,
            kernels: Kernels::default(),
        }
    }

    /// What the output goes through.
    pub fn head(&self) -> Head {
        self.loss.head()
    }
}

/// A `Linear` layer and the function after it (none for raw outputs), on the kernels chosen when it was built.
#[derive(Debug, Clone)]
pub struct Dense {
    linear: Linear,
    activation: Option<Activation>,
    kernels: Kernels,
}

impl Dense {
    /// A layer over `linear`, followed by `activation`.
    pub fn new(linear: Linear, activation: Option<Activation>, kernels: Kernels) -> Self {
        Self {
            linear,
            activation,
            kernels,
        }
    }

    /// The `Linear` layer: its weight `(out, in)` and bias `(out,)`.
    pub fn linear(&self) -> &Linear {
        &self.linear
    }
}

impl Module for Dense {
    /// `act(x·wᵀ + b)`: one fused node where the kernels cover the layer, else candle's ops.
    ///
    /// The fused ops cover a bias-free sigmoid layer (the tutorial's), ReLU, and raw
    /// outputs; tanh, and sigmoid with a bias, run on the stock ops. The fused ReLU's
    /// gradient at exactly `z = 0` is 0, as in PyTorch; candle's stock `relu` passes it (1).
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        let (w, b) = (self.linear.weight(), self.linear.bias());
        match (self.kernels, self.activation) {
            (Kernels::Fused, Some(Activation::Sigmoid)) if b.is_none() => {
                kernels::linear_sigmoid(xs, w)
            }
            (Kernels::Fused, Some(Activation::Relu)) => {
                kernels::dense(xs, w, b, DenseActivation::Relu)
            }
            (Kernels::Fused, None) => kernels::dense(xs, w, b, DenseActivation::Identity),
            (_, activation) => {
                let z = self.linear.forward(xs)?;
                activation.map_or(Ok(z.clone()), |a| a.apply(&z))
            }
        }
    }
}

/// A multi-layer perceptron of candle-nn `Linear` layers.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Dense>,
    config: MlpConfig,
}

impl Mlp {
    /// Builds the layers `sizes[i] → sizes[i + 1]` through `vb`, named `layers.{i}.weight` (and `.bias`).
    pub fn build(config: MlpConfig, vb: VarBuilder) -> Result<Self> {
        check_sizes(&config.sizes)?;
        let last = config.sizes.len() - 2;
        let layers = config
            .sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| {
                let linear = linear_b(pair[0], pair[1], config.bias, vb.pp("layers").pp(i))?;
                let activation = match (i == last, config.head()) {
                    (false, _) => Some(config.activation),
                    (true, Head::Sigmoid) => Some(Activation::Sigmoid),
                    (true, Head::Identity) => None,
                };
                Ok(Dense::new(linear, activation, config.kernels))
            })
            .collect::<Result<_>>()?;
        Ok(Self { layers, config })
    }

    /// A trainable network of the tutorial's kind holding the given weights, in the tutorial's layout `(in, out)`.
    ///
    /// The weights become the `VarMap`'s variables, so an optimizer built on
    /// `varmap.all_vars()` trains this network.
    pub fn from_tutorial_weights(ws: &[Tensor], kernels: Kernels) -> Result<(Self, VarMap)> {
        let sizes = sizes_of(ws)?;
        let mut varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, ws[0].dtype(), ws[0].device());
        let config = MlpConfig {
            kernels,
            ..MlpConfig::tutorial(&sizes)
        };
        let mlp = Self::build(config, vb)?;
        for (i, w) in ws.iter().enumerate() {
            varmap.set_one(weight_name(i), w.t()?)?;
        }
        Ok((mlp, varmap))
    }

    /// A trainable network with weights and biases drawn from `seed`, as PyTorch's `Linear` draws them.
    ///
    /// Each layer's parameters are uniform in `±1/√in` (PyTorch's default
    /// `Linear` initialisation), each tensor from its own stream of `seed`
    /// ([`super::init`]), so the same seed gives the same network on every
    /// device and dtype.
    pub fn seeded(
        config: MlpConfig,
        seed: u64,
        dtype: DType,
        dev: &Device,
    ) -> Result<(Self, VarMap)> {
        check_sizes(&config.sizes)?;
        let mut tensors = Vec::new();
        for (i, pair) in config.sizes.windows(2).enumerate() {
            let (n_in, n_out) = (pair[0], pair[1]);
            let bound = 1.0 / (n_in as f64).sqrt();
            let weight = weight_name(i);
            let values = super::init::uniform(seed, &weight, n_out * n_in, bound);
            tensors.push((weight, vec![n_out, n_in], values));
            if config.bias {
                let bias = format!("layers.{i}.bias");
                let values = super::init::uniform(seed, &bias, n_out, bound);
                tensors.push((bias, vec![n_out], values));
            }
        }
        let varmap = super::init::varmap(tensors, dtype, dev)?;
        let vb = VarBuilder::from_varmap(&varmap, dtype, dev);
        Ok((Self::build(config, vb)?, varmap))
    }

    /// The layers, first to last.
    pub fn layers(&self) -> &[Dense] {
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

    /// The kernels the network runs on.
    pub fn kernels(&self) -> Kernels {
        self.config.kernels
    }

    /// The model's loss of `output` (its forward's) against `targets`, on the model's kernels.
    pub fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        self.config
            .loss
            .compute_on(output, targets, self.config.kernels)
    }

    /// `(loss, prediction)` of `xs` against `ys` as one node ([`kernels::sigmoid_net_loss`])
    /// where the network is the tutorial's kind on the fused kernels: two bias-free sigmoid
    /// layers and `½·Σ(ŷ − y)²`. `None` for any other network: it runs [`forward`](Module::forward)
    /// and [`loss`](Self::loss).
    pub fn fused_net_loss(&self, xs: &Tensor, ys: &Tensor) -> Result<Option<(Tensor, Tensor)>> {
        let c = &self.config;
        let sigmoid =
            |l: &Dense| l.activation == Some(Activation::Sigmoid) && l.linear.bias().is_none();
        let tutorial = c.kernels == Kernels::Fused && c.loss == Loss::HalfSse;
        match &self.layers[..] {
            [first, second] if tutorial && sigmoid(first) && sigmoid(second) => {
                let (w0, w1) = (first.linear.weight(), second.linear.weight());
                kernels::sigmoid_net_loss(xs, w0, w1, ys).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// The weights in the tutorial's layout: `w_i`, shape `(in, out)`, is layer `i`'s weight transposed.
    pub fn tutorial_weights(&self) -> Result<Vec<Tensor>> {
        self.layers
            .iter()
            .map(|l| l.linear.weight().detach().t()?.contiguous())
            .collect()
    }
}

impl Model for Mlp {
    fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        Mlp::loss(self, output, targets)
    }

    fn loss_kind(&self) -> Loss {
        self.config.loss
    }

    fn kernels(&self) -> Kernels {
        self.config.kernels
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.layers
            .iter()
            .try_fold(xs.clone(), |h, layer| layer.forward(&h))
    }
}
