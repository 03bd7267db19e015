//! Text for a character-level model (`data::text`): the vocabulary is the sorted set of the
//! file's characters, the split is `torch_gpt.py`'s `int(0.9 * len)`, training windows are
//! windows of the training part at uniform offsets drawn from the run's seed and step, the
//! validation windows are `val_loss()`'s, ids are u8 or u16, ids streamed from disk give the
//! same windows as ids in memory, and each bad input is one line naming file, position and
//! character.
//!
//! Expected values are written by hand (tiny strings), computed in the test from the text it
//! wrote (its own sorted set and slices of its characters), or printed by Python (the split).
//! Every file is written by its test.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device};
use simple_nn::data::memory;
use simple_nn::data::text::{
    train_len, Batch, Corpus, Span, TextOptions, Vocabulary, Width, DEFAULT_VALID_FRACTION,
    MAX_CHARS,
};
use simple_nn::data::{Part, Source, TargetKind};
use simple_nn::error::message;
use simple_nn::rng::{self, Purpose};

/// A folder of the test's own, removed when the test ends.
fn folder() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Writes `bytes` to `dir/name` and returns its path.
fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The error of `result` on one line, after checking that it is one line.
fn error_of<T: std::fmt::Debug>(result: candle_core::Result<T>) -> String {
    let msg = message(&result.expect_err("expected an error"));
    assert!(!msg.contains('\n'), "error spans lines: {msg}");
    msg
}

fn assert_contains(msg: &str, parts: &[&str]) {
    for part in parts {
        assert!(msg.contains(part), "'{part}' missing from: {msg}");
    }
}

/// Options of windows of `block_size` with `valid_fraction` validating.
fn options(block_size: usize, valid_fraction: f64) -> TextOptions {
    TextOptions {
        block_size,
        valid_fraction,
    }
}

/// The ids of `chars` under the test's own vocabulary of `text`: places in its sorted set.
fn ids_by_hand(text: &str, chars: &[char]) -> Vec<u32> {
    let sorted: BTreeSet<char> = text.chars().collect();
    let place: HashMap<char, u32> = sorted
        .iter()
        .enumerate()
        .map(|(i, &c)| (c, i as u32))
        .collect();
    chars.iter().map(|c| place[c]).collect()
}

/// The rows of a batch's inputs (or targets) decoded as strings.
fn rows_of(vocabulary: &Vocabulary, ids: &[u32], block_size: usize) -> Vec<String> {
    ids.chunks(block_size)
        .map(|row| vocabulary.decode(row).unwrap())
        .collect()
}

/// A deterministic text of `n` characters drawn from `alphabet` (a linear congruential walk).
fn text_of(n: usize, alphabet: &[char]) -> String {
    let mut state = 12345u64;
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            alphabet[(state >> 33) as usize % alphabet.len()]
        })
        .collect()
}

#[test]
fn the_vocabulary_is_the_sorted_set_of_the_files_characters() {
    let dir = folder();
    // By hand: "banana\n" has the characters '\n' < 'a' < 'b' < 'n'.
    let path = write(dir.path(), "banana.txt", "banana\nbanana\nbanana\n");
    let corpus = Corpus::read(&path, options(2, 0.0)).unwrap();
    assert_eq!(corpus.vocabulary().chars(), ['\n', 'a', 'b', 'n']);
    assert_eq!(
        corpus.vocabulary().encode("banana", "the prompt").unwrap(),
        [2, 1, 3, 1, 3, 1]
    );
    assert_eq!(corpus.vocabulary().decode(&[3, 1, 0]).unwrap(), "na\n");

    // Characters of one to four bytes, in code-point order (as Python's sorted() orders str).
    let text = "Zebra — ünïcode 🦀 wörld\tzebra, Ω and 中文!\r\n";
    let path = write(dir.path(), "mixed.txt", text);
    let corpus = Corpus::read(&path, options(4, 0.0)).unwrap();
    let expected: Vec<char> = text
        .chars()
        .collect::<BTreeSet<char>>()
        .into_iter()
        .collect();
    assert_eq!(corpus.vocabulary().chars(), expected);
    // '\r' stays a character of its own.
    assert!(corpus.vocabulary().id('\r').is_some());
    assert_eq!(Vocabulary::of(text).unwrap(), *corpus.vocabulary());
    // Every window's ids are the places of its characters in that set.
    let chars: Vec<char> = text.chars().collect();
    let windows = corpus
        .windows(Span::Whole, 0..corpus.window_count(Span::Whole))
        .unwrap();
    let covered = windows.rows() * 4;
    assert_eq!(windows.inputs(), ids_by_hand(text, &chars[..covered]));
    assert_eq!(windows.targets(), ids_by_hand(text, &chars[1..covered + 1]));
}

