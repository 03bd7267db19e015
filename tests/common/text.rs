//! A small text a GPT can learn, written by the tests themselves (none reads a real corpus).

use std::path::{Path, PathBuf};

/// A text of `n` characters over an alphabet of 11 (a to h, space, full stop, newline), that a model can learn: the sentence
/// "abcd efgh." over and over with every third sentence's first word changed, so that the next
/// character is mostly but not always determined by the ones before it.
pub fn text(n: usize) -> String {
    let words = ["abcd", "efgh", "hgfe", "dcba"];
    let mut out = String::new();
    let mut i = 0;
    while out.chars().count() < n {
        out.push_str(words[if i % 3 == 2 { 3 } else { 0 }]);
        out.push(' ');
        out.push_str(words[1 + i % 2]);
        out.push_str(".\n");
        i += 1;
    }
    out.chars().take(n).collect()
}

/// `text(n)` written to `dir/name`; its path as `text:PATH` and as a path.
pub fn write_text(dir: &Path, name: &str, n: usize) -> (String, PathBuf) {
    let path = dir.join(name);
    std::fs::write(&path, text(n)).unwrap();
    (format!("text:{}", path.display()), path)
}
