//! Networks of any layers, in order, from a spec: `conv:32:3,relu,maxpool:2,flatten,dense:128,relu`.
//!
//! [`LayerSpec`] is one token of the spec, [`Layers`] the whole hidden part;
//! [`NetConfig`] adds the input shape (`[features]`, or `[C, H, W]` for images),
//! the output layer (a `dense` of as many units as classes or targets, appended
//! from the data), the loss and the kernels. [`Net`] is built through a
//! `VarBuilder` from candle-nn's pieces (`Linear`, `Conv2d`, `BatchNorm`) and
//! candle's ops (pooling, activations), with a dropout of its own whose masks
//! come from the run's seed, so runs repeat.
//!
//! `dense:N` followed by an activation is one [`Dense`] layer, so that an MLP
//! written as a spec runs on the same fused kernels as [`crate::nn::Mlp`]; a
//! `dense` after an image-shaped layer flattens first. The parameters of the
//! i-th layer that has any are named `layers.{i}.…`, as an `Mlp` names them,
//! so model files of MLPs load as networks.
//!
//! ```
//! use simple_nn::candle::{DType, Device, ModuleT, Tensor};
//! use simple_nn::nn::{Loss, Net, NetConfig};
//!
//! # fn main() -> simple_nn::candle::Result<()> {
//! let config = NetConfig {
//!     input: vec![1, 28, 28],
//!     layers: "conv:8:5,relu,maxpool:2,conv:16:5,relu,maxpool:2,flatten,dense:64,relu".parse().unwrap(),
//!     outputs: 10,
//!     bias: true,
//!     loss: Loss::CrossEntropy,
//!     kernels: Default::default(),
//! };
//! assert_eq!(config.shapes()?[4], [16, 8, 8]);
//! let (net, _varmap) = Net::seeded(config, 0, DType::F32, &Device::Cpu)?;
//! let images = Tensor::zeros((2, 784), DType::F32, &Device::Cpu)?;
//! assert_eq!(net.forward_t(&images, false)?.dims(), [2, 10]);
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use candle_core::{DType, Device, Module, ModuleT, Result, Tensor};
use candle_nn::{BatchNorm, Conv2d, Conv2dConfig, VarBuilder, VarMap};

use super::init;
use super::loss::{Head, Loss};
use super::mlp::{Activation, Dense};
use super::model::Model;
use super::spec::{dims_text, elements, LayerSpec, Layers};
use crate::kernels::{self, DenseActivation, Kernels};
use crate::rng::{self, Purpose};

/// The whole shape of a network: input, hidden layers, output units, bias, loss and kernels.
#[derive(Debug, Clone, PartialEq)]
pub struct NetConfig {
    /// The shape of one sample: `[features]`, or `[C, H, W]` for images.
    pub input: Vec<usize>,
    /// The hidden layers, in order.
    pub layers: Layers,
    /// The units of the output layer (classes, or targets).
    pub outputs: usize,
    /// Whether dense and conv layers have biases.
    pub bias: bool,
    /// The loss, which fixes the output head.
    pub loss: Loss,
    /// Fused ops where they cover a layer, or candle's stock ops throughout.
    pub kernels: Kernels,
}

impl NetConfig {
    /// The shape after each layer, output layer included; an error names the first layer that cannot work.
    pub fn shapes(&self) -> Result<Vec<Vec<usize>>> {
        if self.input.is_empty() || self.input.contains(&0) || self.outputs == 0 {
            fail!(
                "a network needs an input of at least one value and at least one output, got input {:?} and {} outputs",
                self.input,
                self.outputs
            )
        }
        let mut shapes = self.layers.shapes(&self.input)?;
        // candle's conv backward sizes the input gradient with one output padding for both
        // dimensions (and computes it even for the data), so a strided conv must leave as many
        // rows as columns past its last window: always so for square images.
        for (layer, shape) in self.layers.0.iter().zip(&shapes) {
            if let (
                LayerSpec::Conv {
                    kernel,
                    stride,
                    pad,
                    ..
                },
                [_, h, w],
            ) = (layer, &shape[..])
            {
                let (rh, rw) = (
                    (h + 2 * pad - kernel) % stride,
                    (w + 2 * pad - kernel) % stride,
                );
                if rh != rw {
                    fail!("layer '{layer}' on a {h}×{w} input leaves {rh} row(s) but {rw} column(s) past its last window, and candle's conv gradient needs them equal: change the stride or padding, or make the images square")
                }
            }
        }
        shapes.push(vec![self.outputs]);
        Ok(shapes)
    }

