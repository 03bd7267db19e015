//! Data sets: samples in memory, where they come from (CSV, MNIST's IDX files, synthetic sets),
//! splits, minibatch orders, standardisation, and the memory budget of loading them. Knows
//! nothing of models or training.

pub mod csv;
pub mod idx;
pub mod memory;
pub mod part;
pub mod samples;
pub mod synthetic;
pub mod text;

pub use csv::{Schema, TableOptions};
pub use part::Part;
pub use samples::{epoch_batches, Normalization, Rows, Samples, TargetKind, Targets};

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use candle_core::Result;

use synthetic::{MAX_PARITY_BITS, MAX_SPIRAL_POINTS};

/// Where samples come from, as written on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `csv:PATH`: a table with a header row and a target column, read as the options say (see [`csv`]).
    Csv(PathBuf, TableOptions),
    /// `mnist:DIR`: a directory holding MNIST's IDX files (see [`idx`]).
    Mnist(PathBuf),
    /// `parity:N`: every N-bit pattern, labelled with the XOR of its bits.
    Parity(usize),
    /// `spirals:N`: two interleaved spirals of N points each.
    Spirals(usize),
    /// `text:PATH`: a UTF-8 text for a character-level GPT (see [`text`]), not rows of samples.
    Text(PathBuf),
}

impl Source {
    /// Loads the train or test part; `kind` says what a CSV's label column means.
    ///
    /// CSV: the same file for both parts. MNIST: `train-*` files for
    /// [`Part::Train`], `t10k-*` for [`Part::Test`]. parity: all 2^N rows for
    /// both. spirals: seed 0 for Train, seed 1 for Test. Sources that are
    /// classification by nature (mnist, parity, spirals) ignore `kind`.
    pub fn load(&self, part: Part, kind: TargetKind) -> Result<Samples> {
        Ok(self.read(part, kind, Reading::New)?.samples)
    }

    /// Loads the train or test part as [`load`](Self::load) does; a table is read as `reading`
    /// says: fitting its schema, or through a model's.
    pub fn read(&self, part: Part, kind: TargetKind, reading: Reading) -> Result<Loaded> {
        let samples = match self {
            Source::Csv(path, options) => {
                let table = match reading {
                    Reading::New => csv::read(path, kind, options)?,
                    Reading::Saved {
                        schema: Some(schema),
                        need_target,
                        ..
                    } => csv::read_with(path, schema, kind, options, need_target)?,
                    Reading::Saved {
                        schema: None,
                        classes,
                        need_target,
                    } => csv::read_numeric(path, kind, classes, options, need_target)?,
                };
                return Ok(Loaded {
                    samples: table.samples,
                    schema: Some(table.schema),
                    notes: table.notes,
                });
            }
            Source::Mnist(dir) => idx::mnist(dir, part)?,
            Source::Text(_) => return Err(self.not_samples()),
            Source::Parity(bits) => synthetic::parity(*bits)?,
            Source::Spirals(points) => synthetic::spirals(
                *points,
                match part {
                    Part::Train => 0,
                    Part::Test => 1,
                },
            )?,
        };
        let notes = match samples.is_streamed() {
            true => vec![format!(
                "{self}: the {} part takes more than the memory budget ({}; --max-memory), so batches are read from disk as they are needed",
                match part {
                    Part::Train => "training",
                    Part::Test => "test",
                },
                memory::size(memory::budget())
            )],
            false => Vec::new(),
        };
        Ok(Loaded {
            samples,
            schema: None,
            notes,
        })
    }

    /// The same source, a table read with `options`; other sources have none, so a delimiter
    /// or `drop_incomplete` for them is refused rather than dropped.
    pub fn with_table_options(self, options: TableOptions) -> Result<Self> {
        match self {
            Source::Csv(path, _) => Ok(Source::Csv(path, options)),
            other if options.delimiter.is_some() || options.drop_incomplete => fail!(
                "--delimiter and --drop-incomplete read a table, and --data {other} is not one: drop them"
            ),
            other => Ok(other),
        }
    }
}

