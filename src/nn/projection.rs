//! A linear map of the last dimension, `x·wᵀ + b` with `w` stored `(out, in)` as PyTorch's
//! `nn.Linear`, on the model's kernels: the transformer's `c_attn`, `c_proj`, `c_fc` and its
//! output layer.

use candle_core::{Result, Tensor};
use candle_nn::VarBuilder;

use crate::kernels::{self, linear::stock_product, Kernels, Precision};

/// `x·wᵀ + b` over the last dimension: `(…, in) -> (…, out)`.
#[derive(Debug, Clone)]
pub struct Projection {
    weight: Tensor,
    bias: Option<Tensor>,
    kernels: Kernels,
    precision: Precision,
}

impl Projection {
    /// The projection whose `weight` `(out, in)` (and `bias` `(out,)` when asked for) are `vb`'s,
    /// its products in `precision`.
    pub fn new(
        n_in: usize,
        n_out: usize,
        bias: bool,
        (kernels, precision): (Kernels, Precision),
        vb: VarBuilder,
    ) -> Result<Self> {
        let weight = vb.get((n_out, n_in), "weight")?;
        let bias = bias.then(|| vb.get(n_out, "bias")).transpose()?;
        Ok(Self {
            weight,
            bias,
            kernels,
            precision,
        })
    }

    /// The projection by a weight owned elsewhere (the output layer tied to the token embedding).
    pub fn tied(weight: Tensor, (kernels, precision): (Kernels, Precision)) -> Self {
        Self {
            weight,
            bias: None,
            kernels,
            precision,
        }
    }

    /// The weight, `(out, in)`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// `(…, in) -> (…, out)`: one fused node on the fused kernels ([`kernels::linear`]), a matmul and a broadcast add on the stock ones.
    pub fn forward(&self, xs: &Tensor) -> Result<Tensor> {
        self.apply(xs, false)
    }

    /// The projection and the exact GELU after it, `(…, in) -> (…, out)`: one fused node on the
    /// fused kernels, the stock GELU after the stock projection otherwise.
    pub fn forward_gelu(&self, xs: &Tensor) -> Result<Tensor> {
        self.apply(xs, true)
    }

    fn apply(&self, xs: &Tensor, gelu: bool) -> Result<Tensor> {
        let (w, b) = (&self.weight, self.bias.as_ref());
        if self.kernels == Kernels::Fused {
            return kernels::linear::linear(xs, w, b, gelu, self.precision);
        }
        let (n_out, n_in) = w.dims2()?;
        let mut dims = xs.dims().to_vec();
        if dims.last() != Some(&n_in) {
            fail!("projection: input {dims:?} does not end in the weight's {n_in} inputs")
        }
        let rows = dims[..dims.len() - 1].iter().product::<usize>();
        let z = stock_product(&xs.reshape((rows, n_in))?, w, self.precision)?;
        let z = match b {
            Some(b) => z.broadcast_add(b)?,
            None => z,
        };
        *dims.last_mut().unwrap_or(&mut 0) = n_out;
        let z = z.reshape(dims)?;
        match gelu {
            true => kernels::gelu::gelu_stock(&z),
            false => Ok(z),
        }
    }
}
