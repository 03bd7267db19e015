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
pub fn read(path: &Path, kind: TargetKind, options: &TableOptions) -> Result<Table> {
    let raw = Raw::read(path, options)?;
    let target = raw.target_column(&options.target, true)?.unwrap_or(0);
    if raw.names.len() == 1 {
        fail!(
            "{} line 1, column '{}': it is the only column: add at least one feature column",
            raw.file,
            options.target
        );
    }
    let used: Vec<usize> = (0..raw.names.len()).collect();
    let (rows, dropped) = raw.complete_rows(&used, options.drop_incomplete)?;
    let features = (0..raw.names.len())
        .filter(|&c| c != target)
        .map(|c| raw.fit_column(c, &rows))
        .collect::<Result<Vec<_>>>()?;
    let classes = match kind {
        TargetKind::Classes => Some(raw.fit_classes(target, &rows)?),
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
        .filter_map(|c| c.categories.as_ref().map(|k| (c, k.len())))
        .map(|(c, _)| c.name.as_str())
        .collect();
    if !text.is_empty() {
        notes.push(format!(
            "text columns, one-hot encoded: {} ({} inputs in all)",
            text.join(", "),
            schema.width()
        ));
    }
    notes.extend(dropped);
    let columns: Vec<usize> = (0..raw.names.len()).filter(|&c| c != target).collect();
    let samples = raw.encode_columns(&schema, &columns, &rows, Some(target), kind)?;
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
    let raw = Raw::read(path, options)?;
    let target = raw.target_column(&schema.target, need_target)?;
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
    used.extend(target);
    let (rows, dropped) = raw.complete_rows(&used, options.drop_incomplete)?;
    notes.extend(dropped);
    // The file's columns in the schema's order.
    let by_name: Vec<usize> = used[..schema.features.len()].to_vec();
    let samples = raw.encode_columns(schema, &by_name, &rows, target, kind)?;
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
    let raw = Raw::read(path, options)?;
    let target = raw.target_column(&options.target, need_target)?;
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

/// A table's header and rows as text, checked to be rectangular.
struct Raw {
    /// `csv 'PATH'`, for messages.
    file: String,
    names: Vec<String>,
    /// Each row's line in the file, and its fields.
    rows: Vec<(u64, csv::StringRecord)>,
    notes: Vec<String>,
}

impl Raw {
    fn read(path: &Path, options: &TableOptions) -> Result<Self> {
        let file = format!("csv '{}'", path.display());
        // The text is held while it is parsed: checked before it is read.
        if let Ok(meta) = std::fs::metadata(path) {
            super::memory::check(&file, meta.len())?;
        }
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => fail!("cannot read {file}: {e}"),
        };
        let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&bytes);
        let tabs = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
        let delimiter = options.delimiter.unwrap_or(if tabs { b'\t' } else { b',' });
        // The parsed records hold the text again and 8 bytes per field, plus a record's own
        // ~64 bytes per line: short fields cost several times their text.
        let fields = bytes
            .iter()
            .filter(|&&b| b == delimiter || b == b'\n')
            .count() as u64
            + 1;
        let lines = bytes.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
        let parsed = (bytes.len() as u64 * 2)
            .saturating_add(fields.saturating_mul(8))
            .saturating_add(lines.saturating_mul(64));
        super::memory::check(&format!("{file}, parsed,"), parsed)?;
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        // Lines counted from the byte offsets: the reader's own count skips blank lines.
        let mut counted = (0, 1);
        let mut line_at = |position: Option<&csv::Position>| {
            let mut byte = position.map_or(0, |p| p.byte() as usize).min(bytes.len());
            // A record after blank lines starts, for the reader, where they start.
            while byte < bytes.len() && matches!(bytes[byte], b'\n' | b'\r') {
                byte += 1;
            }
            let (from, line) = counted;
            let newlines = bytes[from.min(byte)..byte]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            counted = (byte.max(from), line + newlines as u64);
            counted.1
        };
        let mut records = Vec::new();
        for record in reader.records() {
            match record {
                Ok(record) => {
                    let line = line_at(record.position());
                    records.push((line, record));
                }
                Err(e) => {
                    let line = line_at(e.position());
                    match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => fail!(
                            "{file} line {line}: the bytes are not UTF-8 text: save the file as UTF-8"
                        ),
                        _ => fail!("{file} line {line}: {e}"),
                    }
                }
            }
        }
        // Lines of nothing but separators are blank too.
        records.retain(|(_, r)| r.iter().any(|f| !f.is_empty()));
        let mut records = records.into_iter();
        let Some((_, header)) = records.next() else {
            fail!("{file} line 1: the file is empty: write a header row naming the columns, one of them the target ('{}'), then one row per sample", options.target);
        };
        let mut names: Vec<String> = header.iter().map(str::to_string).collect();
        let mut notes = Vec::new();
        // pandas' to_csv writes the row index first, under no name.
        let index = names.len() > 1 && names[0].is_empty();
        if index {
            names.remove(0);
            notes.push(
                "column 1 has no name: read as the row index pandas writes, and left out"
                    .to_string(),
            );
        }
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
        let mut rows = Vec::new();
        for (line, mut record) in records {
            if index && !record.is_empty() {
                let fields: Vec<String> = record.iter().skip(1).map(str::to_string).collect();
                let position = record.position().cloned();
                record = csv::StringRecord::from(fields);
                record.set_position(position);
            }
            if record.len() != names.len() {
                let which = if record.len() < names.len() {
                    format!("column '{}' is missing", names[record.len()])
                } else {
                    format!(
                        "field {} has no column",
                        names.len() + 1 + usize::from(index)
                    )
                };
                fail!(
                    "{file} line {line}: {} fields but the header has {} columns ({which}): give every row one value per column",
                    record.len() + usize::from(index),
                    names.len() + usize::from(index)
                );
            }
            rows.push((line, record));
        }
        if rows.is_empty() {
            fail!("{file} line 2: the header has no data rows below it: add one row per sample");
        }
        Ok(Self {
            file,
            names,
            rows,
            notes,
        })
    }

    /// The index of the column named `name`; an error when it is needed and missing.
    fn target_column(&self, name: &str, needed: bool) -> Result<Option<usize>> {
        match self.names.iter().position(|n| n == name) {
            Some(c) => Ok(Some(c)),
            None if !needed => Ok(None),
            None => fail!(
                "{} line 1: no column named '{name}' (columns: {}): name the target column with --target NAME",
                self.file,
                self.names.join(", ")
            ),
        }
    }

    /// The rows whose `used` columns are all filled in, and a note of the rows left out; without
    /// `drop`, a missing cell is an error.
    fn complete_rows(&self, used: &[usize], drop: bool) -> Result<(Vec<usize>, Option<String>)> {
        let mut kept = Vec::with_capacity(self.rows.len());
        for (i, (line, record)) in self.rows.iter().enumerate() {
            match used.iter().find(|&&c| MISSING.contains(&&record[c])) {
                None => kept.push(i),
                Some(_) if drop => {}
                Some(&c) => fail!(
                    "{} line {line}, column '{}': the value is missing ('{}'): fill it in, or pass --drop-incomplete to leave out rows with missing values",
                    self.file,
                    self.names[c],
                    &record[c]
                ),
            }
        }
        let dropped = self.rows.len() - kept.len();
        if kept.is_empty() {
            fail!(
                "{}: every row has a missing value ({dropped} rows): fill them in",
                self.file
            );
        }
        let note = (dropped > 0).then(|| {
            format!(
                "--drop-incomplete left out {dropped} of {} rows with missing values",
                self.rows.len()
            )
        });
        Ok((kept, note))
    }

    /// Where an error about row `row`'s column `c` starts.
    fn at(&self, row: usize, c: usize) -> String {
        format!(
            "{} line {}, column '{}'",
            self.file, self.rows[row].0, self.names[c]
        )
    }

    /// Column `c` of the training rows: numbers, or text (its sorted categories).
    fn fit_column(&self, c: usize, rows: &[usize]) -> Result<Column> {
        let numeric = |&r: &usize| self.rows[r].1[c].parse::<f32>().is_ok();
        let name = self.names[c].clone();
        match rows.iter().find(|r| !numeric(r)) {
            None => Ok(Column {
                name,
                categories: None,
            }),
            Some(&text) => {
                if let Some(&number) = rows.iter().find(|r| numeric(r)) {
                    fail!(
                        "{}: '{}' is not a number, but the column's other values are (line {} holds '{}'): correct the value",
                        self.at(text, c),
                        &self.rows[text].1[c],
                        self.rows[number].0,
                        &self.rows[number].1[c]
                    );
                }
                let categories: BTreeSet<&str> = rows.iter().map(|&r| &self.rows[r].1[c]).collect();
                // Decimal commas or thousands separators: numbers that would become categories.
                let comma_number =
                    |t: &&&str| t.contains(',') && t.replace(',', ".").parse::<f32>().is_ok();
                if categories
                    .iter()
                    .all(|t| t.replace(',', "").parse::<f32>().is_ok())
                {
                    if let Some(example) = categories.iter().find(comma_number) {
                        fail!(
                            "{}: '{example}' is a number written with a comma, which would make the column text: write numbers with a decimal point and no thousands separators",
                            self.at(text, c)
                        );
                    }
                }
                if categories.len() > MAX_CATEGORIES {
                    fail!(
                        "{} line 1, column '{name}': {} different texts, where a text column is one-hot encoded with one input per text (at most {MAX_CATEGORIES}): leave the column out of the file",
                        self.file,
                        categories.len()
                    );
                }
                Ok(Column {
                    name,
                    categories: Some(categories.into_iter().map(str::to_string).collect()),
                })
            }
        }
    }

    /// The class names of target column `c`: its distinct labels sorted, numerically where
    /// every label is a number (written canonically: `3.0` is class `3`).
    fn fit_classes(&self, c: usize, rows: &[usize]) -> Result<Vec<String>> {
        let numbers: Option<Vec<f64>> = rows
            .iter()
            .map(|&r| self.rows[r].1[c].parse::<f64>().ok())
            .collect();
        let classes: Vec<String> = match numbers {
            Some(numbers) => {
                for (&r, v) in rows.iter().zip(&numbers) {
                    class_name(*v, &self.rows[r].1[c], &|| self.at(r, c))?;
                }
                let mut sorted: Vec<f64> = numbers.iter().map(|v| v + 0.0).collect();
                sorted.sort_by(f64::total_cmp);
                sorted.dedup();
                sorted.iter().map(|v| format!("{v}")).collect()
            }
            None => {
                let set: BTreeSet<&str> = rows.iter().map(|&r| &self.rows[r].1[c]).collect();
                set.into_iter().map(str::to_string).collect()
            }
        };
        if classes.len() > MAX_CLASSES {
            fail!(
                "{} line 1, column '{}': {} different labels, more than the {MAX_CLASSES} classes a model may have: for real-valued targets use --loss mse",
                self.file,
                self.names[c],
                classes.len()
            );
        }
        Ok(classes)
    }

    /// The rows' samples: feature `i` of the schema read from file column `columns[i]`, numbers
    /// as they are and text one-hot; the target from column `target` (unlabeled without).
    fn encode_columns(
        &self,
        schema: &Schema,
        columns: &[usize],
        rows: &[usize],
        target: Option<usize>,
        kind: TargetKind,
    ) -> Result<Samples> {
        let width = schema.width();
        // One-hot columns can make the features far larger than the file.
        let bytes = (rows.len() as u64)
            .saturating_mul(width as u64 + 1)
            .saturating_mul(4);
        super::memory::check(&format!("{}'s {} inputs per row", self.file, width), bytes)?;
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
        let mut features = Vec::with_capacity(rows.len() * width);
        let mut labels = Vec::new();
        let mut values = Vec::new();
        for &r in rows {
            let record = &self.rows[r].1;
            for ((column, &c), lookup) in schema.features.iter().zip(columns).zip(&lookups) {
                let field = &record[c];
                match (lookup, &column.categories) {
                    (Some(lookup), Some(categories)) => {
                        let Some(&i) = lookup.get(field) else {
                            fail!(
                                "{}: '{field}' was not among the column's values in training ({}): the model has no input for it",
                                self.at(r, c),
                                list(categories)
                            );
                        };
                        let start = features.len();
                        features.resize(start + categories.len(), 0.0);
                        features[start + i] = 1.0;
                    }
                    _ => features.push(number_in(field, &|| self.at(r, c))?),
                }
            }
            let Some(t) = target else { continue };
            let field = &record[t];
            match (kind, &classes) {
                (TargetKind::Values, _) => values.push(number_in(field, &|| self.at(r, t))?),
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
                            self.at(r, t),
                            list(schema.classes.as_deref().unwrap_or_default())
                        ),
                    }
                }
                (TargetKind::Classes, None) => {
                    fail!("{}: the model predicts values, not classes", self.at(r, t))
                }
            }
        }
        let targets = match (target, kind) {
            (None, _) => Targets::Unknown,
            (Some(_), TargetKind::Values) => Targets::Values { values, outputs: 1 },
            (Some(_), TargetKind::Classes) => Targets::Classes {
                labels,
                classes: schema.classes.as_ref().map_or(1, Vec::len),
            },
        };
        Samples::new(features, width, targets)
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
