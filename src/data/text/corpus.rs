//! A text read for a character-level model: its vocabulary, its ids, the split into a training
//! and a validation part, the training batches drawn from the run's seed, and the consecutive
//! windows that validation (and `eval` over a whole file) reads.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use candle_core::Result;

use crate::data::memory;
use crate::rng::{self, Purpose};

use super::batch::Batch;
use super::chars::{self, named, Position};
use super::ids::{Ids, Sink};
use super::vocabulary::{Vocabulary, MAX_CHARS};

/// The fraction of the characters that validate unless told otherwise: nanoGPT's 10%.
pub const DEFAULT_VALID_FRACTION: f64 = 0.1;

/// How a text is read: its window length and how much of it validates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextOptions {
    /// The characters a model sees at once, `T` (`--block-size`); a window is `T + 1` characters.
    pub block_size: usize,
    /// The fraction at the end that validates, in [0, 1) (`--valid-fraction`; 0 validates nothing).
    pub valid_fraction: f64,
}

impl TextOptions {
    /// Windows of `block_size`, the last [`DEFAULT_VALID_FRACTION`] of the characters validating.
    pub fn new(block_size: usize) -> Self {
        Self {
            block_size,
            valid_fraction: DEFAULT_VALID_FRACTION,
        }
    }
}

/// The number of characters of a `len`-character text that train: the first
/// `int((1 − valid_fraction) · len)`, computed in float64 and truncated, as Python computes it.
///
/// For 0.1, `1 − 0.1` is the float64 `0.9`, so this is `torch_gpt.py`'s and nanoGPT's
/// `n = int(0.9 * len(data))` exactly (10 → 9, 11 → 9, 19 → 17, 101 → 90). For other fractions
/// it is ⌊(1 − f)·len⌋ up to float64 rounding, which Python's `int(...)` shares: 0.25 gives
/// 10 → 7, 0 gives every character (nothing validates), and 0.3, whose `1 − 0.3` is a little
/// under 0.7, gives 90 → 62 (not 63).
pub fn train_len(len: usize, valid_fraction: f64) -> usize {
    ((1.0 - valid_fraction) * len as f64) as usize
}

/// Which consecutive windows to read: the validation part's, or the whole text's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    /// The validation part (the last characters).
    Valid,
    /// Every character of the text (`eval` over a whole file).
    Whole,
}

/// A text's characters as ids, with its vocabulary and its split.
///
/// The file is read twice, a piece at a time, and never held: the first pass checks that it is
/// UTF-8, builds the vocabulary (or checks every character against a model's) and counts the
/// characters; the second writes the ids, u8 for vocabularies of up to 256 characters and u16
/// up to 65536, into memory when `characters × bytes per id` fits the memory budget
/// ([`memory::budget`], counted before anything is allocated), else into a hidden temporary
/// file (`.simple-nn-text-*.ids`) beside the text, or in the system's temporary folder when the
/// text's folder cannot be written, removed when the corpus is dropped; windows are then read
/// from it by offset. Both give the same windows, bit for bit.
///
/// Characters are the file's Unicode scalar values as they are: `\r\n` stays two characters
/// (Python's text mode, which `torch_gpt.py` reads with, turns `\r\n` and `\r` into `\n`).
#[derive(Debug, Clone)]
pub struct Corpus {
    path: PathBuf,
    vocabulary: Vocabulary,
    ids: Arc<Ids>,
    train_len: usize,
    options: TextOptions,
}

impl Corpus {
    /// Reads the UTF-8 text at `path`, its vocabulary the sorted set of its characters.
    ///
    /// It needs at least `block_size + 1` characters (one window) in the training part and, when
    /// `valid_fraction > 0`, `block_size + 1` in the validation part (one validation window).
    pub fn read(path: &Path, options: TextOptions) -> Result<Self> {
        Self::load(path, None, options)
    }

    /// Reads the text at `path` through a model's `vocabulary`: a character outside it is an
    /// error naming its line and column. With `valid_fraction` 0 the whole text is one part,
    /// which needs `block_size + 1` characters ([`Span::Whole`] reads all its windows).
    pub fn read_with(path: &Path, vocabulary: &Vocabulary, options: TextOptions) -> Result<Self> {
        Self::load(path, Some(vocabulary), options)
    }

