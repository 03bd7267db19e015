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

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::Result;

use super::{Samples, TargetKind, Targets};

/// The target column's name unless told otherwise.
pub const LABEL: &str = "label";
/// At most this many classes.
pub const MAX_CLASSES: usize = 1 << 16;
/// At most this many categories in a text column, each one input of the model.
pub const MAX_CATEGORIES: usize = 1000;

/// What pandas' `read_csv` reads as a missing value by default (case as written).
const MISSING: [&str; 17] = [
    "", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>", "#N/A",
    "#N/A N/A", "#NA", "-1.#IND", "1.#QNAN",
];

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

/// What a table's columns mean: fitted on the training file, saved with the model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Schema {
    /// The target column's name.
    pub target: String,
    /// The feature columns, in the order of the model's inputs.
    pub features: Vec<Column>,
    /// The class names, in class-id order; `None` for regression targets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
}

/// One feature column.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Column {
    /// Its name in the header.
    pub name: String,
    /// For a text column, its categories in the order of its one-hot inputs; `None` for numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
}

impl Schema {
    /// The model inputs the features take: one per number column, one per category of a text column.
    pub fn width(&self) -> usize {
        self.features
            .iter()
            .map(|c| c.categories.as_ref().map_or(1, Vec::len))
            .sum()
    }
}

/// A table read into samples: the features encoded as numbers, what the columns mean, and what
/// the reader did that the user should hear of (one line each).
#[derive(Debug, Clone)]
pub struct Table {
    /// The samples.
    pub samples: Samples,
    /// What the columns mean.
    pub schema: Schema,
    /// Lines to tell the user: the classes, columns left out, rows dropped.
    pub notes: Vec<String>,
}

/// Reads a training table: fits its [`Schema`]; `kind` says whether the target holds classes or values.
///
/// Two passes over the file, a row at a time: the first fits the schema (types, categories,
/// classes), the second encodes the rows, into memory or, over the memory budget, into a
/// file of float32 beside the table that batches then read ([`Samples::is_streamed`]).
pub fn read(path: &Path, kind: TargetKind, options: &TableOptions) -> Result<Table> {
    let raw = Raw::open(path, options)?;
    let target = raw
        .target_column(&options.target, true, false)?
        .unwrap_or(0);
    if raw.names.len() == 1 {
        fail!(
            "{} line 1, column '{}': it is the only column: add at least one feature column",
            raw.file,
            options.target
        );
    }
    let used: Vec<usize> = (0..raw.names.len()).collect();
    let mut columns: Vec<ColumnFit> = (0..raw.names.len()).map(|_| ColumnFit::default()).collect();
    let mut labels = LabelFit::default();
    let counts = raw.each_complete_row(&used, options.drop_incomplete, |byte, record| {
        for (c, fit) in columns.iter_mut().enumerate() {
            match c == target {
                true if kind == TargetKind::Classes => labels.add(byte, &record[c]),
                true => {}
                false => fit.add(byte, &record[c]),
            }
        }
        Ok(())
    })?;
    let features = (0..raw.names.len())
        .filter(|&c| c != target)
        .map(|c| raw.fit_column(c, &columns[c]))
        .collect::<Result<Vec<_>>>()?;
    let classes = match kind {
        TargetKind::Classes => Some(raw.fit_classes(target, &labels)?),
        TargetKind::Values => None,
    };
    let schema = Schema {
        target: raw.names[target].clone(),
        features,
        classes,
    };
    let mut notes = raw.notes.clone();
    if let Some(classes) = &schema.classes {
        let identity = classes.iter().enumerate().all(|(i, c)| *c == i.to_string());
        if !identity {
            let list: Vec<String> = classes
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{i} = {c}"))
                .collect();
            notes.push(format!(
                "classes of column '{}', sorted: {}",
                schema.target,
                list.join(", ")
            ));
        }
    }
    let text: Vec<&str> = schema
        .features
        .iter()
        .filter(|c| c.categories.is_some())
        .map(|c| c.name.as_str())
        .collect();
    if !text.is_empty() {
        notes.push(format!(
            "text columns, one-hot encoded: {} ({} inputs in all)",
            text.join(", "),
            schema.width()
        ));
    }
    notes.extend(counts.note());
    let columns: Vec<usize> = (0..raw.names.len()).filter(|&c| c != target).collect();
    let samples = raw.encode(&schema, &columns, Some(target), kind, options, counts.kept)?;
    notes.extend(streamed_note(&samples, &raw.file));
    Ok(Table {
        samples,
        schema,
        notes,
    })
}

