//! A UTF-8 text file read as characters, a piece at a time, each with its position: the file is
//! never held whole, and a byte that is not UTF-8 stops the read with one line naming it.

use std::fmt;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::path::Path;

use candle_core::Result;

/// Bytes read from the file at a time.
const PIECE: usize = 1 << 16;

/// Where a character stands in a text: its first byte, its line and its column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Bytes before it, from 0.
    pub byte: u64,
    /// Its line, from 1 (lines end at `\n`).
    pub line: u64,
    /// Its column, in characters (not bytes) from 1.
    pub column: u64,
}

impl Position {
    /// The position of a text's first character.
    pub const START: Position = Position {
        byte: 0,
        line: 1,
        column: 1,
    };

    /// The position of the character after `c`, which stands here.
    pub fn after(self, c: char) -> Position {
        let byte = self.byte + c.len_utf8() as u64;
        match c {
            '\n' => Position {
                byte,
                line: self.line + 1,
                column: 1,
            },
            _ => Position {
                byte,
                column: self.column + 1,
                ..self
            },
        }
    }
}

impl fmt::Display for Position {
    /// `line 3, column 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// `'é' (U+00E9)`: a character as the errors name it, escaped where it would not print.
pub fn named(c: char) -> String {
    format!("{c:?} (U+{:04X})", u32::from(c))
}

/// Calls `each` with every character of the UTF-8 file at `path` and its position, in order,
/// reading the file a piece at a time; returns the number of characters. `what` names the file
/// in errors (`text 'input.txt'`). Stops at the first error `each` returns, or at the first byte
/// that is not UTF-8 (named with its byte offset, line and column).
pub fn scan(
    path: &Path,
    what: &str,
    mut each: impl FnMut(char, Position) -> Result<()>,
) -> Result<u64> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) => fail!("cannot open {what}: {e}"),
    };
    // A character cut by the end of a piece (at most 3 of its bytes) is carried to the next.
    let mut buf = vec![0u8; PIECE + 3];
    let (mut carried, mut at, mut count) = (0usize, Position::START, 0u64);
    loop {
        let n = match file.read(&mut buf[carried..]) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => fail!("cannot read {what}: {e}"),
        };
        if n == 0 {
            if carried > 0 {
                fail!(
                    "{what}: the file ends inside a character, at byte {} ({at}; bytes {}): it is not whole UTF-8 text: fetch it again or remove those bytes",
                    at.byte,
                    hex(&buf[..carried])
                );
            }
            return Ok(count);
        }
        let end = carried + n;
        let (valid, bad) = match std::str::from_utf8(&buf[..end]) {
            Ok(_) => (end, None),
            Err(e) => (e.valid_up_to(), e.error_len()),
        };
        // Valid by `valid_up_to`'s promise; the empty default is never taken.
        for c in std::str::from_utf8(&buf[..valid])
            .unwrap_or_default()
            .chars()
        {
            each(c, at)?;
            at = at.after(c);
            count += 1;
        }
        if let Some(len) = bad {
            fail!(
                "{what}: byte {} ({at}) is not UTF-8 (bytes {}): the file must be UTF-8 text: convert it (iconv -t UTF-8) or remove that byte",
                at.byte,
                hex(&buf[valid..valid + len])
            );
        }
        buf.copy_within(valid..end, 0);
        carried = end - valid;
    }
}

/// `0xe2 0x28`.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("0x{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