    fn load(path: &Path, saved: Option<&Vocabulary>, options: TextOptions) -> Result<Self> {
        let what = format!("text '{}'", path.display());
        let TextOptions {
            block_size,
            valid_fraction,
        } = options;
        if block_size == 0 {
            fail!("a window of text needs a block size of at least 1 character (--block-size)");
        }
        if !(0.0..1.0).contains(&valid_fraction) {
            fail!(
                "the validation fraction is {valid_fraction}: it must be at least 0 and below 1 (--valid-fraction; 0 validates nothing)"
            );
        }
        // First pass: the vocabulary, or every character checked against the model's.
        let (vocabulary, len) = match saved {
            Some(vocabulary) => {
                let len = chars::scan(path, &what, |c, at| match vocabulary.id(c) {
                    Some(_) => Ok(()),
                    None => Err(vocabulary.outside(c, &what, at)),
                })?;
                (Some(vocabulary.clone()), len)
            }
            None => fit(path, &what)?,
        };
        let Some(vocabulary) = vocabulary.filter(|_| len > 0) else {
            fail!("{what} is empty: a character-level model learns from a text's characters: name a file with text in it");
        };
        let Ok(len) = usize::try_from(len) else {
            fail!("{what} holds {len} characters, more than this machine can index");
        };
        let window = block_size.saturating_add(1);
        let train_len = train_len(len, valid_fraction);
        let valid_len = len - train_len;
        if valid_fraction == 0.0 && len < window {
            fail!(
                "{what} holds {len} characters, fewer than one window of block_size + 1 = {window}: use a longer text or a smaller --block-size"
            );
        }
        if train_len < window {
            fail!(
                "{what}: its training part (the first {train_len} of its {len} characters; --valid-fraction {valid_fraction}) holds fewer than one window of block_size + 1 = {window} characters: use a longer text, a smaller --block-size or a smaller --valid-fraction"
            );
        }
        if valid_fraction > 0.0 && valid_len < window {
            fail!(
                "{what}: its validation part (the last {valid_len} of its {len} characters; --valid-fraction {valid_fraction}) holds fewer than one window of block_size + 1 = {window} characters: use a longer text, a smaller --block-size, a larger --valid-fraction, or --valid-fraction 0 to validate nothing"
            );
        }
        // Second pass: the ids, in memory when they fit the budget (counted before allocating).
        let width = vocabulary.width();
        let bytes = (len as u64).saturating_mul(width.bytes() as u64);
        let mut sink = match bytes <= memory::budget() {
            true => Sink::memory(width, len),
            false => Sink::file(width, path, &what)?,
        };
        let changed = || {
            candle_core::Error::Msg(format!(
                "{what} changed while it was read: read it again once it is written"
            ))
        };
        let mut count = 0usize;
        chars::scan(path, &what, |c, _| {
            count += 1;
            match (count <= len, vocabulary.id(c)) {
                (true, Some(id)) => sink.push(id, &what),
                _ => Err(changed()),
            }
        })?;
        if count != len {
            return Err(changed());
        }
        Ok(Self {
            path: path.to_path_buf(),
            vocabulary,
            ids: Arc::new(sink.finish(&what)?),
            train_len,
            options,
        })
    }

    /// The file it was read from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its vocabulary: its own sorted characters, or the model's it was read with.
    pub fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// The options it was read with.
    pub fn options(&self) -> TextOptions {
        self.options
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether it has no characters (never: an empty text is refused).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The characters that train: the first [`train_len`]`(len, valid_fraction)`.
    pub fn train_len(&self) -> usize {
        self.train_len
    }

    /// The characters that validate: the rest, after the training part.
    pub fn valid_len(&self) -> usize {
        self.len() - self.train_len
    }

    /// The bytes its ids take, in memory or in their file: characters × 1 (u8) or × 2 (u16).
    pub fn stored_bytes(&self) -> u64 {
        self.len() as u64 * self.ids.width().bytes() as u64
    }

    /// The temporary file its ids are read from, when they took more than the memory budget.
    pub fn ids_file(&self) -> Option<&Path> {
        self.ids.file()
    }

    /// A line for the user when the ids are read from a file; `None` when they are in memory.
    pub fn note(&self) -> Option<String> {
        let file = self.ids.file()?;
        Some(format!(
            "text '{}': its ids take {}, more than the memory budget ({}; --max-memory), so they are kept in '{}' and windows are read from disk",
            self.path.display(),
            memory::size(self.stored_bytes()),
            memory::size(memory::budget()),
            file.display()
        ))
    }

    /// The offsets in the training part of rows `rows` of step `step`'s batch: row `r`'s offset
    /// is draw `r` of the stream [`rng::stream`]`(seed, Purpose::Windows, step)`, a 64-bit `x`
    /// mapped to `⌊x · n / 2^64⌋`, uniform in `[0, n)` with `n = train_len − block_size`
    /// (`torch_gpt.py`'s `torch.randint(len(train) - T, (B,))`; each offset's probability is
    /// within `n / 2^64` of `1/n`, relatively). A row's offset depends only on the seed, the
    /// step and the row, so a resumed run draws step s's windows without replaying the steps
    /// before it, and a process that takes rows 6 to 11 of each batch draws only those.
    pub fn offsets(&self, seed: u64, step: u64, rows: Range<usize>) -> Vec<usize> {
        let n = (self.train_len - self.options.block_size) as u128;
        let mut stream = rng::stream(seed, Purpose::Windows, step);
        stream.skip(rows.start as u64);
        rows.map(|_| ((u128::from(stream.next_u64()) * n) >> 64) as usize)
            .collect()
    }

    /// Step `step`'s training batch: `batch_size` windows of `block_size + 1` ids at the
    /// training part's [`offsets`](Self::offsets), inputs the first `block_size` of each and
    /// targets the last.
    pub fn train_batch(&self, seed: u64, step: u64, batch_size: usize) -> Result<Batch> {
        if batch_size == 0 {
            fail!("a batch of text needs at least one window (--batch-size)");
        }
        self.train_rows(seed, step, 0..batch_size)
    }

    /// Rows `rows` of step `step`'s training batch, read alone (one process's share of a batch).
    pub fn train_rows(&self, seed: u64, step: u64, rows: Range<usize>) -> Result<Batch> {
        let offsets = self.offsets(seed, step, rows);
        self.gather(offsets)
    }

    /// The number of consecutive windows of `span`: `(characters − 1) / block_size`, the last
    /// partial window left out (0 for a validation part of no characters).
    pub fn window_count(&self, span: Span) -> usize {
        let (_, len) = self.span(span);
        len.saturating_sub(1) / self.options.block_size
    }

    /// Windows `ks` of `span`: window k's inputs are the span's characters `k·T .. k·T + T`
    /// and its targets `k·T + 1 .. k·T + T + 1` (`torch_gpt.py`'s `val_loss()` windows).
    pub fn windows(&self, span: Span, ks: Range<usize>) -> Result<Batch> {
        let count = self.window_count(span);
        if ks.start > ks.end || ks.end > count {
            fail!(
                "windows {} to {} asked of the {count} windows of {} of text '{}'",
                ks.start,
                ks.end,
                match span {
                    Span::Valid => "the validation part",
                    Span::Whole => "the whole",
                },
                self.path.display()
            );
        }
        let (start, _) = self.span(span);
        let t = self.options.block_size;
        self.gather(ks.map(|k| start + k * t))
    }

    /// Every window of `span` in order, `batch_size` at a time (the last batch may be smaller).
    pub fn batches(&self, span: Span, batch_size: usize) -> Result<Batches<'_>> {
        if batch_size == 0 {
            fail!("a batch of text needs at least one window (--batch-size)");
        }
        Ok(Batches {
            corpus: self,
            span,
            next: 0,
            end: self.window_count(span),
            batch_size,
        })
    }

