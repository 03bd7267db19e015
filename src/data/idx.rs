//! MNIST's IDX files, plain or gzipped: images as features in [0, 1] (kept as bytes), labels as digits 0 to 9.
//!
//! An IDX file is a big-endian header (a magic number whose last byte is the
//! number of dimensions, then one u32 size per dimension) followed by the
//! data, here unsigned bytes. The header is checked against the data that is
//! really there before anything is sized from it, so a corrupt header that
//! claims a billion images fails at once instead of allocating for them.
//! Gzipped files are recognised by their content, whatever their name.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use candle_core::Result;
use flate2::read::GzDecoder;

use super::{memory, Part, Samples, Targets};

/// The magic number of an IDX file of unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// The magic number of an IDX file of unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// MNIST's number of classes, the digits 0 to 9.
pub const DIGITS: usize = 10;

/// Reads an images file: the pixels scaled to [0, 1] row-major, the number of images, and the pixels per image (height × width).
pub fn read_images(path: &Path) -> Result<(Vec<f32>, usize, usize)> {
    let (dims, bytes) = read_idx(path, IMAGES_MAGIC, "IDX images")?;
    let pixels = bytes.iter().map(|&b| f32::from(b) / 255.0).collect();
    Ok((pixels, dims[0], dims[1] * dims[2]))
}

/// Reads a labels file: one label per item.
pub fn read_labels(path: &Path) -> Result<Vec<u32>> {
    let (_, bytes) = read_idx(path, LABELS_MAGIC, "IDX labels")?;
    Ok(bytes.iter().map(|&b| u32::from(b)).collect())
}

