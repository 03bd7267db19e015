//! A table file as text: its header, read at once and checked, and its records, read a row at
//! a time in each pass; which cells count as missing; and where a record is, for messages (the
//! file's own line numbers, the header line 1).

use std::path::Path;

use candle_core::Result;

use super::options::TableOptions;

/// What pandas' `read_csv` reads as a missing value by default (case as written).
const MISSING: [&str; 17] = [
    "", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "NULL", "null", "None", "<NA>", "#N/A",
    "#N/A N/A", "#NA", "-1.#IND", "1.#QNAN",
];

/// What a pass over a table's rows found: rows kept and rows left out.
pub(super) struct Counts {
    pub(super) kept: usize,
    pub(super) dropped: usize,
}

impl Counts {
    /// The line that says how many rows `--drop-incomplete` left out, if any.
    pub(super) fn note(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "--drop-incomplete left out {} of {} rows with missing values",
                self.dropped,
                self.kept + self.dropped
            )
        })
    }
}

/// A table file: its header, read at once, and its rows, read a row at a time in each pass.
pub(super) struct Raw {
    /// `csv 'PATH'`, for messages.
    pub(super) file: String,
    pub(super) path: std::path::PathBuf,
    delimiter: u8,
    /// Whether the first column is pandas' row index (left out).
    index: bool,
    pub(super) names: Vec<String>,
    pub(super) notes: Vec<String>,
}

