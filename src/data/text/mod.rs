//! Text for a character-level model (`--data text:PATH`): a UTF-8 file, its vocabulary the
//! sorted set of its characters, its ids kept as bytes or u16 (in memory, or in a file beside
//! it when they take more than the memory budget), its last characters validating, training
//! batches of windows at random offsets drawn from the run's seed, and the consecutive windows
//! that validation and `eval` read.
//!
//! As nanoGPT's `shakespeare_char` and `torch_gpt.py` prepare it:
//!
//! - **vocabulary** ([`Vocabulary`]): `sorted(set(text))`, a character's id its place there;
//! - **split** ([`train_len`]): the first `int(0.9 · len)` characters train, the rest
//!   validates, contiguous (`--valid-fraction`, 0.1 by default);
//! - **training batches** ([`Corpus::train_batch`]): `batch_size` windows of `block_size + 1`
//!   ids at offsets uniform in `[0, train_len − block_size)` (`torch.randint(len(train) - T,
//!   (B,))`), inputs the first `block_size` ids, targets the last; step s's offsets come from
//!   [`crate::rng::stream`]`(seed, Purpose::Windows, s)`;
//! - **validation windows** ([`Corpus::batches`] with [`Span::Valid`]): window k is the
//!   validation part's ids `k·T .. k·T + T + 1`, for k below `(len(val) − 1) / T`, the last
//!   partial window left out (`val_loss()`'s windows); [`Span::Whole`] cuts the whole text so.
//!
//! Positions in errors are lines and columns, columns counted in characters from 1; invalid
//! UTF-8 is also named by its byte offset from 0.

mod batch;
mod chars;
mod corpus;
mod ids;
mod vocabulary;

pub use batch::Batch;
pub use chars::Position;
pub use corpus::{train_len, Batches, Corpus, Span, TextOptions, DEFAULT_VALID_FRACTION};
pub use vocabulary::{Vocabulary, Width, MAX_CHARS};