/// Loads MNIST's training (`train-*`) or test (`t10k-*`) images and labels from `dir`, plain or `.gz`.
pub fn mnist(dir: &Path, part: Part) -> Result<Samples> {
    let prefix = match part {
        Part::Train => "train",
        Part::Test => "t10k",
    };
    let images_path = find(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let labels_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let dims = read_header(
        &mut open(&images_path)?,
        IMAGES_MAGIC,
        "IDX images",
        &images_path,
    )?;
    let (n_images, n_features) = (dims[0], dims[1] * dims[2]);
    let labels = read_labels(&labels_path)?;
    if labels.len() != n_images {
        fail!(
            "mnist '{}': '{}' holds {n_images} images but '{}' holds {} labels: use the images and labels of the same set",
            dir.display(),
            images_path.display(),
            labels_path.display(),
            labels.len()
        );
    }
    if let Some(i) = labels.iter().position(|&l| l as usize >= DIGITS) {
        fail!(
            "idx '{}': label {i} is {}, not a digit 0 to 9: this is not an MNIST labels file",
            labels_path.display(),
            labels[i]
        );
    }
    let targets = Targets::Classes {
        labels,
        classes: DIGITS,
    };
    let shape = [1, dims[1], dims[2]];
    let Some(pixels) = (n_images as u64).checked_mul(n_features as u64) else {
        fail!(
            "idx '{}': the header's sizes {} overflow: the file is corrupt",
            images_path.display(),
            sizes_text(&dims)
        );
    };
    if pixels <= memory::budget() {
        // The pixels stay bytes (a quarter of their float32 size) until batches are built.
        let (_, pixels) = read_idx(&images_path, IMAGES_MAGIC, "IDX images")?;
        return Samples::from_bytes(pixels, 255.0, n_features, targets)?.with_image_shape(shape);
    }
    // More than the budget: read from the file as batches need them.
    let plain = plain_file(&images_path, 16, pixels)?;
    Samples::from_file(&plain, (16, pixels as usize), 255.0, n_features, targets)?
        .with_image_shape(shape)
}

/// The IDX file at `path` as a plain file of `header` + `data` bytes: the file itself, or, when
/// it is gzipped, a copy decompressed once beside it (under its name without `.gz`, so that the
/// next run finds it first), written to a temporary file and renamed when it is whole.
fn plain_file(path: &Path, header: u64, data: u64) -> Result<PathBuf> {
    let file = path.display();
    let size = header.saturating_add(data);
    let gzipped = {
        let mut head = [0u8; 2];
        let n = File::open(path)
            .and_then(|mut f| f.read(&mut head))
            .unwrap_or(0);
        n == 2 && head == [0x1f, 0x8b]
    };
    if !gzipped {
        let found = std::fs::metadata(path).map_or(0, |m| m.len());
        if found != size {
            fail!(
                "idx '{file}': the header promises {data} bytes of data but the file holds {} after it: the file is damaged, fetch it again",
                found.saturating_sub(header)
            );
        }
        return Ok(path.to_path_buf());
    }
    let target = path.with_extension("");
    let dir = target.parent().unwrap_or(Path::new("."));
    let refuse = |e: &dyn std::fmt::Display| -> candle_core::Error {
        candle_core::Error::Msg(format!(
            "idx '{file}' takes more than the memory budget, so it is read from a decompressed copy, which cannot be written beside it ({e}): decompress it yourself (gunzip -k) where there is room"
        ))
    };
    let mut temp = tempfile::Builder::new()
        .prefix(".simple-nn-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| refuse(&e))?;
    let written = std::io::copy(&mut open(path)?.take(size + 1), temp.as_file_mut())
        .map_err(|e| refuse(&e))?;
    if written != size {
        fail!(
            "idx '{file}': the header promises {data} bytes of data but {} follow: the file is damaged, fetch it again",
            written.saturating_sub(header)
        );
    }
    // Readable by whoever could read the compressed file (a temporary file is private).
    if let Ok(meta) = std::fs::metadata(path) {
        temp.as_file()
            .set_permissions(meta.permissions())
            .map_err(|e| refuse(&e))?;
    }
    temp.persist(&target).map_err(|e| refuse(&e.error))?;
    Ok(target)
}

/// The shape `[1, H, W]` of the training (`train-*`) or test (`t10k-*`) images in `dir`, from the
/// images file's header alone.
pub fn image_shape(dir: &Path, part: Part) -> Result<[usize; 3]> {
    let prefix = match part {
        Part::Train => "train",
        Part::Test => "t10k",
    };
    let (rows, cols) = image_dims(&find(dir, &format!("{prefix}-images-idx3-ubyte"))?)?;
    Ok([1, rows, cols])
}

/// The height and width of the images in the IDX file at `path`, from its header.
fn image_dims(path: &Path) -> Result<(usize, usize)> {
    let dims = read_header(&mut open(path)?, IMAGES_MAGIC, "IDX images", path)?;
    Ok((dims[1], dims[2]))
}

/// `dir/name`, or else `dir/name.gz`, or an error listing both.
fn find(dir: &Path, name: &str) -> Result<PathBuf> {
    let gz = format!("{name}.gz");
    for candidate in [name, gz.as_str()] {
        let path = dir.join(candidate);
        if path.is_file() {
            return Ok(path);
        }
    }
    let place = if dir.is_dir() {
        "that directory has neither"
    } else {
        "it is not a directory"
    };
    fail!(
        "mnist '{}': looked for '{name}' and '{gz}' but {place}: put MNIST's IDX files (plain or gzipped) in one directory and name it",
        dir.display()
    )
}

/// The sizes in the header of the IDX file at `path` and its data bytes, after checking that they agree.
fn read_idx(path: &Path, magic: u32, what: &str) -> Result<(Vec<usize>, Vec<u8>)> {
    let file = path.display();
    let mut reader = open(path)?;
    let dims = read_header(&mut reader, magic, what, path)?;
    let shape = sizes_text(&dims);
    let Some(expected) = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
    else {
        fail!("idx '{file}': the header's sizes {shape} overflow: the file is corrupt");
    };
    // Refused before a byte of data is read (or, gzipped, inflated) when it would not fit.
    super::memory::check(&format!("idx '{file}' ({shape})"), expected)?;
    // At most one byte past what the header promises, so a lying header
    // costs no more memory than the data that is really there.
    // Sized at once (within the budget): a growing buffer held its old and new halves at once,
    // 5.3 GB resident for 3.1 GB of pixels.
    let data = read_into(
        &mut reader,
        expected.saturating_add(1),
        Vec::with_capacity(expected.saturating_add(1) as usize),
        path,
    )?;
    let found = data.len() as u64;
    if found < expected {
        fail!(
            "idx '{file}': the header promises {shape} = {expected} bytes of data but only {found} follow: the file is truncated, fetch it again"
        );
    }
    if found > expected {
        fail!(
            "idx '{file}': more data follows the {shape} = {expected} bytes its header promises: the file is not a single IDX file"
        );
    }
    Ok((dims, data))
}

/// The sizes in an IDX header read from `reader`, after checking its magic number and that no item is empty.
fn read_header(reader: &mut dyn Read, magic: u32, what: &str, path: &Path) -> Result<Vec<usize>> {
    let file = path.display();
    let n_dims = (magic & 0xff) as usize;
    let header_len = 4 + 4 * n_dims;
    let header = read_up_to(reader, header_len as u64, path)?;
    if header.len() < 4 {
        fail!(
            "idx '{file}': {} bytes are too few for an IDX header ({header_len} bytes): the file is empty or truncated",
            header.len()
        );
    }
    let found = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found != magic {
        let hint = match found {
            IMAGES_MAGIC => ": this is an images file, in place of a labels file",
            LABELS_MAGIC => ": this is a labels file, in place of an images file",
            _ => ": this is not an MNIST file of that kind",
        };
        fail!("idx '{file}': expected magic 0x{magic:08x} ({what}), found 0x{found:08x}{hint}");
    }
    if header.len() < header_len {
        fail!(
            "idx '{file}': {} bytes are too few for the {header_len}-byte header of {what}: the file is truncated",
            header.len()
        );
    }
    let dims: Vec<usize> = header[4..]
        .chunks(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .collect();
    let shape = sizes_text(&dims);
    if dims[1..].contains(&0) {
        fail!("idx '{file}': the header's sizes {shape} leave items of zero bytes: the file is corrupt");
    }
    Ok(dims)
}

/// Sizes as the errors write them: `60000 × 28 × 28`.
fn sizes_text(dims: &[usize]) -> String {
    dims.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(" × ")
}

/// A reader of the file's content, decompressed when it starts with gzip's magic bytes.
fn open(path: &Path) -> Result<Box<dyn Read>> {
    let mut reader = match File::open(path) {
        Ok(f) => BufReader::new(f),
        Err(e) => fail!("cannot open idx '{}': {e}", path.display()),
    };
    let gzipped = match reader.fill_buf() {
        Ok(head) => head.starts_with(&[0x1f, 0x8b]),
        Err(e) => fail!("cannot read idx '{}': {e}", path.display()),
    };
    Ok(if gzipped {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    })
}

/// Up to `limit` bytes from `reader`, fewer at its end.
fn read_up_to(reader: &mut dyn Read, limit: u64, path: &Path) -> Result<Vec<u8>> {
    read_into(reader, limit, Vec::new(), path)
}

/// Up to `limit` bytes from `reader` appended to `bytes`, fewer at its end.
fn read_into(
    reader: &mut dyn Read,
    limit: u64,
    mut bytes: Vec<u8>,
    path: &Path,
) -> Result<Vec<u8>> {
    if let Err(e) = reader.take(limit).read_to_end(&mut bytes) {
        fail!(
            "cannot read idx '{}': {e}: the file is damaged (a gzipped file may be cut short), fetch it again",
            path.display()
        );
    }
    Ok(bytes)
}