    /// The names and shapes of the parameters, in the order [`Net::seeded`] draws them.
    pub fn parameters(&self) -> Result<Vec<(String, Vec<usize>)>> {
        Ok(self
            .parametrized()?
            .into_iter()
            .flat_map(|(i, p)| p.names_and_shapes(i, self.bias))
            .collect())
    }

    /// How many numbers the parameters hold (batch norm's running statistics included), counted
    /// from the shapes alone, before anything is allocated; an error names a layer whose count
    /// overflows.
    pub fn parameter_count(&self) -> Result<u64> {
        let mut total = 0u64;
        for (_, p) in self.parametrized()? {
            match p.elements(self.bias).and_then(|n| total.checked_add(n)) {
                Some(sum) => total = sum,
                None => fail!("the network's parameters are more than can be counted: use fewer or smaller layers"),
            }
        }
        Ok(total)
    }

    /// Each layer that has parameters, numbered in order, with what it needs to build them; an
    /// error names a layer whose parameters hold more numbers than can be counted.
    fn parametrized(&self) -> Result<Vec<(usize, Parametrized)>> {
        let shapes = self.shapes()?;
        let output = LayerSpec::Dense(self.outputs);
        let last = self.layers.0.len();
        let all = self.layers.0.iter().chain([&output]);
        let mut numbered = Vec::new();
        for (k, (layer, input)) in all.zip(&shapes).enumerate() {
            let Some(p) = Parametrized::of(layer, input) else {
                continue;
            };
            if p.elements(self.bias).is_none() {
                let which = if k == last {
                    "the output layer"
                } else {
                    "layer"
                };
                fail!(
                    "{which} '{layer}' on an input of {} has more parameters than can be counted: use fewer units or channels, or a smaller kernel",
                    dims_text(input)
                )
            }
            numbered.push((numbered.len(), p));
        }
        Ok(numbered)
    }
}

/// A layer with parameters, and the sizes they take.
#[derive(Debug, Clone, Copy)]
enum Parametrized {
    Dense {
        n_in: usize,
        n_out: usize,
    },
    Conv {
        c_in: usize,
        out: usize,
        kernel: usize,
    },
    BatchNorm {
        channels: usize,
    },
}

impl Parametrized {
    fn of(layer: &LayerSpec, input: &[usize]) -> Option<Self> {
        match *layer {
            // `Layers::shapes` checked that every shape's product can be counted.
            LayerSpec::Dense(n_out) => Some(Parametrized::Dense {
                n_in: input.iter().product(),
                n_out,
            }),
            LayerSpec::Conv { out, kernel, .. } => Some(Parametrized::Conv {
                c_in: input[0],
                out,
                kernel,
            }),
            LayerSpec::BatchNorm => Some(Parametrized::BatchNorm { channels: input[0] }),
            _ => None,
        }
    }

    /// PyTorch's default initialisation bound, `1/√fan_in`, for dense and conv layers.
    fn bound(self) -> f64 {
        let fan_in = match self {
            Parametrized::Dense { n_in, .. } => n_in,
            Parametrized::Conv { c_in, kernel, .. } => c_in * kernel * kernel,
            Parametrized::BatchNorm { .. } => 1,
        };
        1.0 / (fan_in as f64).sqrt()
    }

