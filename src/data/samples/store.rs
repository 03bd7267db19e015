//! The feature values behind samples, shared by their splits and selections: float32 or bytes,
//! in memory or in a file read as batches need them.

use candle_core::Result;

/// The feature values behind samples, shared by their splits and selections.
pub(super) enum Store {
    /// Float32 values, row-major.
    F32(Vec<f32>),
    /// Bytes, row-major, each standing for `values[byte]` (MNIST's pixels: `byte / 255`).
    U8 {
        bytes: Vec<u8>,
        values: Box<[f32; 256]>,
    },
    /// Float32 values (little-endian) in a temporary file, removed with the store: a table's
    /// inputs over the memory budget.
    F32File {
        file: tempfile::NamedTempFile,
        len: usize,
    },
    /// Bytes as [`Store::U8`], left in a file from `offset` on and read as batches need them.
    File {
        file: std::fs::File,
        path: std::path::PathBuf,
        offset: u64,
        len: usize,
        values: Box<[f32; 256]>,
    },
}

impl Store {
    /// The number of values.
    pub(super) fn len(&self) -> usize {
        match self {
            Store::F32(v) => v.len(),
            Store::U8 { bytes, .. } => bytes.len(),
            Store::File { len, .. } | Store::F32File { len, .. } => *len,
        }
    }

    /// Appends the `n` values from `start` to `out` as float32.
    pub(super) fn extend(&self, start: usize, n: usize, out: &mut Vec<f32>) -> Result<()> {
        match self {
            Store::F32(v) => out.extend_from_slice(&v[start..start + n]),
            Store::U8 { bytes, values } => out.extend(
                bytes[start..start + n]
                    .iter()
                    .map(|&b| values[usize::from(b)]),
            ),
            Store::File {
                file,
                path,
                offset,
                values,
                ..
            } => {
                let mut bytes = vec![0u8; n];
                if let Err(e) = read_at(file, &mut bytes, offset + start as u64) {
                    fail!("cannot read '{}': {e}", path.display())
                }
                out.extend(bytes.iter().map(|&b| values[usize::from(b)]));
            }
            Store::F32File { file, .. } => {
                let mut bytes = vec![0u8; n * 4];
                if let Err(e) = read_at(file.as_file(), &mut bytes, start as u64 * 4) {
                    fail!("cannot read '{}': {e}", file.path().display())
                }
                out.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
        }
        Ok(())
    }

    /// Bytes the values take in memory.
    pub(super) fn bytes(&self) -> usize {
        match self {
            Store::F32(v) => v.len() * 4,
            Store::U8 { bytes, .. } => bytes.len(),
            Store::File { .. } | Store::F32File { .. } => 0,
        }
    }
}

/// Fills `buf` from `file` at `offset`.
#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Fills `buf` from `file` at `offset`.
#[cfg(not(unix))]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}