/// Reads a table through a saved `schema`: its columns matched by name. Without `need_target`
/// a file without the target column is read too, its samples unlabeled.
pub fn read_with(
    path: &Path,
    schema: &Schema,
    kind: TargetKind,
    options: &TableOptions,
    need_target: bool,
) -> Result<Table> {
    let raw = Raw::open(path, options)?;
    let target = raw.target_column(&schema.target, need_target, true)?;
    let mut used = Vec::with_capacity(schema.features.len() + 1);
    for column in &schema.features {
        match raw.names.iter().position(|n| *n == column.name) {
            Some(c) => used.push(c),
            None => fail!(
                "{} line 1: no column named '{}', which the model was trained on (its columns: {}): give the file every column the model takes, in any order",
                raw.file,
                column.name,
                schema.features.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }
    }
    let mut notes = raw.notes.clone();
    let extra: Vec<&str> = (0..raw.names.len())
        .filter(|c| !used.contains(c) && Some(*c) != target)
        .map(|c| raw.names[c].as_str())
        .collect();
    if !extra.is_empty() {
        notes.push(format!(
            "columns the model does not take, left out: {}",
            extra.join(", ")
        ));
    }
    // The file's columns in the schema's order.
    let by_name = used.clone();
    used.extend(target);
    let counts = raw.each_complete_row(&used, options.drop_incomplete, |_, _| Ok(()))?;
    notes.extend(counts.note());
    let samples = raw.encode(schema, &by_name, target, kind, options, counts.kept)?;
    notes.extend(streamed_note(&samples, &raw.file));
    Ok(Table {
        samples,
        schema: schema.clone(),
        notes,
    })
}

/// The schema a model saved before schemas were: every column but the target a number, in the
/// file's order, and class ids written as numbers 0 to `classes` − 1.
pub fn read_numeric(
    path: &Path,
    kind: TargetKind,
    classes: Option<usize>,
    options: &TableOptions,
    need_target: bool,
) -> Result<Table> {
    let raw = Raw::open(path, options)?;
    let target = raw.target_column(&options.target, need_target, true)?;
    let schema = Schema {
        target: options.target.clone(),
        features: (0..raw.names.len())
            .filter(|&c| Some(c) != target)
            .map(|c| Column {
                name: raw.names[c].clone(),
                categories: None,
            })
            .collect(),
        classes: classes.map(|k| (0..k).map(|c| c.to_string()).collect()),
    };
    read_with(path, &schema, kind, options, need_target)
}

/// The note of a table read from disk as batches need it.
fn streamed_note(samples: &Samples, file: &str) -> Option<String> {
    samples.is_streamed().then(|| {
        format!(
            "{file}: its inputs take more than the memory budget ({}; --max-memory), so they were written to a file beside it, read as batches need them",
            super::memory::size(super::memory::budget())
        )
    })
}

/// What a pass over a table's rows found: rows kept and rows left out.
struct Counts {
    kept: usize,
    dropped: usize,
}

impl Counts {
    /// The line that says how many rows `--drop-incomplete` left out, if any.
    fn note(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "--drop-incomplete left out {} of {} rows with missing values",
                self.dropped,
                self.kept + self.dropped
            )
        })
    }
}

/// What the training rows of one feature column hold: its first number and first text (with
/// where they are), and its distinct texts (up to one past the most a column may have).
#[derive(Default)]
struct ColumnFit {
    first_number: Option<(u64, String)>,
    first_text: Option<(u64, String)>,
    categories: BTreeSet<String>,
}

impl ColumnFit {
    fn add(&mut self, byte: u64, field: &str) {
        if field.parse::<f32>().is_ok() {
            self.first_number
                .get_or_insert_with(|| (byte, field.to_string()));
        } else {
            self.first_text
                .get_or_insert_with(|| (byte, field.to_string()));
        }
        // Categories matter only for a column of texts alone (with a number in it, it is either
        // a number column or refused).
        let texts_alone = self.first_number.is_none();
        if texts_alone
            && self.categories.len() <= MAX_CATEGORIES
            && !self.categories.contains(field)
        {
            self.categories.insert(field.to_string());
        }
    }
}

/// What the training rows' labels hold: their distinct texts (up to one past the most classes)
/// and the first label that is a number but not a whole one.
#[derive(Default)]
struct LabelFit {
    labels: BTreeSet<String>,
    all_numbers: Option<bool>,
    first_not_whole: Option<(u64, String)>,
}