    /// The numbers its parameters hold, or `None` where they cannot be counted in a `u64`.
    fn elements(self, bias: bool) -> Option<u64> {
        self.names_and_shapes(0, bias)
            .iter()
            .try_fold(0u64, |sum, (_, shape)| {
                sum.checked_add(u64::try_from(elements(shape)?).ok()?)
            })
    }

    fn names_and_shapes(self, i: usize, bias: bool) -> Vec<(String, Vec<usize>)> {
        let name = |what: &str| format!("layers.{i}.{what}");
        match self {
            Parametrized::Dense { n_in, n_out } => {
                let mut p = vec![(name("weight"), vec![n_out, n_in])];
                if bias {
                    p.push((name("bias"), vec![n_out]));
                }
                p
            }
            Parametrized::Conv { c_in, out, kernel } => {
                let mut p = vec![(name("weight"), vec![out, c_in, kernel, kernel])];
                if bias {
                    p.push((name("bias"), vec![out]));
                }
                p
            }
            Parametrized::BatchNorm { channels } => {
                ["running_mean", "running_var", "weight", "bias"]
                    .iter()
                    .map(|what| (name(what), vec![channels]))
                    .collect()
            }
        }
    }
}

/// Variables for `parameters`, drawn from `seed` as PyTorch initialises its layers: dense and conv
/// weights and biases uniform in ±1/√fan_in, batch norm's scale 1, shift 0, running mean 0 and
/// running variance 1. Each tensor comes from its own stream ([`super::init`]), so the same seed
/// gives the same numbers on every device and dtype.
fn seeded_varmap(
    parameters: &[(String, Vec<usize>, f64)],
    seed: u64,
    dtype: DType,
    dev: &Device,
) -> Result<VarMap> {
    let tensors = parameters.iter().map(|(name, shape, bound)| {
        let n = shape.iter().product();
        let values: Vec<f64> = match name.rsplit('.').next() {
            Some("running_var") => vec![1.0; n],
            Some("running_mean") => vec![0.0; n],
            Some("weight") if *bound == 0.0 => vec![1.0; n],
            Some("bias") if *bound == 0.0 => vec![0.0; n],
            _ => init::uniform(seed, name, n, *bound),
        };
        (name.clone(), shape.clone(), values)
    });
    init::varmap(tensors, dtype, dev)
}

/// One built layer.
#[derive(Debug, Clone)]
enum Layer {
    Dense(Dense),
    Conv(Conv),
    MaxPool(usize),
    AvgPool(usize),
    Dropout(f64),
    Flatten,
    BatchNorm(BatchNorm),
    Act(Activation),
}

/// A convolution with candle-nn's `Conv2d` parameters, run on the network's kernels; on the
/// fused kernels a ReLU and a max-pool that follow it are part of it.
#[derive(Debug, Clone)]
struct Conv {
    conv: Conv2d,
    relu: bool,
    /// The max-pool window's side, 1 for none.
    pool: usize,
    kernels: Kernels,
}

impl Module for Conv {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        if self.kernels == Kernels::Stock {
            return self.conv.forward(xs);
        }
        let act = match self.relu {
            true => DenseActivation::Relu,
            false => DenseActivation::Identity,
        };
        let cfg = self.conv.config();
        kernels::conv2d_max_pool(
            xs,
            self.conv.weight(),
            self.conv.bias(),
            cfg.stride,
            cfg.padding,
            act,
            self.pool,
        )
    }
}

/// A network of any layers in order, built from a [`NetConfig`].
#[derive(Debug)]
pub struct Net {
    layers: Vec<Layer>,
    config: NetConfig,
    /// The seed of the dropout masks, and how many masks were drawn so far.
    dropout_seed: u64,
    masks_drawn: AtomicU64,
}

