//! One autograd node for a layer's op on an input, a weight and an optional bias: candle's
//! `CustomOp2` without the bias and `CustomOp3` with it, both from the op's one forward and
//! one backward ([`LayerOp`]), so that the dense layer and the convolution each write theirs once.

use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Result, Shape, Tensor};

/// An op `f(x, w[, b])` whose backward gives `∂/∂x` (only where `x` needs one), `∂/∂w` and `∂/∂b`.
pub(crate) trait LayerOp: Send + Sync + 'static {
    /// The op's name, as candle's errors write it.
    const NAME: &'static str;

    /// The forward pass on CPU storages; `b` is `None` for a layer without a bias.
    fn cpu_forward(
        &self,
        x: (&CpuStorage, &Layout),
        w: (&CpuStorage, &Layout),
        b: Option<(&CpuStorage, &Layout)>,
    ) -> Result<(CpuStorage, Shape)>;

    /// The forward pass on CUDA storages; an op fused on the CPU alone keeps candle's refusal.
    #[cfg(feature = "cuda")]
    fn cuda_forward(
        &self,
        _x: (&candle_core::CudaStorage, &Layout),
        _w: (&candle_core::CudaStorage, &Layout),
        _b: Option<(&candle_core::CudaStorage, &Layout)>,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        Err(candle_core::Error::Cuda(
            format!("no cuda implementation for {}", Self::NAME).into(),
        ))
    }

    /// `(∂/∂x if wanted, ∂/∂w, ∂/∂b)` from the output `res` and its gradient; `∂/∂b` is
    /// dropped for a layer without a bias.
    fn backward(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Tensor, Tensor)>;
}

/// `op(x, w[, b])` as one node on contiguous operands: the bias, where there is one, its third operand.
pub(crate) fn apply<Op: LayerOp>(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    op: Op,
) -> Result<Tensor> {
    match b {
        Some(b) => x
            .contiguous()?
            .apply_op3(&w.contiguous()?, &b.contiguous()?, Node(op)),
        None => x.contiguous()?.apply_op2(&w.contiguous()?, Node(op)),
    }
}

/// A [`LayerOp`] as candle sees it: `CustomOp2` on `(x, w)`, `CustomOp3` on `(x, w, b)`.
struct Node<Op>(Op);

impl<Op: LayerOp> CustomOp2 for Node<Op> {
    fn name(&self) -> &'static str {
        Op::NAME
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.0.cpu_forward((x, xl), (w, wl), None)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        xl: &Layout,
        w: &candle_core::CudaStorage,
        wl: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        self.0.cuda_forward((x, xl), (w, wl), None)
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, _) = self.0.backward(x, w, res, grad)?;
        Ok((dx, Some(dw)))
    }
}

impl<Op: LayerOp> CustomOp3 for Node<Op> {
    fn name(&self) -> &'static str {
        Op::NAME
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        xl: &Layout,
        w: &CpuStorage,
        wl: &Layout,
        b: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        self.0.cpu_forward((x, xl), (w, wl), Some((b, bl)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        xl: &Layout,
        w: &candle_core::CudaStorage,
        wl: &Layout,
        b: &candle_core::CudaStorage,
        bl: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        self.0.cuda_forward((x, xl), (w, wl), Some((b, bl)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dw, db) = self.0.backward(x, w, res, grad)?;
        Ok((dx, Some(dw), Some(db)))
    }
}