impl LabelFit {
    fn add(&mut self, byte: u64, field: &str) {
        let number = field.parse::<f64>();
        self.all_numbers = Some(self.all_numbers.unwrap_or(true) && number.is_ok());
        if let Ok(v) = number {
            if !(v.is_finite() && v.fract() == 0.0) && self.first_not_whole.is_none() {
                self.first_not_whole = Some((byte, field.to_string()));
            }
        }
        if self.labels.len() <= MAX_CLASSES && !self.labels.contains(field) {
            self.labels.insert(field.to_string());
        }
    }
}

/// A table file: its header, read at once, and its rows, read a row at a time in each pass.
struct Raw {
    /// `csv 'PATH'`, for messages.
    file: String,
    path: std::path::PathBuf,
    delimiter: u8,
    /// Whether the first column is pandas' row index (left out).
    index: bool,
    names: Vec<String>,
    notes: Vec<String>,
}

impl Raw {
    /// The table at `path`: its header checked, and at least one row below it.
    fn open(path: &Path, options: &TableOptions) -> Result<Self> {
        let file = format!("csv '{}'", path.display());
        let tabs = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
        let delimiter = options.delimiter.unwrap_or(if tabs { b'\t' } else { b',' });
        let mut raw = Self {
            file,
            path: path.to_path_buf(),
            delimiter,
            index: false,
            names: Vec::new(),
            notes: Vec::new(),
        };
        let mut header = None;
        let mut has_rows = false;
        raw.records(|byte, record| {
            match header {
                None => header = Some((byte, record.clone())),
                Some(_) => has_rows = true,
            }
            Ok(!has_rows)
        })?;
        let Some((_, header)) = header else {
            fail!("{} line 1: the file is empty: write a header row naming the columns, one of them the target ('{}'), then one row per sample", raw.file, options.target);
        };
        let mut names: Vec<String> = header.iter().map(str::to_string).collect();
        // pandas' to_csv writes the row index first, under no name.
        let index = names.len() > 1 && names[0].is_empty();
        if index {
            names.remove(0);
            raw.notes.push(
                "column 1 has no name: read as the row index pandas writes, and left out"
                    .to_string(),
            );
        }
        let file = &raw.file;
        for (c, name) in names.iter().enumerate() {
            let number = c + 1 + usize::from(index);
            if name.is_empty() {
                fail!("{file} line 1, column {number}: the column has no name: name every column in the header");
            }
            if let Some(first) = names[..c].iter().position(|n| n == name) {
                fail!(
                    "{file} line 1, column '{name}': the name is used twice (columns {} and {number}): give each column its own name",
                    first + 1 + usize::from(index)
                );
            }
        }
        if !has_rows {
            fail!("{file} line 2: the header has no data rows below it: add one row per sample");
        }
        raw.index = index;
        raw.names = names;
        Ok(raw)
    }

