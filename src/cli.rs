//! Command-line values: parsers whose errors name the accepted range, shared by the examples.
//!
//! Each returns `Err(String)`, which clap shows after the flag's name
//! (`invalid value '-1' for '--lr <LR>': '-1' is not a positive finite number: use e.g. 0.01`).

use candle_core::DType;

/// How the `nn` commands the messages print are run from a clone of the repository.
pub const NN: &str = "cargo run --release --example nn --";

/// `f32`, `f64`, `bf16` or `f16`.
pub fn dtype(s: &str) -> Result<DType, String> {
    match s {
        "f32" => Ok(DType::F32),
        "f64" => Ok(DType::F64),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        _ => Err(format!(
            "unsupported dtype '{s}': use f32, f64, bf16 or f16"
        )),
    }
}

/// A finite number above 0 (a learning rate).
pub fn positive(s: &str) -> Result<f64, String> {
    number(s, |v| v > 0.0, "a positive finite number: use e.g. 0.01")
}

/// A finite number of at least 0 (a weight decay).
pub fn non_negative(s: &str) -> Result<f64, String> {
    number(s, |v| v >= 0.0, "a finite number ≥ 0: use e.g. 0.01")
}

/// A number in [0, 1) (a fraction held out).
pub fn fraction(s: &str) -> Result<f64, String> {
    number(
        s,
        |v| (0.0..1.0).contains(&v),
        "a fraction in [0, 1): use e.g. 0.1",
    )
}

/// A number in [0, 1) (a momentum: at 1 or more the velocity never forgets and training diverges).
pub fn momentum(s: &str) -> Result<f64, String> {
    number(
        s,
        |v| (0.0..1.0).contains(&v),
        "a momentum in [0, 1): use e.g. 0.9",
    )
}

/// A whole number of at least 0 (a count of steps), also for `-5`, which clap would otherwise take for a flag.
pub fn count(s: &str) -> Result<u64, String> {
    s.parse::<u64>()
        .map_err(|_| format!("'{s}' is not a whole number ≥ 0: use e.g. 1000"))
}

/// A whole number of at least 1 (a layer size, a batch size, a count of epochs).
pub fn size(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}' is not a whole number ≥ 1: use e.g. 32")),
    }
}

/// `C,H,W`: the channels, height and width of an image, each at least 1.
pub fn image_shape(s: &str) -> Result<[usize; 3], String> {
    let sizes: Vec<usize> = s
        .split(',')
        .map(size)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("image shape '{s}': {e}; write C,H,W, e.g. 1,28,28"))?;
    <[usize; 3]>::try_from(sizes)
        .map_err(|_| format!("image shape '{s}' is not three sizes: write C,H,W, e.g. 1,28,28"))
}

fn number(s: &str, ok: impl Fn(f64) -> bool, what: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && ok(v) => Ok(v),
        _ => Err(format!("'{s}' is not {what}")),
    }
}

/// A table's field separator: one ASCII character other than a quote or a line end, or `tab` (`\t`).
pub fn delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && !matches!(s, "\"" | "\n" | "\r") => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(format!(
            "'{s}' is not a field separator: give one character such as ';' or '|', or tab"
        )),
    }
}

/// A size in bytes: a number, optionally with K, M, G or T (powers of 1024; `1.5G`), above 0.
pub fn bytes(s: &str) -> Result<u64, String> {
    let text = s.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&text[..i], text[i..].trim_end_matches(['B', 'b'])),
        None => (text, ""),
    };
    let scale = match unit.to_ascii_uppercase().as_str() {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => 0,
    };
    match number.trim().parse::<f64>() {
        Ok(v) if scale > 0 && v.is_finite() && v * scale as f64 >= 1.0 && v * (scale as f64) < 1.8e19 => {
            Ok((v * scale as f64) as u64)
        }
        _ => Err(format!(
            "'{s}' is not a size: give a number of bytes above 0, optionally with K, M, G or T (e.g. 512M, 2G)"
        )),
    }
}
