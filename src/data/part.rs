//! Which part of a data source to load: the training part or the held-out test part.
//!
//! A file of its own: the sources of `mod.rs` ([`super::Source`]) call the readers that take
//! it ([`super::idx`]), so beside either it would make the two import each other.

/// Which part of a data set to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The training part.
    Train,
    /// The held-out test part.
    Test,
}
