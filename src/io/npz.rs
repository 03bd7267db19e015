//! Checks on `.npz` archives before candle reads them.
//!
//! candle allocates what a `.npy` header declares before reading the data, so
//! a small file claiming a huge array would exhaust memory or abort; these
//! checks compare every header with the bytes really present first.

use std::path::Path;

use candle_core::{Error, Result};

/// Checks, before candle reads an `.npz`, that every array's header agrees with the bytes really present.
pub fn check(path: &Path) -> Result<()> {
    use std::io::Read;
    let file_len = std::fs::metadata(path)?.len();
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path)?)
        .map_err(|e| Error::Msg(format!("not a zip archive ({e})")))?;
    for i in 0..archive.len() {
        let mut entry = archive
            .by_index(i)
            .map_err(|e| Error::Msg(format!("entry {i} is unreadable ({e})")))?;
        let name = entry
            .name()
            .map_or_else(|_| format!("entry {i}"), |n| n.to_string());
        let size = entry.size();
        if size > file_len {
            fail!("'{name}' claims {size} bytes, more than the whole file holds ({file_len})")
        }
        let mut prefix = [0u8; 12];
        entry
            .read_exact(&mut prefix)
            .map_err(|_| Error::Msg(format!("'{name}' is too short to be a .npy array")))?;
        if &prefix[..6] != b"\x93NUMPY" {
            fail!("'{name}' is not a .npy array (bad magic)")
        }
        let (header_len, header_start) = match prefix[6] {
            1 => (u64::from(u16::from_le_bytes([prefix[8], prefix[9]])), 10u64),
            2 | 3 => (
                u64::from(u32::from_le_bytes([
                    prefix[8], prefix[9], prefix[10], prefix[11],
                ])),
                12u64,
            ),
            v => fail!("'{name}' has .npy version {v}, which this reader does not know"),
        };
        if header_start + header_len > size {
            fail!("'{name}' declares a {header_len}-byte header in {size} bytes")
        }
        let mut header = vec![0u8; header_len as usize];
        let skip = (header_start - 10) as usize;
        let mut rest = prefix[10..].to_vec();
        rest.drain(..skip.min(rest.len()));
        let have = rest.len().min(header.len());
        header[..have].copy_from_slice(&rest[..have]);
        entry
            .read_exact(&mut header[have..])
            .map_err(|_| Error::Msg(format!("'{name}' ends inside its header")))?;
        let header = String::from_utf8_lossy(&header);
        let data = npy_data_bytes(&header).ok_or_else(|| {
            Error::Msg(format!(
                "'{name}' has a .npy header this reader cannot size: {}",
                header.trim()
            ))
        })?;
        if header_start + header_len + data > size {
            fail!(
                "'{name}' declares {data} bytes of data but holds {}: the file is truncated or its header is wrong",
                size.saturating_sub(header_start + header_len)
            )
        }
    }
    Ok(())
}

/// The bytes of data a `.npy` header declares (`descr` item size × the product of `shape`), if it can tell.
fn npy_data_bytes(header: &str) -> Option<u64> {
    let after = |key: &str| header.split_once(key).map(|(_, rest)| rest);
    let descr = after("'descr':")?
        .trim_start()
        .trim_start_matches('\'')
        .split('\'')
        .next()?;
    let item: u64 = descr
        .trim_start_matches(['<', '>', '|', '='])
        .get(1..)?
        .parse()
        .ok()?;
    let shape = after("'shape':")?
        .trim_start()
        .strip_prefix('(')?
        .split(')')
        .next()?;
    shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .try_fold(item, |acc, d| acc.checked_mul(d.parse::<u64>().ok()?))
}