impl Net {
    /// Builds the layers through `vb`; dropout masks are drawn from `seed`.
    pub fn build(config: NetConfig, vb: VarBuilder, seed: u64) -> Result<Self> {
        let shapes = config.shapes()?;
        let parametrized = config.parametrized()?;
        let mut numbers = parametrized.iter().map(|(i, _)| *i);
        let output = LayerSpec::Dense(config.outputs);
        let specs: Vec<&LayerSpec> = config.layers.0.iter().chain([&output]).collect();
        let mut layers = Vec::with_capacity(specs.len());
        let mut k = 0;
        while k < specs.len() {
            let input = &shapes[k];
            let layer = match *specs[k] {
                LayerSpec::Dense(n_out) => {
                    let vb = vb.pp("layers").pp(numbers.next().unwrap_or_default());
                    let n_in = input.iter().product();
                    let linear = candle_nn::linear_b(n_in, n_out, config.bias, vb)?;
                    let is_output = k + 1 == specs.len();
                    // A following activation joins the layer, so the fused kernels can cover it.
                    let activation = match specs.get(k + 1) {
                        Some(LayerSpec::Act(a)) if !is_output => {
                            k += 1;
                            Some(*a)
                        }
                        _ if is_output && config.loss.head() == Head::Sigmoid => {
                            Some(Activation::Sigmoid)
                        }
                        _ => None,
                    };
                    if input.len() > 1 {
                        layers.push(Layer::Flatten);
                    }
                    Layer::Dense(Dense::new(linear, activation, config.kernels))
                }
                LayerSpec::Conv {
                    out,
                    kernel,
                    stride,
                    pad,
                } => {
                    let vb = vb.pp("layers").pp(numbers.next().unwrap_or_default());
                    let cfg = Conv2dConfig {
                        padding: pad,
                        stride,
                        ..Default::default()
                    };
                    let weight = vb.get((out, input[0], kernel, kernel), "weight")?;
                    let bias = config.bias.then(|| vb.get(out, "bias")).transpose()?;
                    // On the fused kernels a following ReLU and max-pool join the convolution.
                    let fused = config.kernels == Kernels::Fused;
                    let relu =
                        fused && specs.get(k + 1) == Some(&&LayerSpec::Act(Activation::Relu));
                    k += usize::from(relu);
                    let pool = match specs.get(k + 1) {
                        Some(LayerSpec::MaxPool(pool)) if fused => {
                            k += 1;
                            *pool
                        }
                        _ => 1,
                    };
                    Layer::Conv(Conv {
                        conv: Conv2d::new(weight, bias, cfg),
                        relu,
                        pool,
                        kernels: config.kernels,
                    })
                }
                LayerSpec::BatchNorm => {
                    let vb = vb.pp("layers").pp(numbers.next().unwrap_or_default());
                    Layer::BatchNorm(candle_nn::batch_norm(input[0], 1e-5, vb)?)
                }
                LayerSpec::MaxPool(k) => Layer::MaxPool(k),
                LayerSpec::AvgPool(k) => Layer::AvgPool(k),
                LayerSpec::Dropout(p) => Layer::Dropout(p),
                LayerSpec::Flatten => Layer::Flatten,
                LayerSpec::Act(a) => Layer::Act(a),
                LayerSpec::Gpt { .. } => {
                    fail!(
                        "layer '{}' is a whole model: build a GPT with nn::Gpt",
                        specs[k]
                    )
                }
            };
            layers.push(layer);
            k += 1;
        }
        Ok(Self {
            layers,
            config,
            dropout_seed: seed,
            masks_drawn: AtomicU64::new(0),
        })
    }

    /// A trainable network with parameters drawn from `seed` as PyTorch initialises its layers.
    pub fn seeded(
        config: NetConfig,
        seed: u64,
        dtype: DType,
        dev: &Device,
    ) -> Result<(Self, VarMap)> {
        let parameters: Vec<(String, Vec<usize>, f64)> = config
            .parametrized()?
            .into_iter()
            .flat_map(|(i, p)| {
                let bound = match p {
                    Parametrized::BatchNorm { .. } => 0.0,
                    _ => p.bound(),
                };
                p.names_and_shapes(i, config.bias)
                    .into_iter()
                    .map(move |(name, shape)| (name, shape, bound))
            })
            .collect();
        let varmap = seeded_varmap(&parameters, seed, dtype, dev)?;
        let vb = VarBuilder::from_varmap(&varmap, dtype, dev);
        Ok((Self::build(config, vb, seed)?, varmap))
    }