    /// Calls `f(byte, record)` for each record of the file that is not blank, the header first,
    /// while it returns true.
    fn records(&self, mut f: impl FnMut(u64, &csv::StringRecord) -> Result<bool>) -> Result<()> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) => fail!("cannot read {}: {e}", self.file),
        };
        let mut reader = std::io::BufReader::new(file);
        let bom = match std::io::BufRead::fill_buf(&mut reader) {
            Ok(head) => head.starts_with(b"\xef\xbb\xbf"),
            Err(e) => fail!("cannot read {}: {e}", self.file),
        };
        if bom {
            std::io::BufRead::consume(&mut reader, 3);
        }
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let offset = if bom { 3 } else { 0 };
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => return Ok(()),
                // Lines of nothing but separators are blank too.
                Ok(true) if record.iter().all(str::is_empty) => {}
                Ok(true) => {
                    let byte = record.position().map_or(0, |p| p.byte()) + offset;
                    if !f(byte, &record)? {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let line = self.line(e.position().map_or(0, |p| p.byte()) + offset);
                    match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => fail!(
                            "{} line {line}: the bytes are not UTF-8 text: save the file as UTF-8",
                            self.file
                        ),
                        _ => fail!("{} line {line}: {e}", self.file),
                    }
                }
            }
        }
    }

    /// Calls `f(byte, row)` for each data row, its fields one per column (the index left out),
    /// after checking that it has one value per column.
    fn each_row(&self, mut f: impl FnMut(u64, &csv::StringRecord) -> Result<()>) -> Result<()> {
        let (index, width) = (usize::from(self.index), self.names.len());
        let mut header = true;
        let mut trimmed = csv::StringRecord::new();
        self.records(|byte, record| {
            if std::mem::take(&mut header) {
                return Ok(true);
            }
            let row = match index {
                0 => record,
                _ => {
                    trimmed.clear();
                    record.iter().skip(1).for_each(|field| trimmed.push_field(field));
                    &trimmed
                }
            };
            if row.len() != width {
                let which = if row.len() < width {
                    format!("column '{}' is missing", self.names[row.len()])
                } else {
                    format!("field {} has no column", width + 1 + index)
                };
                fail!(
                    "{} line {}: {} fields but the header has {} columns ({which}): give every row one value per column",
                    self.file,
                    self.line(byte),
                    record.len(),
                    width + index
                );
            }
            f(byte, row)?;
            Ok(true)
        })
    }

    /// [`each_row`](Self::each_row) over the rows whose `used` columns are all filled in;
    /// without `drop`, a missing cell is an error.
    fn each_complete_row(
        &self,
        used: &[usize],
        drop: bool,
        mut f: impl FnMut(u64, &csv::StringRecord) -> Result<()>,
    ) -> Result<Counts> {
        let mut counts = Counts {
            kept: 0,
            dropped: 0,
        };
        self.each_row(|byte, row| {
            match used.iter().find(|&&c| MISSING.contains(&&row[c])) {
                None => {
                    counts.kept += 1;
                    f(byte, row)?;
                }
                Some(_) if drop => counts.dropped += 1,
                Some(&c) => fail!(
                    "{}: the value is missing ('{}'): fill it in, or pass --drop-incomplete to leave out rows with missing values",
                    self.at(byte, c),
                    &row[c]
                ),
            }
            Ok(())
        })?;
        if counts.kept == 0 {
            fail!(
                "{}: every row has a missing value ({} rows): fill them in",
                self.file,
                counts.dropped
            );
        }
        Ok(counts)
    }

    /// The line (counted from 1) of the record starting at `byte`: counted in the file, for an
    /// error (the reader's own count skips blank lines).
    fn line(&self, byte: u64) -> u64 {
        let Ok(file) = std::fs::File::open(&self.path) else {
            return 0;
        };
        let (mut line, mut at) = (1u64, 0u64);
        let mut reader = std::io::BufReader::new(file);
        loop {
            let chunk = match std::io::BufRead::fill_buf(&mut reader) {
                Ok(chunk) if !chunk.is_empty() => chunk,
                _ => return line,
            };
            for &b in chunk {
                // A record after blank lines starts, for the reader, where they start.
                if at >= byte && b != b'\n' && b != b'\r' {
                    return line;
                }
                line += u64::from(b == b'\n');
                at += 1;
            }
            let n = chunk.len();
            std::io::BufRead::consume(&mut reader, n);
        }
    }

    /// The index of the column named `name`; an error when it is needed and missing, naming
    /// the closest names and what to do: the name came from `--target`, or from the `model`.
    fn target_column(&self, name: &str, needed: bool, model: bool) -> Result<Option<usize>> {
        let Some(c) = self.names.iter().position(|n| n == name) else {
            if !needed {
                return Ok(None);
            }
            let near = crate::error::closest(name, &self.names);
            let near = match near.is_empty() {
                true => String::new(),
                false => format!(" (closest: '{}')", near.join("', '")),
            };
            let (columns, fix) = (list(&self.names), match model {
                true => "the model was trained to predict it, so this table holds other data: give the model a table like the one it was trained on",
                false => "name the target column with --target NAME",
            });
            fail!(
                "{} line 1: no column named '{name}'{near}; columns: {columns}: {fix}",
                self.file
            )
        };
        Ok(Some(c))
    }

    /// Where an error about column `c` of the row at `byte` starts.
    fn at(&self, byte: u64, c: usize) -> String {
        format!(
            "{} line {}, column '{}'",
            self.file,
            self.line(byte),
            self.names[c]
        )
    }

    /// Column `c` of the training rows as `fit` saw it: numbers, or text (its sorted categories).
    fn fit_column(&self, c: usize, fit: &ColumnFit) -> Result<Column> {
        let name = self.names[c].clone();
        let Some((text_at, text)) = &fit.first_text else {
            return Ok(Column {
                name,
                categories: None,
            });
        };
        if let Some((number_at, number)) = &fit.first_number {
            fail!(
                "{}: '{text}' is not a number, but the column's other values are (line {} holds '{number}'): correct the value",
                self.at(*text_at, c),
                self.line(*number_at)
            );
        }
        let categories = &fit.categories;
        // Decimal commas or thousands separators: numbers that would become categories.
        let comma_number =
            |t: &&String| t.contains(',') && t.replace(',', ".").parse::<f32>().is_ok();
        if categories
            .iter()
            .all(|t| t.replace(',', "").parse::<f32>().is_ok())
        {
            if let Some(example) = categories.iter().find(comma_number) {
                fail!(
                    "{}: '{example}' is a number written with a comma, which would make the column text: write numbers with a decimal point and no thousands separators",
                    self.at(*text_at, c)
                );
            }
        }
        if categories.len() > MAX_CATEGORIES {
            fail!(
                "{} line 1, column '{name}': more than {MAX_CATEGORIES} different texts, where a text column is one-hot encoded with one input per text: leave the column out of the file",
                self.file
            );
        }
        Ok(Column {
            name,
            categories: Some(categories.iter().cloned().collect()),
        })
    }

    /// The class names of target column `c` from what `fit` saw: its distinct labels sorted,
    /// numerically where every label is a number (written canonically: `3.0` is class `3`).
    fn fit_classes(&self, c: usize, fit: &LabelFit) -> Result<Vec<String>> {
        if fit.labels.len() > MAX_CLASSES {
            fail!(
                "{} line 1, column '{}': more than {MAX_CLASSES} different labels, the most classes a model may have: for real-valued targets use --loss mse",
                self.file,
                self.names[c]
            );
        }
        if fit.all_numbers != Some(true) {
            return Ok(fit.labels.iter().cloned().collect());
        }
        if let Some((byte, field)) = &fit.first_not_whole {
            let v = field.parse::<f64>().unwrap_or(f64::NAN);
            class_name(v, field, &|| self.at(*byte, c))?;
        }
        let mut sorted: Vec<f64> = fit
            .labels
            .iter()
            .filter_map(|l| l.parse::<f64>().ok())
            .map(|v| v + 0.0)
            .collect();
        sorted.sort_by(f64::total_cmp);
        sorted.dedup();
        Ok(sorted.iter().map(|v| format!("{v}")).collect())
    }

    /// The `kept` complete rows as samples: feature `i` of the schema read from file column
    /// `columns[i]`, numbers as they are and text one-hot; the target from column `target`
    /// (unlabeled without). The inputs go to memory, or, over the budget, to a file beside the
    /// table (removed when the samples are dropped) that batches read.
    fn encode(
        &self,
        schema: &Schema,
        columns: &[usize],
        target: Option<usize>,
        kind: TargetKind,
        options: &TableOptions,
        kept: usize,
    ) -> Result<Samples> {
        let width = schema.width();
        let bytes = (kept as u64).saturating_mul(width as u64).saturating_mul(4);
        let mut sink = match bytes <= super::memory::budget() {
            true => Sink::Memory(Vec::with_capacity(kept * width)),
            false => Sink::file(&self.path, &self.file)?,
        };
        let lookups: Vec<Option<HashMap<&str, usize>>> = schema
            .features
            .iter()
            .map(|f| {
                f.categories
                    .as_ref()
                    .map(|k| k.iter().enumerate().map(|(i, k)| (k.as_str(), i)).collect())
            })
            .collect();
        let classes: Option<HashMap<&str, u32>> = schema.classes.as_ref().map(|k| {
            k.iter()
                .enumerate()
                .map(|(i, k)| (k.as_str(), i as u32))
                .collect()
        });
        let mut used = columns.to_vec();
        used.extend(target);
        let (mut labels, mut values) = (Vec::new(), Vec::new());
        let mut row_values = Vec::with_capacity(width);
        self.each_complete_row(&used, options.drop_incomplete, |byte, record| {
            row_values.clear();
            for ((column, &c), lookup) in schema.features.iter().zip(columns).zip(&lookups) {
                let field = &record[c];
                match (lookup, &column.categories) {
                    (Some(lookup), Some(categories)) => {
                        let Some(&i) = lookup.get(field) else {
                            fail!(
                                "{}: '{field}' was not among the column's values in training ({}): the model has no input for it",
                                self.at(byte, c),
                                list(categories)
                            );
                        };
                        let start = row_values.len();
                        row_values.resize(start + categories.len(), 0.0);
                        row_values[start + i] = 1.0;
                    }
                    _ => row_values.push(number_in(field, &|| self.at(byte, c))?),
                }
            }
            sink.push(&row_values, &self.file)?;
            let Some(t) = target else { return Ok(()) };
            let field = &record[t];
            match (kind, &classes) {
                (TargetKind::Values, _) => values.push(number_in(field, &|| self.at(byte, t))?),
                (TargetKind::Classes, Some(classes)) => {
                    // As written, else as a whole number is named (`3.0` is class `3`).
                    let canonical = field
                        .parse::<f64>()
                        .ok()
                        .filter(|v| v.is_finite() && v.fract() == 0.0)
                        .map(|v| format!("{}", v + 0.0));
                    let id = classes
                        .get(field)
                        .or_else(|| canonical.and_then(|name| classes.get(name.as_str())));
                    match id {
                        Some(&id) => labels.push(id),
                        None => fail!(
                            "{}: class '{field}' was not among the classes in training ({}): the model cannot score it",
                            self.at(byte, t),
                            list(schema.classes.as_deref().unwrap_or_default())
                        ),
                    }
                }
                (TargetKind::Classes, None) => {
                    fail!("{}: the model predicts values, not classes", self.at(byte, t))
                }
            }
            Ok(())
        })?;
        let targets = match (target, kind) {
            (None, _) => Targets::Unknown,
            (Some(_), TargetKind::Values) => Targets::Values { values, outputs: 1 },
            (Some(_), TargetKind::Classes) => Targets::Classes {
                labels,
                classes: schema.classes.as_ref().map_or(1, Vec::len),
            },
        };
        match sink {
            Sink::Memory(features) => Samples::new(features, width, targets),
            Sink::File(writer) => {
                let temp = match writer.into_inner() {
                    Ok(temp) => temp,
                    Err(e) => fail!(
                        "cannot write the inputs of {} beside it: {}",
                        self.file,
                        e.error()
                    ),
                };
                Samples::from_f32_file(temp, width, targets)
            }
        }
    }
}

