//! Reading a table into samples, in two passes over the file: fitting a new schema on a
//! training table, or reading through a saved one (columns matched by name), and the lines that
//! tell the user what the reading did.

use std::path::Path;

use candle_core::Result;

use super::fitting::{ColumnFit, LabelFit};
use super::options::TableOptions;
use super::raw::Raw;
use super::schema::{Column, Schema};
use crate::data::memory;
use crate::data::samples::{Samples, TargetKind};

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
            memory::size(memory::budget())
        )
    })
}
