//! CSV files: a header row, a `label` column as the target, every other column a numeric feature.
//!
//! The format is deliberately plain: comma-separated numbers, spaces around
//! fields ignored, `\n` or `\r\n` line ends, an optional newline at the end.
//! Quoting is not supported because no numeric field needs it. Every error
//! names the file, the line (the header is line 1) and the column.

use std::path::Path;

use candle_core::Result;

use super::{Samples, TargetKind, Targets};

/// The name of the target column.
pub const LABEL: &str = "label";
/// Class ids must be below this; a larger id is almost surely a regression target.
pub const MAX_CLASSES: usize = 1 << 16;

/// Reads a CSV file; `kind` says whether its `label` column holds class ids or real values.
pub fn read(path: &Path, kind: TargetKind) -> Result<Samples> {
    let file = path.display();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => fail!("cannot read csv '{file}': {e}"),
    };
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let good = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = 1 + good.iter().filter(|&&b| b == b'\n').count();
            fail!("csv '{file}' line {line}: the bytes are not UTF-8 text: save the file as UTF-8")
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if lines.is_empty() {
        fail!(
            "csv '{file}' line 1: the file is empty: write a header row naming the columns, one of them '{LABEL}', then one row per sample"
        );
    }

    let names: Vec<&str> = lines[0].split(',').map(str::trim).collect();
    for (c, name) in names.iter().enumerate() {
        if name.starts_with('"') || name.starts_with('\'') {
            fail!(
                "csv '{file}' line 1, column {}: {name} is quoted: quoting is not supported, write the name without quotes",
                c + 1
            );
        }
        if name.is_empty() {
            fail!(
                "csv '{file}' line 1, column {}: the column has no name: name every column in the header",
                c + 1
            );
        }
        if let Some(first) = names[..c].iter().position(|n| n == name) {
            fail!(
                "csv '{file}' line 1, column '{name}': the name is used twice (columns {} and {}): give each column its own name",
                first + 1,
                c + 1
            );
        }
    }
    let Some(label_col) = names.iter().position(|&n| n == LABEL) else {
        fail!(
            "csv '{file}' line 1: no column named '{LABEL}' (columns: {}): name the target column '{LABEL}'",
            names.join(", ")
        );
    };
    if names.len() == 1 {
        fail!(
            "csv '{file}' line 1, column '{LABEL}': it is the only column: add at least one feature column"
        );
    }
    if lines.len() == 1 {
        fail!("csv '{file}' line 2: the header has no data rows below it: add one row per sample");
    }

    let n_features = names.len() - 1;
    // Grown as rows are read, never sized from the header alone.
    let mut features = Vec::new();
    let mut labels = Vec::new();
    let mut values = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let number = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if line.trim().is_empty() {
            fail!("csv '{file}' line {number}: the line is empty: remove blank lines between rows");
        }
        if fields.len() != names.len() {
            let which = if fields.len() < names.len() {
                format!("column '{}' is missing", names[fields.len()])
            } else {
                format!("field {} has no column", names.len() + 1)
            };
            fail!(
                "csv '{file}' line {number}: {} fields but the header has {} columns ({which}): give every row one value per column",
                fields.len(),
                names.len()
            );
        }
        for (c, field) in fields.iter().enumerate() {
            let at = || format!("csv '{file}' line {number}, column '{}'", names[c]);
            if field.starts_with('"') || field.starts_with('\'') {
                fail!(
                    "{}: {field} is quoted: quoting is not supported, write the number without quotes",
                    at()
                );
            }
            if field.is_empty() {
                fail!("{}: the value is empty: fill in a number", at());
            }
            if c != label_col {
                features.push(number_in(field, &at)?);
                continue;
            }
            match kind {
                TargetKind::Values => values.push(number_in(field, &at)?),
                TargetKind::Classes => labels.push(class_in(field, &at)?),
            }
        }
    }

    let targets = match kind {
        TargetKind::Values => Targets::Values { values, outputs: 1 },
        TargetKind::Classes => {
            let classes = labels.iter().max().map_or(1, |&m| m as usize + 1);
            Targets::Classes { labels, classes }
        }
    };
    Samples::new(features, n_features, targets)
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

/// A class id such as `3` or `3.0`, or an error that starts with `at()`.
fn class_in(field: &str, at: &dyn Fn() -> String) -> Result<u32> {
    let Ok(v) = field.parse::<f64>() else {
        fail!(
            "{}: '{field}' is not a number: class labels are whole numbers 0, 1, 2, …",
            at()
        );
    };
    if !v.is_finite() {
        fail!(
            "{}: '{field}' is not a finite number: class labels are whole numbers 0, 1, 2, …",
            at()
        );
    }
    if v < 0.0 {
        fail!(
            "{}: label '{field}' is negative: class labels are whole numbers 0, 1, 2, …",
            at()
        );
    }
    if v.fract() != 0.0 {
        fail!(
            "{}: label '{field}' is not a whole number: class labels are 0, 1, 2, …; load real-valued targets for regression instead",
            at()
        );
    }
    if v >= MAX_CLASSES as f64 {
        fail!(
            "{}: label '{field}' is too large: class labels must be below {MAX_CLASSES}; load real-valued targets for regression instead",
            at()
        );
    }
    Ok(v as u32)
}
