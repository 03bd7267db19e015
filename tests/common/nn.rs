//! Running the `nn` example from a test: its output, a run that must succeed, a run that must be
//! refused in one line; the same checks on the output of a run a test started its own way.

use std::process::{Command, Output};

/// `nn ARGS`, run to its end.
pub fn run(args: &[&str]) -> Output {
    Command::new(super::example("nn"))
        .args(args)
        .output()
        .unwrap()
}

/// The standard output of a run that must succeed.
pub fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    succeeded(&out)
}

/// The one line of standard error of a run that must fail (see [`refusal`]).
pub fn refused(args: &[&str]) -> String {
    let out = run(args);
    assert!(!out.status.success(), "{args:?} was accepted");
    refusal(&out)
}

/// The standard output of a finished run, after checking that it succeeded.
pub fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The one line a refused run printed on standard error, after checking that it failed cleanly:
/// exit status 1 (not a panic's 101, the allocator's abort, 134, nor a signal), one line that
/// starts `error: `, no panic and no failed allocation.
pub fn refusal(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{:?}: {stderr}", out.status);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("memory allocation"), "{stderr}");
    stderr
}

/// A JSON file (`--metrics-json`'s), parsed.
pub fn json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
