//! Error messages on one line, as the command-line tools print them.
//!
//! candle attaches a backtrace to many errors when `RUST_BACKTRACE` is set
//! and prints it as part of the message; a user who named a missing file
//! wants one line that says so, not a stack dump.

use candle_core::Error;

/// The message of a candle error on one line, without its backtrace.
pub fn message(err: &Error) -> String {
    let text = match err {
        Error::WithBacktrace { inner, .. } => return message(inner),
        Error::Context { inner, context } => format!("{context}: {}", message(inner)),
        Error::WithPath { inner, path } => format!("{}: {}", path.display(), message(inner)),
        other => other.to_string(),
    };
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An error and its causes on one line, `outer: inner: …`, with candle's backtraces left out.
pub fn one_line(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        parts.push(match e.downcast_ref::<Error>() {
            Some(candle) => message(candle),
            None => e
                .to_string()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        });
        next = e.source();
    }
    parts.join(": ")
}

/// `a`, `a or b`, `a, b or c`: the choices an error message offers.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// The names among `names` nearest to `name` (at most three, all equally near): a misspelt
/// name's likely meaning, for a message. Nearness is the edit distance between the lower-cased
/// names, and a name more than a third of its length away is not near.
pub fn closest<'a>(name: &str, names: &'a [String]) -> Vec<&'a str> {
    let lower = |s: &str| s.to_lowercase().chars().collect::<Vec<char>>();
    let wanted = lower(name);
    let distance = |other: &[char]| {
        // Levenshtein, one row at a time.
        let mut row: Vec<usize> = (0..=other.len()).collect();
        for (i, a) in wanted.iter().enumerate() {
            let mut diagonal = row[0];
            row[0] = i + 1;
            for (j, b) in other.iter().enumerate() {
                let next = (diagonal + usize::from(a != b))
                    .min(row[j] + 1)
                    .min(row[j + 1] + 1);
                diagonal = row[j + 1];
                row[j + 1] = next;
            }
        }
        row[other.len()]
    };
    let mut near: Vec<(usize, &str)> = (names.iter())
        .map(|n| (distance(&lower(n)), n.as_str()))
        .filter(|(d, _)| *d <= (wanted.len() / 3).max(1))
        .collect();
    near.sort();
    let best = near.first().map_or(0, |(d, _)| *d);
    (near.into_iter())
        .take_while(|(d, _)| *d == best)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}

/// A command-line tool's exit status for `result`; an error is printed as `error: …` on one line.
pub fn exit_code(result: anyhow::Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", one_line(e.as_ref()));
            std::process::ExitCode::FAILURE
        }
    }
}
