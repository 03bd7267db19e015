//! Where a table's encoded rows go: memory, or a hidden file of float32 beside the table that
//! batches read when the inputs take more than the memory budget.

use std::path::Path;

use candle_core::Result;

/// Where encoded rows go: memory, or a file of float32 beside the table.
pub(super) enum Sink {
    Memory(Vec<f32>),
    File(std::io::BufWriter<tempfile::NamedTempFile>),
}

impl Sink {
    /// A hidden temporary file beside the table at `path`, removed when dropped.
    pub(super) fn file(path: &Path, what: &str) -> Result<Self> {
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match tempfile::Builder::new()
            .prefix(".simple-nn-inputs-")
            .suffix(".f32")
            .tempfile_in(dir)
        {
            Ok(temp) => Ok(Sink::File(std::io::BufWriter::new(temp))),
            Err(e) => fail!(
                "the inputs of {what} take more than the memory budget, and the file to read them from cannot be written beside it ({e}): raise --max-memory or move the table where there is room"
            ),
        }
    }

    pub(super) fn push(&mut self, values: &[f32], what: &str) -> Result<()> {
        match self {
            Sink::Memory(features) => features.extend_from_slice(values),
            Sink::File(writer) => {
                for v in values {
                    if let Err(e) = std::io::Write::write_all(writer, &v.to_le_bytes()) {
                        fail!("cannot write the inputs of {what} beside it: {e}")
                    }
                }
            }
        }
        Ok(())
    }
}
