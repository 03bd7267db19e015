//! What a run writes besides its model: the epoch history, predictions, and metrics, as text.

use super::ModelSpec;
use crate::nn::{Epoch, Loss, Unit};

/// One CSV row per epoch (or evaluation of a run by steps): `epoch,lr,train_loss,valid_loss,valid_accuracy,seconds`
/// (`step,…` for a run by steps; empty cells where there is no value).
pub fn history_csv(epochs: &[Epoch], unit: Unit) -> String {
    let cell = |v: Option<f64>| v.map(|v| format!("{v:e}")).unwrap_or_default();
    let mut csv = format!(
        "{},lr,train_loss,valid_loss,valid_accuracy,seconds\n",
        unit.name()
    );
    for e in epochs {
        csv += &format!(
            "{},{:e},{:e},{},{},{:e}\n",
            unit.of(e),
            e.lr,
            e.train_loss,
            cell(e.valid_loss),
            cell(e.valid_accuracy),
            e.seconds
        );
    }
    csv
}

/// One epoch's numbers on one line, as `train` prints them: `epoch   3/20  lr 1.000e-3  train loss 0.41…`
/// (`step  250/2000  …` in a run by steps).
pub fn epoch_line(e: &Epoch, unit: Unit) -> String {
    let mut line = format!(
        "{} {:>3}/{}  lr {:.3e}  train loss {:.5}",
        unit.name(),
        unit.of(e),
        unit.total(),
        e.lr,
        e.train_loss
    );
    if let Some(loss) = e.valid_loss {
        line += &format!("  valid loss {loss:.5}");
    }
    if let Some(accuracy) = e.valid_accuracy {
        line += &format!("  valid accuracy {:.2}%", accuracy * 100.0);
    }
    line + &format!("  {:.3} s", e.seconds)
}

/// A model's predictions as CSV, one row per sample (`rows` as [`crate::nn::predict`] gives them).
///
/// Classifiers write `predicted,p_A,p_B,…`: the predicted class, then each class's probability,
/// the classes named as in the training data (a table's class names, else the ids 0, 1, …);
/// regression models write `output0,output1,…`.
pub fn predictions_csv(spec: &ModelSpec, rows: &[Vec<f64>]) -> String {
    let cells = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.6}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let outputs = spec.sizes.last().copied().unwrap_or(0);
    let classes = match spec.loss {
        Loss::Bce => 2,
        _ => spec.classes.unwrap_or(0),
    };
    let names: Vec<String> = (0..classes).map(|c| spec.class_name(c)).collect();
    let mut csv = match spec.loss {
        Loss::CrossEntropy | Loss::Bce if classes > 0 => {
            let probabilities: Vec<String> =
                names.iter().map(|n| cell(&format!("p_{n}"))).collect();
            format!("predicted,{}\n", probabilities.join(","))
        }
        _ => {
            let names: Vec<String> = (0..outputs).map(|o| format!("output{o}")).collect();
            names.join(",") + "\n"
        }
    };
    for row in rows {
        csv += &match spec.loss {
            Loss::CrossEntropy => {
                let best = row
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                format!("{},{}\n", cell(&spec.class_name(best)), cells(row))
            }
            Loss::Bce => {
                let p1 = row.first().copied().unwrap_or(0.0);
                let class = spec.class_name(usize::from(p1 > 0.5));
                format!("{},{}\n", cell(&class), cells(&[1.0 - p1, p1]))
            }
            Loss::Mse | Loss::HalfSse => cells(row) + "\n",
        };
    }
    csv
}

/// A CSV field: as it is, or quoted (RFC 4180) where it holds a comma, a quote or a line end.
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes `metrics` to `path` (atomically) as a flat JSON object, pretty-printed with a final newline: what `--metrics-json` writes.
pub fn write_metrics(
    path: &std::path::Path,
    metrics: &impl serde::Serialize,
) -> candle_core::Result<()> {
    let json = serde_json::to_string_pretty(metrics)
        .map_err(|e| candle_core::Error::Msg(format!("cannot write metrics: {e}")))?;
    super::atomic::write(path, format!("{json}\n").as_bytes())
}

/// Writes `text` to `path` (atomically), or to standard output without one; a reader that
/// stops early (`nn predict … | head`) is no error.
pub fn write_or_print(path: Option<&std::path::Path>, text: &str) -> candle_core::Result<()> {
    use std::io::Write;
    match path {
        Some(path) => super::atomic::write(path, text.as_bytes()),
        None => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                fail!("cannot write to standard output: {e}")
            }
            _ => Ok(()),
        },
    }
}
