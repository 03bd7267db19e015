//! Writing output files so that a crash or an error never leaves a half-written one.
//!
//! Everything is written to a temporary file in the destination's folder and
//! renamed over the destination only once complete: a reader sees the old
//! file or the new one, never a mix.

use std::path::{Path, PathBuf};

use candle_core::{Error, Result};

/// Runs `write` on a temporary path beside `path`, then renames the result to `path`.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = temporary_path(path);
    let fail = |e: &dyn std::fmt::Display| {
        let _ = std::fs::remove_file(&tmp);
        Error::Msg(format!("cannot write '{}': {e}", path.display()))
    };
    write(&tmp).map_err(|e| fail(&crate::error::message(&e)))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(&e))
}

/// Writes `contents` to `path` atomically.
pub fn write(path: &Path, contents: &[u8]) -> Result<()> {
    write_with(path, |tmp| Ok(std::fs::write(tmp, contents)?))
}

/// Checks, before any long work, that a file can later be written at `path`.
pub fn check_writable(path: &Path) -> Result<()> {
    let probe = temporary_path(path);
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            Error::Msg(format!(
                "cannot write '{}' ({e}): pick a path in an existing folder you can write to",
                path.display()
            ))
        })
}

fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}
