//! A table of learned vectors looked up by token id: the transformer's token embedding `wte`
//! and position embedding `wpe`.
//!
//! The lookup is candle's `index_select`, whose backward adds each row's gradient into the
//! table with `index_add`: a token that appears several times in a batch receives the sum of
//! its gradients.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;

/// `weight[id]` for each id: `(…) u32 -> (…, dim)`.
#[derive(Debug, Clone)]
pub struct Embedding {
    weight: Tensor,
}

impl Embedding {
    /// The table `weight` `(count, dim)` of `vb`.
    pub fn new(count: usize, dim: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get((count, dim), "weight")?,
        })
    }

    /// The table, one row per id.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The rows of `ids` (`u32`, any shape): `(…) -> (…, dim)`; an id past the table is an error.
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let (count, dim) = self.weight.dims2()?;
        if ids.dtype() != DType::U32 {
            fail!("embedding: token ids must be u32, got {:?}", ids.dtype())
        }
        let flat = ids.flatten_all()?;
        if flat.elem_count() > 0 {
            let largest = flat.max(0)?.to_scalar::<u32>()?;
            if largest as usize >= count {
                fail!(
                    "embedding: token id {largest} is past the table's {count} rows: ids must come from the model's own vocabulary"
                )
            }
        }
        let mut dims = ids.dims().to_vec();
        dims.push(dim);
        self.weight.index_select(&flat, 0)?.reshape(dims)
    }
}