/// How a table is read: fitting its schema (training a new model), or through a saved model's.
#[derive(Debug, Clone, Copy)]
pub enum Reading<'a> {
    /// Fit the schema on this file.
    New,
    /// Read through a model's schema; models saved before schemas have none, and their class count.
    Saved {
        schema: Option<&'a Schema>,
        classes: Option<usize>,
        /// Whether the target column must be there (`eval`) or may be missing (`predict`).
        need_target: bool,
    },
}

/// Samples loaded, with the schema of a table and the lines to tell the user about reading it.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The samples.
    pub samples: Samples,
    /// What a table's columns mean; `None` for other sources.
    pub schema: Option<Schema>,
    /// Lines to tell the user (classes, columns left out, rows dropped).
    pub notes: Vec<String>,
}

impl Source {
    /// The shape `[C, H, W]` of the part's samples when they are images (MNIST's, from its header
    /// alone), known before anything is loaded; `None` for sources of flat rows.
    pub fn image_shape(&self, part: Part) -> Result<Option<[usize; 3]>> {
        match self {
            Source::Mnist(dir) => idx::image_shape(dir, part).map(Some),
            Source::Csv(..) | Source::Parity(_) | Source::Spirals(_) => Ok(None),
            Source::Text(_) => Err(self.not_samples()),
        }
    }

    /// The error for asking a text for samples: text trains a GPT, read by [`text::Corpus`].
    fn not_samples(&self) -> candle_core::Error {
        candle_core::Error::Msg(format!(
            "--data {self} trains a character-level GPT, not a network of rows: use --layers gpt:N_LAYER:N_HEAD:N_EMBD with --block-size and --steps"
        ))
    }
}

/// The accepted forms of a [`Source`], for error messages.
fn source_forms() -> String {
    format!(
        "use csv:PATH, mnist:DIR, text:PATH, parity:N (N bits, 1 to {MAX_PARITY_BITS}) or spirals:N (N points per spiral, 1 to {MAX_SPIRAL_POINTS})"
    )
}

/// A whole number in `1..=max` for `name:N`, or an error naming the accepted range.
fn count(name: &str, text: &str, max: usize, what: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "bad {name} size '{text}': write {name}:N with N {what}, a whole number from 1 to {max}"
        )),
    }
}

/// The path after `name:`, or an error if it is empty.
fn path(name: &str, text: &str, what: &str) -> std::result::Result<PathBuf, String> {
    if text.is_empty() {
        return Err(format!(
            "'{name}:' needs a {what} after the colon: write {name}:{}",
            what.to_uppercase()
        ));
    }
    Ok(Path::new(text).to_path_buf())
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let Some((name, rest)) = s.split_once(':') else {
            return Err(format!("unknown data source '{s}': {}", source_forms()));
        };
        match name {
            "csv" => path(name, rest, "path").map(|p| Source::Csv(p, TableOptions::default())),
            "mnist" => path(name, rest, "dir").map(Source::Mnist),
            "text" => path(name, rest, "path").map(Source::Text),
            "parity" => count(name, rest, MAX_PARITY_BITS, "bits").map(Source::Parity),
            "spirals" => {
                count(name, rest, MAX_SPIRAL_POINTS, "points per spiral").map(Source::Spirals)
            }
            _ => Err(format!("unknown data source '{s}': {}", source_forms())),
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Csv(path, _) => write!(f, "csv:{}", path.display()),
            Source::Mnist(dir) => write!(f, "mnist:{}", dir.display()),
            Source::Parity(bits) => write!(f, "parity:{bits}"),
            Source::Spirals(points) => write!(f, "spirals:{points}"),
            Source::Text(path) => write!(f, "text:{}", path.display()),
        }
    }
}
