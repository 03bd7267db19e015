//! A text's character ids, kept compactly: bytes or u16 in memory, or, over the memory budget,
//! in a hidden temporary file (little-endian) read a window at a time. Never floats.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use candle_core::Result;
use tempfile::NamedTempFile;

use super::vocabulary::Width;

/// A text's ids, in order.
#[derive(Debug)]
pub enum Ids {
    /// One byte per id.
    U8(Vec<u8>),
    /// Two bytes per id.
    U16(Vec<u16>),
    /// `len` ids of `width` in a temporary file, removed with it.
    File {
        /// The file, deleted when dropped.
        file: NamedTempFile,
        /// The bytes of an id.
        width: Width,
        /// The number of ids.
        len: usize,
    },
}

impl Ids {
    /// The number of ids.
    pub fn len(&self) -> usize {
        match self {
            Ids::U8(ids) => ids.len(),
            Ids::U16(ids) => ids.len(),
            Ids::File { len, .. } => *len,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How each id is kept.
    pub fn width(&self) -> Width {
        match self {
            Ids::U8(_) => Width::U8,
            Ids::U16(_) => Width::U16,
            Ids::File { width, .. } => *width,
        }
    }

    /// The temporary file that holds them, when they are not in memory.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Ids::File { file, .. } => Some(file.path()),
            _ => None,
        }
    }

    /// Appends the `n` ids from `start` on to `out` (the caller keeps them within the ids).
    pub fn extend(&self, start: usize, n: usize, out: &mut Vec<u32>) -> Result<()> {
        match self {
            Ids::U8(ids) => out.extend(ids[start..start + n].iter().map(|&id| u32::from(id))),
            Ids::U16(ids) => out.extend(ids[start..start + n].iter().map(|&id| u32::from(id))),
            Ids::File { file, width, .. } => {
                let w = width.bytes();
                let mut bytes = vec![0u8; n * w];
                if let Err(e) = read_at(file.as_file(), &mut bytes, (start * w) as u64) {
                    fail!(
                        "cannot read the text's ids from '{}': {e}",
                        file.path().display()
                    );
                }
                match width {
                    Width::U8 => out.extend(bytes.iter().map(|&b| u32::from(b))),
                    Width::U16 => out.extend(
                        bytes
                            .chunks_exact(2)
                            .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]]))),
                    ),
                }
            }
        }
        Ok(())
    }
}

/// Where ids are written as a text is read a second time: memory sized for all of them, or a
/// temporary file.
pub enum Sink {
    /// Bytes in memory.
    U8(Vec<u8>),
    /// u16 in memory.
    U16(Vec<u16>),
    /// A temporary file, through a buffer.
    File {
        /// The buffered file.
        out: BufWriter<NamedTempFile>,
        /// The bytes of an id.
        width: Width,
        /// Ids written so far.
        len: usize,
    },
}

impl Sink {
    /// Memory for `len` ids of `width`, allocated at once (the caller has counted it).
    pub fn memory(width: Width, len: usize) -> Self {
        match width {
            Width::U8 => Sink::U8(Vec::with_capacity(len)),
            Width::U16 => Sink::U16(Vec::with_capacity(len)),
        }
    }

    /// A hidden temporary file beside `beside` (the text), or in the system's temporary folder
    /// (`TMPDIR`, else `/tmp`) when that folder cannot be written; `what` names the text.
    pub fn file(width: Width, beside: &Path, what: &str) -> Result<Self> {
        let dir = beside
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let builder = || {
            let mut b = tempfile::Builder::new();
            b.prefix(".simple-nn-text-").suffix(".ids");
            b
        };
        let file = match builder().tempfile_in(dir) {
            Ok(file) => file,
            Err(beside_err) => match builder().tempfile() {
                Ok(file) => file,
                Err(e) => fail!(
                    "the ids of {what} take more than the memory budget, and the file to read them from can be written neither beside it ({beside_err}) nor in {} ({e}): raise --max-memory or free room in one of them",
                    std::env::temp_dir().display()
                ),
            },
        };
        Ok(Sink::File {
            out: BufWriter::with_capacity(1 << 16, file),
            width,
            len: 0,
        })
    }

    /// Appends `id` (below the width's limit).
    pub fn push(&mut self, id: u32, what: &str) -> Result<()> {
        match self {
            Sink::U8(ids) => ids.push(id as u8),
            Sink::U16(ids) => ids.push(id as u16),
            Sink::File { out, width, len } => {
                let written = match width {
                    Width::U8 => out.write_all(&[id as u8]),
                    Width::U16 => out.write_all(&(id as u16).to_le_bytes()),
                };
                if let Err(e) = written {
                    fail!(
                        "cannot write the ids of {what} to '{}': {e}: free disk space there, or raise --max-memory to keep them in memory",
                        out.get_ref().path().display()
                    );
                }
                *len += 1;
            }
        }
        Ok(())
    }

    /// The ids written.
    pub fn finish(self, what: &str) -> Result<Ids> {
        Ok(match self {
            Sink::U8(ids) => Ids::U8(ids),
            Sink::U16(ids) => Ids::U16(ids),
            Sink::File { out, width, len } => {
                let path: PathBuf = out.get_ref().path().to_path_buf();
                match out.into_inner() {
                    Ok(file) => Ids::File { file, width, len },
                    Err(e) => fail!(
                        "cannot write the ids of {what} to '{}': {}: free disk space there, or raise --max-memory to keep them in memory",
                        path.display(),
                        e.error()
                    ),
                }
            }
        })
    }
}

/// Fills `buf` from `file` at `offset`.
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset`.
#[cfg(not(unix))]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
