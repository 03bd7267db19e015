//! The first pass over a training table: what each feature column holds (numbers, or the
//! texts that become its one-hot categories) and the target's distinct labels, then the
//! schema's columns and classes from them, refused where a column mixes numbers and text or
//! holds too many values.

use std::collections::BTreeSet;

use candle_core::Result;

use super::number::class_name;
use super::raw::Raw;
use super::schema::Column;

/// At most this many classes.
pub const MAX_CLASSES: usize = 1 << 16;
/// At most this many categories in a text column, each one input of the model.
pub const MAX_CATEGORIES: usize = 1000;

/// What the training rows of one feature column hold: its first number and first text (with
/// where they are), and its distinct texts (up to one past the most a column may have).
#[derive(Default)]
pub(super) struct ColumnFit {
    first_number: Option<(u64, String)>,
    first_text: Option<(u64, String)>,
    categories: BTreeSet<String>,
}

impl ColumnFit {
    pub(super) fn add(&mut self, byte: u64, field: &str) {
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
pub(super) struct LabelFit {
    labels: BTreeSet<String>,
    all_numbers: Option<bool>,
    first_not_whole: Option<(u64, String)>,
}

impl LabelFit {
    pub(super) fn add(&mut self, byte: u64, field: &str) {
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

impl Raw {
    /// Column `c` of the training rows as `fit` saw it: numbers, or text (its sorted categories).
    pub(super) fn fit_column(&self, c: usize, fit: &ColumnFit) -> Result<Column> {
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
    pub(super) fn fit_classes(&self, c: usize, fit: &LabelFit) -> Result<Vec<String>> {
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
}
