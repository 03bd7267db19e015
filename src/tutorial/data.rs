//! The training data: the tutorial's five rows and the classic four-row XOR table.
//!
//! Each row is `[a, b, 1]` with label `a XOR b`. The constant third column is
//! the bias input, which is why the network's layers have no bias of their own.

use candle_core::{DType, Device, Result, Tensor};

/// The tutorial's inputs: XOR of the first two columns, `[0, 0, 1]` listed twice.
pub const ARTICLE_X: [[f64; 3]; 5] = [
    [0., 0., 1.],
    [0., 1., 1.],
    [1., 0., 1.],
    [1., 1., 1.],
    [0., 0., 1.],
];
/// The tutorial's labels.
pub const ARTICLE_Y: [f64; 5] = [0., 1., 1., 0., 0.];
/// The classic XOR truth table, with the same constant bias column.
pub const XOR_X: [[f64; 3]; 4] = [[0., 0., 1.], [0., 1., 1.], [1., 0., 1.], [1., 1., 1.]];
/// Labels of the XOR table.
pub const XOR_Y: [f64; 4] = [0., 1., 1., 0.];

named_enum! {
    /// Which of the two small data sets to train on: `article` (the tutorial's 5 rows) or `xor` (the 4-row table).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub enum Dataset("dataset") {
        /// The tutorial's five rows (`article`).
        #[default]
        Article = "article",
        /// The four-row XOR table (`xor`).
        Xor = "xor",
    }
}

impl Dataset {
    /// Both data sets, for tests that run on each.
    pub const ALL: [Dataset; 2] = [Dataset::Article, Dataset::Xor];

    /// The rows and labels as plain numbers.
    pub fn rows(self) -> (&'static [[f64; 3]], &'static [f64]) {
        match self {
            Dataset::Article => (&ARTICLE_X, &ARTICLE_Y),
            Dataset::Xor => (&XOR_X, &XOR_Y),
        }
    }

    /// `(x, y)` of shapes `(rows, 3)` and `(rows, 1)` on `dev` in `dtype`.
    pub fn tensors(self, dtype: DType, dev: &Device) -> Result<(Tensor, Tensor)> {
        let (x, y) = self.rows();
        let flat: Vec<f64> = x.iter().flatten().copied().collect();
        let xs = Tensor::from_vec(flat, (x.len(), 3), dev)?.to_dtype(dtype)?;
        let ys = Tensor::from_slice(y, (y.len(), 1), dev)?.to_dtype(dtype)?;
        Ok((xs, ys))
    }
}
