//! Tables as users export them (pandas `to_csv`, R, spreadsheets): a header row, a target
//! column picked by name, number and text columns in any order.
//!
//! Read with the `csv` crate (RFC 4180: quoted fields, `\r\n`, a byte-order mark); `.tsv` and
//! `.tab` files are tab-separated, others comma-separated unless [`TableOptions::delimiter`]
//! says otherwise; spaces around fields and blank lines are ignored, as pandas ignores them.
//! A first column without a name is the row index pandas writes, and is left out.
//!
//! Reading the training file fits a [`Schema`]: which column is the target, each feature
//! column's name, whether it holds numbers or text (a text column is one-hot encoded over its
//! sorted categories), and the class names (the sorted distinct labels). The schema is saved
//! with the model, and every file the model reads later is read through it: columns are
//! matched by name in any order, columns the model does not use are left out and said so, and a
//! category or class the training file did not have is an error naming it.
//!
//! A missing cell (empty, `NA`, `NaN`, `null`, … as pandas reads them) is an error naming its
//! line and column, unless [`TableOptions::drop_incomplete`] leaves such rows out. Every error
//! names the file, the line (the header is line 1) and the column.
//!
//! One concept per file: how to read a table ([`TableOptions`], `options.rs`), what its columns
//! mean ([`Schema`], `schema.rs`), the file as text a record at a time (`raw.rs`), the first
//! pass that fits the schema (`fitting.rs`), the second that encodes the rows (`encode.rs`) into
//! memory or a file (`sink.rs`), numbers and class labels parsed from cells (`number.rs`), and
//! the readers that run the two passes ([`read()`], [`read_with()`], `read.rs`).

mod encode;
mod fitting;
mod number;
mod options;
mod raw;
mod read;
mod schema;
mod sink;

pub use fitting::{MAX_CATEGORIES, MAX_CLASSES};
pub use options::{TableOptions, LABEL};
pub use read::{read, read_numeric, read_with, Table};
pub use schema::{Column, Schema};
