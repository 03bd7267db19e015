//! A character-level vocabulary: the sorted set of a text's characters, each character's id its
//! place in that order, saved as the string of its characters.

use std::fmt;

use candle_core::Result;
use serde::{Deserialize, Serialize};

use super::chars::{named, Position};

/// The most characters a vocabulary holds: ids are kept as u16.
pub const MAX_CHARS: usize = 1 << 16;

/// How ids are kept: one byte each for vocabularies of up to 256 characters, two up to 65536.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    /// u8 ids: at most 256 characters.
    U8,
    /// u16 ids: at most 65536 characters.
    U16,
}

impl Width {
    /// Bytes one id takes.
    pub fn bytes(self) -> usize {
        match self {
            Width::U8 => 1,
            Width::U16 => 2,
        }
    }
}

/// The characters (Unicode scalar values) a model reads and writes, in ascending order; a
/// character's id is its place in that order, as nanoGPT's `stoi` numbers `sorted(set(text))`.
///
/// Saved (serde) as one string of its characters in order: compact, and readable in a model's
/// description.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vocabulary {
    chars: Vec<char>,
    /// The id of each character below U+0100, or [`ABSENT`]: a text's characters are mostly
    /// these, and a table is several times faster than a search.
    low: Box<[u32; 256]>,
}

/// No id: the character is not in the vocabulary.
const ABSENT: u32 = u32::MAX;

impl Vocabulary {
    /// The vocabulary of `text`: the sorted set of its characters.
    pub fn of(text: &str) -> Result<Self> {
        let mut chars: Vec<char> = text.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        Self::new(chars)
    }

    /// The vocabulary saved as `saved`, its characters in ascending order, each once.
    pub fn parse(saved: &str) -> Result<Self> {
        let chars: Vec<char> = saved.chars().collect();
        if let Some(i) = chars.windows(2).position(|w| w[0] >= w[1]) {
            fail!(
                "a saved vocabulary lists its characters once each in ascending order, but character {} is {} after {}: the model file is damaged",
                i + 2,
                named(chars[i + 1]),
                named(chars[i])
            );
        }
        Self::new(chars)
    }

    /// The vocabulary of `chars`, distinct and ascending.
    pub(super) fn new(chars: Vec<char>) -> Result<Self> {
        if chars.is_empty() {
            fail!("a vocabulary needs at least one character: train on a text that is not empty");
        }
        if chars.len() > MAX_CHARS {
            fail!(
                "a vocabulary of {} characters is more than the {MAX_CHARS} ids of two bytes can number",
                chars.len()
            );
        }
        let mut low = Box::new([ABSENT; 256]);
        for (id, &c) in chars
            .iter()
            .enumerate()
            .take_while(|(_, &c)| u32::from(c) < 256)
        {
            low[c as usize] = id as u32;
        }
        Ok(Self { chars, low })
    }

    /// The number of characters.
    pub fn len(&self) -> usize {
        self.chars.len()
    }

    /// Whether it has no characters (never: a vocabulary has at least one).
    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// The characters in ascending order: `chars()[id]` is the character of `id`.
    pub fn chars(&self) -> &[char] {
        &self.chars
    }

    /// How its ids are kept: [`Width::U8`] up to 256 characters, [`Width::U16`] above.
    pub fn width(&self) -> Width {
        match self.chars.len() {
            0..=256 => Width::U8,
            _ => Width::U16,
        }
    }

    /// The id of `c`, if it is in the vocabulary.
    pub fn id(&self, c: char) -> Option<u32> {
        match self.low.get(c as usize) {
            Some(&ABSENT) => None,
            Some(&id) => Some(id),
            None => self.chars.binary_search(&c).ok().map(|i| i as u32),
        }
    }

    /// The ids of `text`'s characters; `origin` names the text in errors (`the prompt`,
    /// `text 'input.txt'`), which give the line and column (in characters, from 1) of the first
    /// character outside the vocabulary.
    pub fn encode(&self, text: &str, origin: &str) -> Result<Vec<u32>> {
        let mut at = Position::START;
        let mut ids = Vec::with_capacity(text.len());
        for c in text.chars() {
            match self.id(c) {
                Some(id) => ids.push(id),
                None => return Err(self.outside(c, origin, at)),
            }
            at = at.after(c);
        }
        Ok(ids)
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        ids.iter()
            .map(|&id| match self.chars.get(id as usize) {
                Some(&c) => Ok(c),
                None => Err(candle_core::Error::Msg(format!(
                    "id {id} is past the vocabulary's {} characters (ids 0 to {}): the ids come from another model",
                    self.len(),
                    self.len() - 1
                ))),
            })
            .collect()
    }

    /// The error for `c`, at `at` of `origin`, being outside the vocabulary.
    pub(super) fn outside(&self, c: char, origin: &str, at: Position) -> candle_core::Error {
        candle_core::Error::Msg(format!(
            "{origin}, {at}: the character {} is not in the model's vocabulary of {} characters: use text made only of the characters it was trained on",
            named(c),
            self.len()
        ))
    }
}

impl fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Vocabulary")
            .field(&self.to_string())
            .finish()
    }
}

impl fmt::Display for Vocabulary {
    /// Its characters in order, as it is saved.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.chars
            .iter()
            .try_for_each(|c| fmt::Write::write_char(f, *c))
    }
}

impl From<Vocabulary> for String {
    fn from(v: Vocabulary) -> String {
        v.to_string()
    }
}

impl TryFrom<String> for Vocabulary {
    type Error = String;

    fn try_from(saved: String) -> std::result::Result<Self, String> {
        Vocabulary::parse(&saved).map_err(|e| crate::error::message(&e))
    }
}
