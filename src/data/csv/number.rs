//! Numbers parsed from a table's cells: a feature or target value (a finite float32), and the
//! class name of a numeric label (a whole number, written canonically).

use candle_core::Result;

/// A finite float32, or an error that starts with `at()`.
pub(super) fn number_in(field: &str, at: &dyn Fn() -> String) -> Result<f32> {
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
pub(super) fn class_name(v: f64, field: &str, at: &dyn Fn() -> String) -> Result<String> {
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