    /// The first character and the length of `span`.
    fn span(&self, span: Span) -> (usize, usize) {
        match span {
            Span::Valid => (self.train_len, self.valid_len()),
            Span::Whole => (0, self.len()),
        }
    }

    /// The windows of `block_size + 1` ids at `offsets`.
    fn gather(&self, offsets: impl IntoIterator<Item = usize>) -> Result<Batch> {
        let t = self.options.block_size;
        let mut batch = Batch::new(t);
        let mut window = Vec::with_capacity(t + 1);
        for offset in offsets {
            window.clear();
            self.ids.extend(offset, t + 1, &mut window)?;
            batch.push(&window);
        }
        Ok(batch)
    }
}

/// A span's windows in order, a batch at a time ([`Corpus::batches`]).
pub struct Batches<'a> {
    corpus: &'a Corpus,
    span: Span,
    next: usize,
    end: usize,
    batch_size: usize,
}

impl Iterator for Batches<'_> {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        if self.next >= self.end {
            return None;
        }
        let ks = self.next..self.end.min(self.next + self.batch_size);
        self.next = ks.end;
        Some(self.corpus.windows(self.span, ks))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.next).div_ceil(self.batch_size);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Batches<'_> {}

/// The vocabulary (the sorted set of the characters) and the number of characters of the text
/// at `path`, in one pass that keeps one bit per possible character; no vocabulary for an empty
/// text.
fn fit(path: &Path, what: &str) -> Result<(Option<Vocabulary>, u64)> {
    let mut seen = vec![0u64; (char::MAX as usize >> 6) + 1];
    let mut distinct = 0usize;
    let len = chars::scan(path, what, |c, at: Position| {
        let (word, bit) = ((c as usize) >> 6, 1u64 << (c as usize & 63));
        if seen[word] & bit == 0 {
            if distinct == MAX_CHARS {
                fail!(
                    "{what}, {at}: the character {} is its {}th distinct one, more than the {MAX_CHARS} a vocabulary holds (ids are kept as u16): a character-level model needs a text of fewer distinct characters",
                    named(c),
                    MAX_CHARS + 1
                );
            }
            seen[word] |= bit;
            distinct += 1;
        }
        Ok(())
    })?;
    if distinct == 0 {
        return Ok((None, len));
    }
    let chars: Vec<char> = (0..seen.len() * 64)
        .filter(|&i| seen[i >> 6] & (1 << (i & 63)) != 0)
        .filter_map(|i| char::from_u32(i as u32))
        .collect();
    Ok((Some(Vocabulary::new(chars)?), len))
}