    /// The network's shape.
    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// How many dropout masks the network has drawn (saved with a checkpoint).
    pub fn masks_drawn(&self) -> u64 {
        self.masks_drawn.load(Ordering::Relaxed)
    }

    /// Goes on drawing dropout masks from the `n`-th, as a resumed run must.
    pub fn set_masks_drawn(&self, n: u64) {
        self.masks_drawn.store(n, Ordering::Relaxed);
    }

    /// `xs` with each value zeroed with probability `p` and the rest scaled by 1/(1−p), the
    /// mask drawn from a stream of its own: the network's seed, the dropout purpose, and the
    /// number of masks drawn before it.
    fn dropout(&self, xs: &Tensor, p: f64) -> Result<Tensor> {
        let draw = self.masks_drawn.fetch_add(1, Ordering::Relaxed);
        let seed = rng::key(self.dropout_seed, Purpose::Dropout, draw);
        match self.config.kernels {
            Kernels::Fused => kernels::dropout(xs, p, seed),
            Kernels::Stock => kernels::dropout::stock(xs, p, seed),
        }
    }
}

/// The maximum of each k×k window of `xs` (N, C, H, W), stride k; the last H mod k rows and
/// W mod k columns, which no window covers, are left out (as PyTorch's `MaxPool2d(k)` does).
///
/// The pooling is [`kernels::max_pool`], whose gradient goes whole to each window's maximum
/// (candle's own scales it by 1/k²). Cut to whole windows first: candle's pooling backward
/// upsamples to H×W by nearest neighbour, which misplaces windows on a remainder.
pub fn max_pool(xs: &Tensor, k: usize) -> Result<Tensor> {
    crate::kernels::max_pool(&kernels::pool::whole_windows(xs, k)?, k)
}

/// The mean of each k×k window of `xs` (N, C, H, W), stride k, on whole windows as [`max_pool`].
pub fn avg_pool(xs: &Tensor, k: usize) -> Result<Tensor> {
    kernels::pool::whole_windows(xs, k)?.avg_pool2d(k)
}

impl ModuleT for Net {
    /// The network's output for `xs` (rows of `input`'s product of values); `train` switches
    /// dropout on and batch norm to the batch's statistics.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Result<Tensor> {
        let rows = xs.dim(0)?;
        let mut shape = vec![rows];
        shape.extend(&self.config.input);
        let mut h = xs.reshape(shape)?;
        for layer in &self.layers {
            h = match layer {
                Layer::Dense(dense) => dense.forward(&h)?,
                Layer::Conv(conv) => conv.forward(&h)?,
                Layer::MaxPool(k) => max_pool(&h, *k)?,
                Layer::AvgPool(k) => avg_pool(&h, *k)?,
                Layer::Dropout(p) if train && *p > 0.0 => self.dropout(&h, *p)?,
                Layer::Dropout(_) => h,
                Layer::Flatten => h.flatten_from(1)?,
                Layer::BatchNorm(norm) => norm.forward_t(&h, train)?,
                Layer::Act(a) => a.apply(&h)?,
            };
        }
        Ok(h)
    }
}

impl Model for Net {
    fn loss(&self, output: &Tensor, targets: &Tensor) -> Result<Tensor> {
        self.config
            .loss
            .compute_on(output, targets, self.config.kernels)
    }

    fn loss_kind(&self) -> Loss {
        self.config.loss
    }

    fn kernels(&self) -> Kernels {
        self.config.kernels
    }
}
