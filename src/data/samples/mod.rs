//! A data set in memory: features and targets, splits, minibatches, standardisation.
//!
//! Features stay in their source's element type (float32 for tables, bytes for
//! MNIST's pixels), row-major, `n_features` per sample, until a batch is built:
//! only then is each row converted to float32 and standardised. Splits and
//! selections share the values and keep a list of rows. Targets are class ids
//! (classification), real values (regression) or none (rows to predict). Every
//! random choice here comes from the run's seed through a stream of its own
//! ([`crate::rng::stream`]): the split from one, each epoch's order from
//! another, so a run can be repeated exactly and no two choices share numbers.
//!
//! One concept per file: the stored values (`store.rs`), the targets ([`Targets`]), the data set
//! itself ([`Samples`], `set.rs`), seeded orders: splits, epochs, shards (`order.rs`),
//! minibatches ([`Rows`], `batch.rs`), and standardisation ([`Normalization`]).

mod batch;
mod normalization;
mod order;
mod set;
mod store;
mod targets;

pub use batch::Rows;
pub use normalization::Normalization;
pub use order::{epoch_batches, stream_order};
pub use set::Samples;
pub use targets::{TargetKind, Targets};
