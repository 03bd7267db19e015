//! How to read a table: the target column's name, the field separator, and whether rows with
//! a missing cell are left out.

/// The target column's name unless told otherwise.
pub const LABEL: &str = "label";

/// How to read a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableOptions {
    /// The target column's name.
    pub target: String,
    /// The field separator; `None` reads `.tsv` and `.tab` files tab-separated, others comma-separated.
    pub delimiter: Option<u8>,
    /// Leave out rows with a missing cell (and say how many) instead of refusing the file.
    pub drop_incomplete: bool,
}

impl Default for TableOptions {
    fn default() -> Self {
        Self {
            target: LABEL.to_string(),
            delimiter: None,
            drop_incomplete: false,
        }
    }
}
