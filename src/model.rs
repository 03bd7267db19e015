//! The network: candle-nn `Linear` layers without bias, a sigmoid after each.
//!
//! `Linear` stores its weight as `(out, in)` and computes `x·Wᵀ`, so the
//! tutorial's `w0` (shape `(in, hidden)`) is the transpose of the first
//! layer's weight, `w1` of the second's, and so on.

use candle_core::{Module, Result, Tensor};
use candle_nn::{linear_no_bias, Linear, VarBuilder, VarMap};

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

/// A multi-layer perceptron of bias-free `Linear` layers with sigmoid activations.
#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<Linear>,
    sizes: Vec<usize>,
}

impl Mlp {
    /// Builds the layers `sizes[i] → sizes[i + 1]` through `vb`, named [`weight_name`]`(i)`.
    pub fn new(sizes: &[usize], vb: VarBuilder) -> Result<Self> {
        check_sizes(sizes)?;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, pair)| linear_no_bias(pair[0], pair[1], vb.pp("layers").pp(i)))
            .collect::<Result<_>>()?;
        Ok(Self {
            layers,
            sizes: sizes.to_vec(),
        })
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

    /// The layers, first to last.
    pub fn layers(&self) -> &[Linear] {
        &self.layers
    }

    /// The layer sizes, input first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
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
    pub fn forward_with(&self, xs: &Tensor, kernels: Kernels) -> Result<Tensor> {
        self.layers
            .iter()
            .try_fold(xs.clone(), |h, layer| match kernels {
                Kernels::Stock => candle_nn::ops::sigmoid(&layer.forward(&h)?),
                Kernels::Fused => fused::linear_sigmoid(&h, layer.weight()),
            })
    }
}

impl Module for Mlp {
    fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.forward_with(xs, Kernels::Stock)
    }
}