/// Where encoded rows go: memory, or a file of float32 beside the table.
enum Sink {
    Memory(Vec<f32>),
    File(std::io::BufWriter<tempfile::NamedTempFile>),
}

impl Sink {
    /// A hidden temporary file beside the table at `path`, removed when dropped.
    fn file(path: &Path, what: &str) -> Result<Self> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match tempfile::Builder::new()
            .prefix(".simple-nn-inputs-")
            .suffix(".f32")
            .tempfile_in(dir)
        {
            Ok(temp) => Ok(Sink::File(std::io::BufWriter::new(temp))),
            Err(e) => fail!(
                "the inputs of {what} take more than the memory budget, and the file to read them from cannot be written beside it ({e}): raise --max-memory or move the table where there is room"
            ),
        }
    }

    fn push(&mut self, values: &[f32], what: &str) -> Result<()> {
        match self {
            Sink::Memory(features) => features.extend_from_slice(values),
            Sink::File(writer) => {
                for v in values {
                    if let Err(e) = std::io::Write::write_all(writer, &v.to_le_bytes()) {
                        fail!("cannot write the inputs of {what} beside it: {e}")
                    }
                }
            }
        }
        Ok(())
    }
}

/// `a, b, c`, or the first ten and how many more.
fn list(items: &[String]) -> String {
    match items.len() {
        0..=10 => items.join(", "),
        n => format!("{}, … ({n} in all)", items[..10].join(", ")),
    }
}

/// A finite float32, or an error that starts with `at()`.
fn number_in(field: &str, at: &dyn Fn() -> String) -> Result<f32> {
    let Ok(v) = field.parse::<f32>() else {
        fail!("{}: '{field}' is not a number", at());
    };
    if !v.is_finite() {
        fail!(
            "{}: '{field}' is not a finite number (float32 holds up to about ±3.4e38): replace it with a real value",
            at()
        );
    }
    Ok(v)
}

/// The class name of a numeric label (`3.0` is `3`), or an error that starts with `at()`.
fn class_name(v: f64, field: &str, at: &dyn Fn() -> String) -> Result<String> {
    if !v.is_finite() {
        fail!(
            "{}: '{field}' is not a finite number: class labels are whole numbers or names",
            at()
        );
    }
    if v.fract() != 0.0 {
        fail!(
            "{}: label '{field}' is not a whole number: numeric class labels are whole numbers; for real-valued targets use --loss mse",
            at()
        );
    }
    // `+ 0.0` writes −0 as 0.
    Ok(format!("{}", v + 0.0))
}