impl Raw {
    /// The table at `path`: its header checked, and at least one row below it.
    pub(super) fn open(path: &Path, options: &TableOptions) -> Result<Self> {
        let file = format!("csv '{}'", path.display());
        let tabs = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("tsv") || e.eq_ignore_ascii_case("tab"));
        let delimiter = options.delimiter.unwrap_or(if tabs { b'\t' } else { b',' });
        let mut raw = Self {
            file,
            path: path.to_path_buf(),
            delimiter,
            index: false,
            names: Vec::new(),
            notes: Vec::new(),
        };
        let mut header = None;
        let mut has_rows = false;
        raw.records(|byte, record| {
            match header {
                None => header = Some((byte, record.clone())),
                Some(_) => has_rows = true,
            }
            Ok(!has_rows)
        })?;
        let Some((_, header)) = header else {
            fail!("{} line 1: the file is empty: write a header row naming the columns, one of them the target ('{}'), then one row per sample", raw.file, options.target);
        };
        let mut names: Vec<String> = header.iter().map(str::to_string).collect();
        // pandas' to_csv writes the row index first, under no name.
        let index = names.len() > 1 && names[0].is_empty();
        if index {
            names.remove(0);
            raw.notes.push(
                "column 1 has no name: read as the row index pandas writes, and left out"
                    .to_string(),
            );
        }
        let file = &raw.file;
        for (c, name) in names.iter().enumerate() {
            let number = c + 1 + usize::from(index);
            if name.is_empty() {
                fail!("{file} line 1, column {number}: the column has no name: name every column in the header");
            }
            if let Some(first) = names[..c].iter().position(|n| n == name) {
                fail!(
                    "{file} line 1, column '{name}': the name is used twice (columns {} and {number}): give each column its own name",
                    first + 1 + usize::from(index)
                );
            }
        }
        if !has_rows {
            fail!("{file} line 2: the header has no data rows below it: add one row per sample");
        }
        raw.index = index;
        raw.names = names;
        Ok(raw)
    }

    /// Calls `f(byte, record)` for each record of the file that is not blank, the header first,
    /// while it returns true.
    fn records(&self, mut f: impl FnMut(u64, &csv::StringRecord) -> Result<bool>) -> Result<()> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(e) => fail!("cannot read {}: {e}", self.file),
        };
        let mut reader = std::io::BufReader::new(file);
        let bom = match std::io::BufRead::fill_buf(&mut reader) {
            Ok(head) => head.starts_with(b"\xef\xbb\xbf"),
            Err(e) => fail!("cannot read {}: {e}", self.file),
        };
        if bom {
            std::io::BufRead::consume(&mut reader, 3);
        }
        let mut csv = csv::ReaderBuilder::new()
            .delimiter(self.delimiter)
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(reader);
        let offset = if bom { 3 } else { 0 };
        let mut record = csv::StringRecord::new();
        loop {
            match csv.read_record(&mut record) {
                Ok(false) => return Ok(()),
                // Lines of nothing but separators are blank too.
                Ok(true) if record.iter().all(str::is_empty) => {}
                Ok(true) => {
                    let byte = record.position().map_or(0, |p| p.byte()) + offset;
                    if !f(byte, &record)? {
                        return Ok(());
                    }
                }
                Err(e) => {
                    let line = self.line(e.position().map_or(0, |p| p.byte()) + offset);
                    match e.kind() {
                        csv::ErrorKind::Utf8 { .. } => fail!(
                            "{} line {line}: the bytes are not UTF-8 text: save the file as UTF-8",
                            self.file
                        ),
                        _ => fail!("{} line {line}: {e}", self.file),
                    }
                }
            }
        }
    }

    /// Calls `f(byte, row)` for each data row, its fields one per column (the index left out),
    /// after checking that it has one value per column.
    fn each_row(&self, mut f: impl FnMut(u64, &csv::StringRecord) -> Result<()>) -> Result<()> {
        let (index, width) = (usize::from(self.index), self.names.len());
        let mut header = true;
        let mut trimmed = csv::StringRecord::new();
        self.records(|byte, record| {
            if std::mem::take(&mut header) {
                return Ok(true);
            }
            let row = match index {
                0 => record,
                _ => {
                    trimmed.clear();
                    record.iter().skip(1).for_each(|field| trimmed.push_field(field));
                    &trimmed
                }
            };
            if row.len() != width {
                let which = if row.len() < width {
                    format!("column '{}' is missing", self.names[row.len()])
                } else {
                    format!("field {} has no column", width + 1 + index)
                };
                fail!(
                    "{} line {}: {} fields but the header has {} columns ({which}): give every row one value per column",
                    self.file,
                    self.line(byte),
                    record.len(),
                    width + index
                );
            }
            f(byte, row)?;
            Ok(true)
        })
    }

    /// [`each_row`](Self::each_row) over the rows whose `used` columns are all filled in;
    /// without `drop`, a missing cell is an error.
    pub(super) fn each_complete_row(
        &self,
        used: &[usize],
        drop: bool,
        mut f: impl FnMut(u64, &csv::StringRecord) -> Result<()>,
    ) -> Result<Counts> {
        let mut counts = Counts {
            kept: 0,
            dropped: 0,
        };
        self.each_row(|byte, row| {
            match used.iter().find(|&&c| MISSING.contains(&&row[c])) {
                None => {
                    counts.kept += 1;
                    f(byte, row)?;
                }
                Some(_) if drop => counts.dropped += 1,
                Some(&c) => fail!(
                    "{}: the value is missing ('{}'): fill it in, or pass --drop-incomplete to leave out rows with missing values",
                    self.at(byte, c),
                    &row[c]
                ),
            }
            Ok(())
        })?;
        if counts.kept == 0 {
            fail!(
                "{}: every row has a missing value ({} rows): fill them in",
                self.file,
                counts.dropped
            );
        }
        Ok(counts)
    }

    /// The line (counted from 1) of the record starting at `byte`: counted in the file, for an
    /// error (the reader's own count skips blank lines).
    pub(super) fn line(&self, byte: u64) -> u64 {
        let Ok(file) = std::fs::File::open(&self.path) else {
            return 0;
        };
        let (mut line, mut at) = (1u64, 0u64);
        let mut reader = std::io::BufReader::new(file);
        loop {
            let chunk = match std::io::BufRead::fill_buf(&mut reader) {
                Ok(chunk) if !chunk.is_empty() => chunk,
                _ => return line,
            };
            for &b in chunk {
                // A record after blank lines starts, for the reader, where they start.
                if at >= byte && b != b'\n' && b != b'\r' {
                    return line;
                }
                line += u64::from(b == b'\n');
                at += 1;
            }
            let n = chunk.len();
            std::io::BufRead::consume(&mut reader, n);
        }
    }

    /// The index of the column named `name`; an error when it is needed and missing, naming
    /// the closest names and what to do: the name came from `--target`, or from the `model`.
    pub(super) fn target_column(
        &self,
        name: &str,
        needed: bool,
        model: bool,
    ) -> Result<Option<usize>> {
        let Some(c) = self.names.iter().position(|n| n == name) else {
            if !needed {
                return Ok(None);
            }
            let near = crate::error::closest(name, &self.names);
            let near = match near.is_empty() {
                true => String::new(),
                false => format!(" (closest: '{}')", near.join("', '")),
            };
            let (columns, fix) = (list(&self.names), match model {
                true => "the model was trained to predict it, so this table holds other data: give the model a table like the one it was trained on",
                false => "name the target column with --target NAME",
            });
            fail!(
                "{} line 1: no column named '{name}'{near}; columns: {columns}: {fix}",
                self.file
            )
        };
        Ok(Some(c))
    }

    /// Where an error about column `c` of the row at `byte` starts.
    pub(super) fn at(&self, byte: u64, c: usize) -> String {
        format!(
            "{} line {}, column '{}'",
            self.file,
            self.line(byte),
            self.names[c]
        )
    }
}

/// At most ten names of `items`, and how many there are in all past ten.
fn list(items: &[String]) -> String {
    match items.len() {
        0..=10 => items.join(", "),
        n => format!("{}, … ({n} in all)", items[..10].join(", ")),
    }
}