#[test]
fn the_vocabulary_is_saved_as_the_string_of_its_characters() {
    let vocabulary = Vocabulary::of("hello\nworld").unwrap();
    let json = serde_json::to_string(&vocabulary).unwrap();
    assert_eq!(json, r#""\ndehlorw""#);
    let back: Vocabulary = serde_json::from_str(&json).unwrap();
    assert_eq!(back, vocabulary);
    assert_eq!(vocabulary.to_string(), "\ndehlorw");
    assert_eq!(Vocabulary::parse("\ndehlorw").unwrap(), vocabulary);
    // A saved string out of order, with a repeat, or empty is refused in one line.
    for (saved, says) in [
        (r#""ba""#, "'a' (U+0061) after 'b' (U+0062)"),
        (r#""abb""#, "character 3 is 'b'"),
        (r#""""#, "at least one character"),
    ] {
        let err = serde_json::from_str::<Vocabulary>(saved)
            .unwrap_err()
            .to_string();
        assert!(err.contains(says), "'{says}' missing from: {err}");
    }
}

#[test]
fn the_split_is_torch_gpts_int_of_0_9_times_len() {
    // Printed by Python 3.11: print([(n, int(0.9 * n)) for n in [1, 2, 9, 10, 11, 19, 20, 29, 99,
    // 100, 101, 1001, 65537, 1115394]]), torch_gpt.py's `n = int(0.9 * len(data))`; and
    // int((1 - 0.25) * 10), int((1 - 0.3) * 90), int((1 - 0.05) * 1001).
    let printed = [
        (1, 0),
        (2, 1),
        (9, 8),
        (10, 9),
        (11, 9),
        (19, 17),
        (20, 18),
        (29, 26),
        (99, 89),
        (100, 90),
        (101, 90),
        (1001, 900),
        (65537, 58983),
        (1115394, 1003854),
    ];
    assert_eq!(DEFAULT_VALID_FRACTION, 0.1);
    for (len, train) in printed {
        assert_eq!(train_len(len, DEFAULT_VALID_FRACTION), train, "len {len}");
    }
    assert_eq!(train_len(10, 0.25), 7);
    assert_eq!(train_len(90, 0.3), 62);
    assert_eq!(train_len(1001, 0.05), 950);
    assert_eq!(train_len(77, 0.0), 77);

    // Read from files: the training part is the first `train` characters, the validation part
    // starts right after it.
    let dir = folder();
    for (len, train) in [(29, 26), (101, 90), (1001, 900), (65537, 58983)] {
        let text = text_of(len, &['a', 'b', 'c', 'd', 'é']);
        let path = write(dir.path(), &format!("split{len}.txt"), &text);
        let corpus = Corpus::read(&path, TextOptions::new(2)).unwrap();
        assert_eq!(
            (corpus.len(), corpus.train_len(), corpus.valid_len()),
            (len, train, len - train)
        );
        let chars: Vec<char> = text.chars().collect();
        let first = corpus.windows(Span::Valid, 0..1).unwrap();
        assert_eq!(first.inputs(), ids_by_hand(&text, &chars[train..train + 2]));
    }
}

#[test]
fn training_windows_lie_in_the_training_part_and_targets_are_inputs_shifted_by_one() {
    let dir = folder();
    // 900 lower-case characters train, 100 upper-case validate: a training window that reached
    // into the validation part would hold an upper-case letter.
    let lower: Vec<char> = ('a'..='z').collect();
    let upper: Vec<char> = ('A'..='Z').collect();
    let text = text_of(900, &lower) + &text_of(100, &upper);
    let path = write(dir.path(), "cases.txt", &text);
    let (t, b) = (16, 12);
    let corpus = Corpus::read(&path, TextOptions::new(t)).unwrap();
    assert_eq!(corpus.train_len(), 900);
    let chars: Vec<char> = text.chars().collect();
    let ids = ids_by_hand(&text, &chars);
    let n = 900 - t;
    let (mut lowest, mut highest) = (usize::MAX, 0);
    for step in 0..2000 {
        let batch = corpus.train_batch(7, step, b).unwrap();
        assert_eq!((batch.rows(), batch.block_size()), (b, t));
        let offsets = corpus.offsets(7, step, 0..b);
        for (r, &o) in offsets.iter().enumerate() {
            assert!(
                o < n,
                "offset {o} of step {step} is past the last start {}",
                n - 1
            );
            let row = r * t..(r + 1) * t;
            assert_eq!(batch.inputs()[row.clone()], ids[o..o + t]);
            assert_eq!(batch.targets()[row], ids[o + 1..o + t + 1]);
            lowest = lowest.min(o);
            highest = highest.max(o);
        }
        for row in rows_of(corpus.vocabulary(), batch.targets(), t) {
            assert!(row.chars().all(|c| c.is_ascii_lowercase()), "{row}");
        }
    }
    // 24 000 draws over 884 starts (each missed with odds e^-27): the first and the last are drawn.
    assert_eq!((lowest, highest), (0, n - 1));

    // As tensors: U32, (B, T), the same values.
    let batch = corpus.train_batch(7, 0, b).unwrap();
    let (xs, ys) = batch.tensors(&Device::Cpu).unwrap();
    assert_eq!((xs.dtype(), xs.dims()), (DType::U32, &[b, t][..]));
    assert_eq!(
        xs.flatten_all().unwrap().to_vec1::<u32>().unwrap(),
        batch.inputs()
    );
    assert_eq!(
        ys.flatten_all().unwrap().to_vec1::<u32>().unwrap(),
        batch.targets()
    );
}

#[test]
fn offsets_are_uniform_over_every_start_of_a_window() {
    // Pearson's χ² over the starts, 39 degrees of freedom: its 1 − 1e-6 quantile is 96.13
    // (mpmath: findroot(gammainc(39/2, x/2, inf, regularized=True) - 1e-6, 90)), so a uniform
    // draw passes 999 999 times in a million and this seed's draw is fixed.
    let chi2 = |counts: &[u64]| {
        let expected = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum::<f64>()
    };
    let dir = folder();
    // 48 characters, all training, T = 8: 40 starts, each its own bin.
    let path = write(dir.path(), "small.txt", text_of(48, &['x', 'y', 'z']));
    let corpus = Corpus::read(&path, options(8, 0.0)).unwrap();
    assert_eq!(corpus.train_len() - 8, 40);
    let mut counts = vec![0u64; 40];
    for step in 0..2500 {
        for o in corpus.offsets(3, step, 0..16) {
            counts[o] += 1;
        }
    }
    let small = chi2(&counts);
    assert!(small < 96.13, "χ² {small} over 40 starts: {counts:?}");
    // 17 992 starts in 40 bins of equal width.
    let path = write(dir.path(), "large.txt", text_of(20_000, &['x', 'y', 'z']));
    let corpus = Corpus::read(&path, TextOptions::new(8)).unwrap();
    let n = corpus.train_len() - 8;
    assert_eq!(n, 17_992);
    let mut counts = vec![0u64; 40];
    for step in 0..2500 {
        for o in corpus.offsets(3, step, 0..16) {
            counts[o * 40 / n] += 1;
        }
    }
    let large = chi2(&counts);
    assert!(large < 96.13, "χ² {large} over 40 bins: {counts:?}");
    println!("χ²: {small:.1} over 40 starts, {large:.1} over 40 bins (bound 96.13)");
}

#[test]
fn the_same_seed_and_step_give_the_same_windows_and_another_step_others() {
    let dir = folder();
    let path = write(
        dir.path(),
        "walk.txt",
        text_of(5000, &['a', 'b', 'c', 'd', 'e', 'f']),
    );
    let corpus = Corpus::read(&path, TextOptions::new(32)).unwrap();
    let step5 = corpus.train_batch(1337, 5, 12).unwrap();
    // Drawn first, then after other steps, then by a corpus read anew: the same windows.
    for step in 0..5 {
        corpus.train_batch(1337, step, 12).unwrap();
    }
    assert_eq!(corpus.train_batch(1337, 5, 12).unwrap(), step5);
    let again = Corpus::read(&path, TextOptions::new(32)).unwrap();
    assert_eq!(again.train_batch(1337, 5, 12).unwrap(), step5);
    // Another step or another seed: other offsets.
    let at = |seed, step| corpus.offsets(seed, step, 0..12);
    assert_ne!(at(1337, 6), at(1337, 5));
    assert_ne!(at(1338, 5), at(1337, 5));
    // The offsets are the documented draws of rng::stream(seed, Purpose::Windows, step):
    // row r's is ⌊x_r · n / 2^64⌋ for the stream's r-th 64-bit draw x_r.
    let n = (corpus.train_len() - 32) as u128;
    let mut stream = rng::stream(1337, Purpose::Windows, 5);
    let documented: Vec<usize> = (0..12)
        .map(|_| ((u128::from(stream.next_u64()) * n) >> 64) as usize)
        .collect();
    assert_eq!(at(1337, 5), documented);
    // A process that takes rows 5 to 11 reads the same windows as rows 5 to 11 of the batch.
    let (head, tail) = (
        corpus.train_rows(1337, 5, 0..5).unwrap(),
        corpus.train_rows(1337, 5, 5..12).unwrap(),
    );
    assert_eq!([head.inputs(), tail.inputs()].concat(), step5.inputs());
    assert_eq!([head.targets(), tail.targets()].concat(), step5.targets());
}

#[test]
fn validation_windows_are_consecutive_blocks_of_the_validation_part() {
    let dir = folder();
    // 28 characters, half validate: train "abcdefghijklmn" (int(0.5 · 28) = 14), validation
    // "opqrstuvwxyz01"; T = 3 gives (14 − 1) / 3 = 4 windows, '1' only a target of the last.
    let path = write(dir.path(), "abc.txt", "abcdefghijklmnopqrstuvwxyz01");
    let corpus = Corpus::read(&path, options(3, 0.5)).unwrap();
    let v = corpus.vocabulary().clone();
    assert_eq!((corpus.train_len(), corpus.valid_len()), (14, 14));
    assert_eq!(corpus.window_count(Span::Valid), 4);
    let batches: Vec<Batch> = corpus
        .batches(Span::Valid, 3)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(batches.len(), 2);
    assert_eq!(rows_of(&v, batches[0].inputs(), 3), ["opq", "rst", "uvw"]);
    assert_eq!(rows_of(&v, batches[0].targets(), 3), ["pqr", "stu", "vwx"]);
    assert_eq!(rows_of(&v, batches[1].inputs(), 3), ["xyz"]);
    assert_eq!(rows_of(&v, batches[1].targets(), 3), ["yz0"]);
    // One window at a time, or all at once: the same windows.
    let one = corpus.windows(Span::Valid, 3..4).unwrap();
    assert_eq!(one, batches[1]);
    // The whole file: (28 − 1) / 3 = 9 windows.
    assert_eq!(corpus.window_count(Span::Whole), 9);
    let whole: Vec<Batch> = corpus
        .batches(Span::Whole, 4)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(whole.iter().map(Batch::rows).collect::<Vec<_>>(), [4, 4, 1]);
    let inputs: Vec<String> = whole
        .iter()
        .flat_map(|b| rows_of(&v, b.inputs(), 3))
        .collect();
    let targets: Vec<String> = whole
        .iter()
        .flat_map(|b| rows_of(&v, b.targets(), 3))
        .collect();
    assert_eq!(
        inputs,
        ["abc", "def", "ghi", "jkl", "mno", "pqr", "stu", "vwx", "yz0"]
    );
    assert_eq!(
        targets,
        ["bcd", "efg", "hij", "klm", "nop", "qrs", "tuv", "wxy", "z01"]
    );
    // Exactly one validation window: T = 10 of 110 characters leaves 11 to validate.
    let path = write(dir.path(), "eleven.txt", text_of(110, &['p', 'q']));
    let corpus = Corpus::read(&path, TextOptions::new(10)).unwrap();
    assert_eq!(
        (corpus.valid_len(), corpus.window_count(Span::Valid)),
        (11, 1)
    );
    // Nothing validates with a fraction of 0.
    let corpus = Corpus::read(&path, options(10, 0.0)).unwrap();
    assert_eq!(corpus.window_count(Span::Valid), 0);
    assert_eq!(corpus.batches(Span::Valid, 8).unwrap().count(), 0);
    // Windows past the end are refused in one line.
    let msg = error_of(corpus.windows(Span::Whole, 10..12));
    assert_contains(&msg, &["windows 10 to 12", "10 windows", "eleven.txt"]);
}

/// The characters from U+0021 on (no line ends, no surrogates), `n` of them.
fn distinct_chars(n: usize) -> Vec<char> {
    (0x21u32..).filter_map(char::from_u32).take(n).collect()
}

#[test]
fn ids_are_bytes_up_to_256_characters_and_u16_above() {
    let dir = folder();
    for (distinct, width, bytes) in [(256, Width::U8, 1), (257, Width::U16, 2)] {
        let alphabet = distinct_chars(distinct);
        // Every character once, then a walk over them.
        let text: String = alphabet.iter().collect::<String>() + &text_of(3000, &alphabet);
        let path = write(dir.path(), &format!("v{distinct}.txt"), &text);
        for budget in [u64::MAX, 1000] {
            let corpus =
                memory::scoped(budget, || Corpus::read(&path, TextOptions::new(8))).unwrap();
            assert_eq!(corpus.vocabulary().len(), distinct);
            assert_eq!(corpus.vocabulary().width(), width);
            assert_eq!(corpus.stored_bytes(), (corpus.len() * bytes) as u64);
            if let Some(file) = corpus.ids_file() {
                assert_eq!(
                    std::fs::metadata(file).unwrap().len(),
                    corpus.stored_bytes()
                );
            }
            // The last character's id, 255 or 256, comes back whole.
            let chars: Vec<char> = text.chars().collect();
            let w = corpus.window_count(Span::Whole);
            let all = corpus.windows(Span::Whole, 0..w).unwrap();
            assert_eq!(all.inputs(), ids_by_hand(&text, &chars[..w * 8]));
        }
    }
    // 65 536 distinct characters fit; one more is refused, naming it and where it stands.
    let alphabet = distinct_chars(MAX_CHARS + 1);
    let path = write(
        dir.path(),
        "all.txt",
        alphabet[..MAX_CHARS].iter().collect::<String>(),
    );
    let corpus = Corpus::read(&path, options(8, 0.0)).unwrap();
    assert_eq!(
        (corpus.vocabulary().len(), corpus.vocabulary().width()),
        (MAX_CHARS, Width::U16)
    );
    let path = write(
        dir.path(),
        "too-many.txt",
        alphabet.iter().collect::<String>(),
    );
    let msg = error_of(Corpus::read(&path, options(8, 0.0)));
    let last = alphabet[MAX_CHARS];
    assert_contains(
        &msg,
        &[
            "too-many.txt",
            "line 1, column 65537",
            &format!("U+{:04X}", u32::from(last)),
            "65536",
        ],
    );
}

#[test]
fn ids_streamed_from_disk_give_the_windows_of_ids_in_memory() {
    let dir = folder();
    for (name, alphabet, width) in [
        (
            "ascii.txt",
            ('a'..='z').chain(['\n', ' ']).collect::<Vec<_>>(),
            Width::U8,
        ),
        ("wide.txt", distinct_chars(300), Width::U16),
    ] {
        let text = text_of(20_000, &alphabet);
        let path = write(dir.path(), name, &text);
        let opts = TextOptions::new(24);
        let in_memory = Corpus::read(&path, opts).unwrap();
        assert_eq!(in_memory.vocabulary().width(), width);
        assert!(in_memory.ids_file().is_none() && in_memory.note().is_none());
        let bytes = in_memory.stored_bytes();
        // The budget counts the ids: exactly their bytes fit, one byte less does not.
        let fits = memory::scoped(bytes, || Corpus::read(&path, opts)).unwrap();
        assert!(fits.ids_file().is_none());
        let streamed = memory::scoped(bytes - 1, || Corpus::read(&path, opts)).unwrap();
        let file = streamed.ids_file().expect("ids in a file").to_path_buf();
        assert_eq!(file.parent().unwrap(), dir.path(), "beside the text");
        assert!(
            file.file_name().unwrap().to_string_lossy().starts_with('.'),
            "hidden: {file:?}"
        );
        assert_eq!(std::fs::metadata(&file).unwrap().len(), bytes);
        assert_contains(
            &streamed.note().unwrap(),
            &[name, "--max-memory", &file.display().to_string()],
        );
        for step in 0..20 {
            assert_eq!(
                streamed.train_batch(9, step, 12).unwrap(),
                in_memory.train_batch(9, step, 12).unwrap()
            );
        }
        for span in [Span::Valid, Span::Whole] {
            let a: Vec<Batch> = streamed
                .batches(span, 50)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            let b: Vec<Batch> = in_memory
                .batches(span, 50)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(a, b);
            assert!(!a.is_empty());
        }
        // A clone shares the file; the file goes with the last of them.
        let clone = streamed.clone();
        drop(streamed);
        assert!(file.exists());
        drop(clone);
        assert!(!file.exists(), "{file:?} left behind");
    }
}

#[cfg(target_os = "linux")]
#[test]
fn ids_of_a_text_whose_folder_cannot_be_written_go_to_the_temporary_folder() {
    // /proc cannot be written, even by root; /proc/version is a short line of ASCII.
    let path = Path::new("/proc/version");
    let corpus = memory::scoped(1, || Corpus::read(path, TextOptions::new(4))).unwrap();
    let file = corpus.ids_file().expect("ids in a file");
    assert_eq!(file.parent().unwrap(), std::env::temp_dir());
    let text = std::fs::read_to_string(path).unwrap();
    let chars: Vec<char> = text.chars().collect();
    let all = corpus
        .windows(Span::Whole, 0..corpus.window_count(Span::Whole))
        .unwrap();
    assert_eq!(all.inputs(), ids_by_hand(&text, &chars[..all.rows() * 4]));
}

#[test]
fn characters_of_several_bytes_across_read_pieces_come_back_whole() {
    let dir = folder();
    // 200 000 characters of one to four bytes: ~500 KB, read in many pieces whose ends fall
    // inside characters.
    let alphabet = ['a', '\n', 'é', 'ß', '€', '中', '🦀', '𝄞'];
    let text = text_of(200_000, &alphabet);
    let path = write(dir.path(), "pieces.txt", &text);
    let chars: Vec<char> = text.chars().collect();
    for budget in [u64::MAX, 1] {
        let corpus = memory::scoped(budget, || Corpus::read(&path, options(7, 0.0))).unwrap();
        assert_eq!(corpus.len(), 200_000);
        let w = corpus.window_count(Span::Whole);
        let all = corpus.windows(Span::Whole, 0..w).unwrap();
        assert_eq!(
            corpus.vocabulary().decode(all.inputs()).unwrap(),
            chars[..w * 7].iter().collect::<String>()
        );
    }
}

#[test]
fn a_corpus_can_be_shared_with_a_loader_thread() {
    fn shared<T: Send + Sync + Clone>() {}
    shared::<Corpus>();
    fn sent<T: Send>() {}
    sent::<Batch>();
}

#[test]
fn an_empty_or_missing_file_is_one_line() {
    let dir = folder();
    let path = write(dir.path(), "empty.txt", "");
    let msg = error_of(Corpus::read(&path, TextOptions::new(4)));
    assert_contains(&msg, &["empty.txt", "is empty"]);
    let msg = error_of(Corpus::read(
        &dir.path().join("missing.txt"),
        TextOptions::new(4),
    ));
    assert_contains(&msg, &["cannot open text", "missing.txt"]);
}

#[test]
fn a_text_shorter_than_a_window_is_one_line_saying_what_it_needs() {
    let dir = folder();
    // 8 characters, nothing validating, T = 10: one window needs 11.
    let path = write(dir.path(), "eight.txt", "abcdefgh");
    let msg = error_of(Corpus::read(&path, options(10, 0.0)));
    assert_contains(
        &msg,
        &[
            "eight.txt",
            "holds 8 characters",
            "block_size + 1 = 11",
            "--block-size",
        ],
    );
    // 12 characters, 10% validating: int(0.9 · 12) = 10 train, fewer than 11.
    let path = write(dir.path(), "twelve.txt", "abcdefghijkl");
    let msg = error_of(Corpus::read(&path, TextOptions::new(10)));
    assert_contains(
        &msg,
        &["twelve.txt", "training part", "first 10 of its 12", "= 11"],
    );
    // 100 characters: 90 train, but 10 validate, fewer than one window of 11.
    let path = write(dir.path(), "hundred.txt", text_of(100, &['a', 'b']));
    let msg = error_of(Corpus::read(&path, TextOptions::new(10)));
    assert_contains(
        &msg,
        &[
            "hundred.txt",
            "validation part",
            "last 10 of its 100",
            "= 11",
            "--valid-fraction 0",
        ],
    );
    // The same file with nothing validating reads.
    assert!(Corpus::read(&path, options(10, 0.0)).is_ok());
}

#[test]
fn invalid_utf8_is_one_line_naming_its_byte_line_and_column() {
    let dir = folder();
    for (name, bytes, says) in [
        (
            "ff.txt",
            b"ab\ncd\xffef".to_vec(),
            ["byte 5", "line 2, column 3", "0xff"],
        ),
        (
            "cut.txt",
            b"x\xc3(yz".to_vec(),
            ["byte 1", "line 1, column 2", "0xc3"],
        ),
        (
            "end.txt",
            b"abc\xe2\x82".to_vec(),
            ["ends inside a character", "byte 3", "0xe2 0x82"],
        ),
    ] {
        let path = write(dir.path(), name, bytes);
        let msg = error_of(Corpus::read(&path, options(1, 0.0)));
        assert_contains(&msg, &[name, "UTF-8"]);
        assert_contains(&msg, &says);
    }
    // Far into the file, past the first piece read.
    let mut bytes = vec![b'a'; 100_000];
    bytes.extend_from_slice(b"\nb\xfe");
    let path = write(dir.path(), "far.txt", bytes);
    let msg = error_of(Corpus::read(&path, options(1, 0.0)));
    assert_contains(
        &msg,
        &["far.txt", "byte 100002", "line 2, column 2", "0xfe"],
    );
}

#[test]
fn a_character_outside_the_vocabulary_is_one_line_naming_where_it_stands() {
    let dir = folder();
    let vocabulary = Vocabulary::of("abc def\nghi").unwrap();
    // At eval: a file read through the model's vocabulary.
    let path = write(dir.path(), "eval.txt", "abc\ndefZ ghi");
    let msg = error_of(Corpus::read_with(&path, &vocabulary, options(2, 0.0)));
    assert_contains(
        &msg,
        &[
            "eval.txt",
            "line 2, column 4",
            "'Z' (U+005A)",
            "11 characters",
        ],
    );
    // A file of its characters reads, with the model's ids.
    let path = write(dir.path(), "fine.txt", "fed cba\nihg");
    let corpus = Corpus::read_with(&path, &vocabulary, options(2, 0.0)).unwrap();
    assert_eq!(corpus.vocabulary(), &vocabulary);
    assert_eq!(
        corpus.windows(Span::Whole, 0..1).unwrap().inputs(),
        ids_by_hand("abc def\nghi", &['f', 'e'])
    );
    // At generate: the prompt.
    let msg = error_of(vocabulary.encode("hi\nbad!", "the prompt"));
    assert_contains(&msg, &["the prompt", "line 2, column 4", "'!' (U+0021)"]);
    // An id past the vocabulary.
    let msg = error_of(vocabulary.decode(&[0, 11]));
    assert_contains(&msg, &["id 11", "11 characters"]);
}

#[test]
fn options_out_of_range_are_one_line_naming_the_flag() {
    let dir = folder();
    let path = write(dir.path(), "ok.txt", text_of(500, &['a', 'b']));
    for f in [f64::NAN, 1.0, -0.1, f64::INFINITY] {
        let msg = error_of(Corpus::read(&path, options(4, f)));
        assert_contains(&msg, &["--valid-fraction"]);
    }
    let msg = error_of(Corpus::read(&path, options(0, 0.1)));
    assert_contains(&msg, &["--block-size"]);
    let corpus = Corpus::read(&path, TextOptions::new(4)).unwrap();
    assert_contains(&error_of(corpus.train_batch(0, 0, 0)), &["--batch-size"]);
    assert!(corpus.batches(Span::Valid, 0).is_err());
}

#[test]
fn text_is_a_data_source_that_trains_a_gpt() {
    let source: Source = "text:data/input.txt".parse().unwrap();
    assert_eq!(source, Source::Text("data/input.txt".into()));
    assert_eq!(source.to_string(), "text:data/input.txt");
    let msg = "text:".parse::<Source>().unwrap_err();
    assert_contains(&msg, &["text:PATH"]);
    assert_contains(&"bogus:1".parse::<Source>().unwrap_err(), &["text:PATH"]);
    // Rows of samples cannot come from a text: one line that says what it trains.
    let msg = error_of(source.load(Part::Train, TargetKind::Classes));
    assert_contains(
        &msg,
        &[
            "--data text:data/input.txt",
            "character-level GPT",
            "--layers gpt:",
        ],
    );
    let msg = error_of(source.image_shape(Part::Train));
    assert_contains(&msg, &["character-level GPT"]);
}
