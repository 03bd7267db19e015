//! Writing output files so that a crash or an error never leaves a half-written one.
//!
//! Everything is written to a fresh temporary file in the destination's folder
//! (`.NAME.XXXXXX.tmp`, a unique name from `tempfile`, so two writers never
//! share one), flushed to disk, and renamed over the destination only once
//! complete; then the folder itself is flushed, so that the rename survives a
//! power cut too. A reader sees the old file or the new one, never a mix. On an
//! error or a panic the temporary file is removed; a process killed outright
//! leaves at most its hidden `.tmp` file, never a damaged destination. Files
//! get the usual permissions (`0666` less the umask), as `File::create` gives.

use std::fs::File;
use std::path::{Path, PathBuf};

use candle_core::{Error, Result};
use tempfile::NamedTempFile;

/// Runs `write` on a temporary path beside `path`, then moves the result to `path`.
///
/// `write` may write the path however it likes (a library writer that takes a
/// path, say), as long as it writes that path and no other.
pub fn write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let fail =
        |e: &dyn std::fmt::Display| Error::Msg(format!("cannot write '{}': {e}", path.display()));
    let tmp = temporary_beside(path).map_err(|e| fail(&why_not(path, &e)))?;
    write(tmp.path()).map_err(|e| fail(&crate::error::message(&e)))?;
    // The writer may have reopened the path: flush what is there now, not our handle's view.
    File::open(tmp.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    sync_folder(path).map_err(|e| fail(&e))
}

/// Writes `contents` to `path` atomically.
pub fn write(path: &Path, contents: &[u8]) -> Result<()> {
    write_with(path, |tmp| Ok(std::fs::write(tmp, contents)?))
}

/// Checks, before any long work, that a file can later be written at `path`.
pub fn check_writable(path: &Path) -> Result<()> {
    temporary_beside(path).map(drop).map_err(|e| {
        Error::Msg(format!(
            "cannot write '{}' ({}): pick a path in an existing folder you can write to",
            path.display(),
            why_not(path, &e)
        ))
    })
}

/// Why no file can be made at `path`, `e` being what making one beside it gave: the folder,
/// when it is missing or no folder, else the error without the temporary file's name.
fn why_not(path: &Path, e: &std::io::Error) -> String {
    let folder = folder_of(path);
    match (folder.exists(), folder.is_dir()) {
        (false, _) => format!("the folder '{}' does not exist", folder.display()),
        (true, false) => format!("'{}' is not a folder", folder.display()),
        // tempfile ends its message with the temporary file's path, which is no name of the user's.
        (true, true) => (e.to_string().split(" at path ").next())
            .unwrap_or_default()
            .to_string(),
    }
}

/// [`check_writable`] for each path that is given.
pub fn check_all_writable<'a>(paths: impl IntoIterator<Item = &'a Option<PathBuf>>) -> Result<()> {
    paths
        .into_iter()
        .flatten()
        .try_for_each(|p| check_writable(p))
}

/// The folder a file at `path` lives in (`.` for a bare file name).
fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A new, empty, uniquely named hidden file in `path`'s folder, removed again when dropped.
fn temporary_beside(path: &Path) -> std::io::Result<NamedTempFile> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // As File::create: the process's umask applies (0644 under the usual 022).
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    builder.tempfile_in(folder_of(path))
}

/// Flushes the folder holding `path`, so that a rename into it is on disk.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    File::open(folder_of(path))?.sync_all()?;
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
