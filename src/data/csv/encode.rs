//! The second pass over a table: each complete row encoded through a schema, numbers as they
//! are and text one-hot, with its class id or value, into memory or, over the memory budget, a
//! file of float32 beside the table.

use std::collections::HashMap;

use candle_core::Result;

use super::number::number_in;
use super::options::TableOptions;
use super::raw::Raw;
use super::schema::Schema;
use super::sink::Sink;
use crate::data::memory;
use crate::data::samples::{Samples, TargetKind, Targets};

impl Raw {
    /// The `kept` complete rows as samples: feature `i` of the schema read from file column
    /// `columns[i]`, numbers as they are and text one-hot; the target from column `target`
    /// (unlabeled without). The inputs go to memory, or, over the budget, to a file beside the
    /// table (removed when the samples are dropped) that batches read.
    pub(super) fn encode(
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
        let mut sink = match bytes <= memory::budget() {
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

/// `a, b, c`, or the first ten and how many more.
fn list(items: &[String]) -> String {
    match items.len() {
        0..=10 => items.join(", "),
        n => format!("{}, … ({n} in all)", items[..10].join(", ")),
    }
}
