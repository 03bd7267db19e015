//! Helpers shared by the side-by-side benchmark examples (`bench_tutorial`, `bench_mlp`).
//!
//! The peers are the reference scripts in `shared/peers`, run as child
//! processes in a Python environment that their `setup.sh` creates.

use std::path::{Path, PathBuf};
use std::process::Command;

use candle_core::{Error, Result};

/// The median of `samples` (the mean of the middle two for an even count; NaN for none).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    }
}

/// What `command` printed on standard output; a failure is an error carrying its standard error.
pub fn stdout_of(command: &mut Command) -> Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .map_err(|e| Error::Msg(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        fail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The python of the peers' virtual environment, created by `<peers>/setup.sh` if missing.
///
/// `numpy_only` installs numpy alone (small); otherwise PyTorch too (large).
pub fn peers_python(peers: &Path, numpy_only: bool) -> Result<PathBuf> {
    let setup = peers.join("setup.sh");
    let mut command = Command::new("bash");
    command.arg(&setup);
    if numpy_only {
        command.env("PEERS", "numpy");
    }
    let text = stdout_of(&mut command).map_err(|e| {
        Error::Msg(format!(
            "{} ({}): pass --peers DIR or --python PATH",
            setup.display(),
            crate::error::message(&e)
        ))
    })?;
    Ok(PathBuf::from(
        text.lines().last().unwrap_or_default().trim(),
    ))
}

/// The number just before `marker` in `text` (`"… 12345 samples/s"` → 12345).
pub fn number_before(text: &str, marker: &str) -> Option<f64> {
    let head = &text[..text.find(marker)?];
    head.rsplit(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .next()?
        .parse()
        .ok()
}

/// The machine's load averages over 1, 5 and 15 minutes, as `/proc/loadavg` gives them
/// (`"1.08 1.26 1.14"`), for a benchmark to print beside its numbers; `"unknown"` elsewhere.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|fields| !fields.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}
