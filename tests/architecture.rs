//! The house rules, read from the source tree: what review would otherwise have to remember.
//!
//! - The top-level modules of `src/` form layers: each may use only those below it
//!   ([`LAYERS`], lowest first), so no two import each other in a circle. An edge is
//!   a `crate::NAME` path in code (comments left out), as `modgraph.py` counts them.
//! - Every source file opens with a `//!` summary of what it owns.
//! - Command-line parsing (`clap`) stays in the examples, `anyhow` at the edges
//!   (the examples, and `error`'s conversion to an exit code).
//! - No safe function changes the process environment: `set_var` and `remove_var`
//!   appear only inside an `unsafe fn`.
//! - Examples stay thin: none is over 400 lines.
//! - The README's library snippet is `examples/own_model.rs`, word for word, and it trains.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// The top-level modules, lowest layer first; a module may use only modules before it.
const LAYERS: &[&str] = &[
    "error", "rng", "cli", "device", "kernels", "data", "nn", "io", "run", "tutorial", "plot",
    "bench",
];

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The top-level module a file of `src/` belongs to (`None` for `lib.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).unwrap().components().next()?;
    let name = first.as_os_str().to_string_lossy();
    let name = name.strip_suffix(".rs").unwrap_or(&name).to_string();
    (name != "lib").then_some(name)
}

/// `code` without its comments (line comments, doc comments and block comments).
fn strip_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, tail)| tail);
        } else if rest.starts_with("//") {
            rest = rest.split_once('\n').map_or("", |(_, tail)| tail);
            out.push('\n');
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The top-level modules that `code` names through `crate::NAME` or `crate::{NAME, …}`.
fn crate_paths(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let after = &code[i + "crate::".len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                let group = group.split('}').next().unwrap_or("");
                names.extend(group.split(',').map(|item| ident(item.trim())));
            }
            None => {
                names.insert(ident(after));
            }
        }
    }
    names.remove("");
    names
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every edge between top-level modules: module → the modules it uses.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src();
    let files = rust_files(&src);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        let code = strip_comments(&std::fs::read_to_string(file).unwrap());
        for used in crate_paths(&code) {
            if modules.contains(&used) && used != module {
                graph.get_mut(&module).unwrap().insert(used);
            }
        }
    }
    graph
}

#[test]
fn every_top_level_module_has_a_layer_and_uses_only_layers_below_it() {
    let graph = module_graph();
    let rank = |m: &str| LAYERS.iter().position(|l| *l == m);
    let mut wrong = Vec::new();
    for (module, uses) in &graph {
        let Some(own) = rank(module) else {
            wrong.push(format!(
                "'{module}' is in no layer: add it to LAYERS where it belongs"
            ));
            continue;
        };
        for used in uses {
            if rank(used).is_none_or(|r| r >= own) {
                wrong.push(format!("{module} -> {used}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layer order {LAYERS:?}: {wrong:?}"
    );
}

#[test]
fn the_graph_reader_finds_paths_in_code_and_not_in_comments() {
    let code = "use crate::{nn::Mlp, data};\n// crate::io in a comment\n/* crate::plot */ let x = crate::kernels::dense;";
    let found = crate_paths(&strip_comments(code));
    assert_eq!(
        found,
        ["data", "kernels", "nn"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    // And the real tree has edges to check at all.
    let graph = module_graph();
    assert!(
        graph["nn"].contains("kernels") && graph["tutorial"].contains("nn"),
        "{graph:?}"
    );
}

#[test]
fn every_source_file_opens_with_a_summary() {
    let missing: Vec<PathBuf> = rust_files(&src())
        .into_iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .collect();
    assert!(
        missing.is_empty(),
        "files without a //! summary: {missing:?}"
    );
}

#[test]
fn clap_stays_in_the_examples_and_anyhow_at_the_edges() {
    for file in rust_files(&src()) {
        let code = strip_comments(&std::fs::read_to_string(&file).unwrap());
        assert!(!code.contains("clap::"), "{} uses clap", file.display());
        if !file.ends_with("error.rs") {
            assert!(!code.contains("anyhow"), "{} uses anyhow", file.display());
        }
    }
}

#[test]
fn only_unsafe_functions_change_the_environment() {
    for file in rust_files(&src()) {
        let code = strip_comments(&std::fs::read_to_string(&file).unwrap());
        for call in ["set_var(", "remove_var("] {
            for (i, _) in code.match_indices(call) {
                let signature = code[..i].rsplit_once("fn ").map_or("", |(before, _)| {
                    before.rsplit_once('\n').map_or(before, |(_, line)| line)
                });
                assert!(
                    signature.contains("unsafe"),
                    "{}: {call}…) in a safe function",
                    file.display()
                );
            }
        }
    }
}

#[test]
fn examples_stay_thin() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for file in rust_files(&examples) {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines <= 400, "{} has {lines} lines", file.display());
    }
}

/// The README's "your own model" program is `examples/own_model.rs`, word for word, and it trains:
/// so the copy a user takes from the page builds against the library alone and works.
#[test]
fn the_readme_snippet_is_the_compiled_example_and_it_trains() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("examples/own_model.rs")).unwrap();
    let program = &example[example.find("use simple_nn").unwrap()..];
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{program}```")),
        "README.md's snippet differs from examples/own_model.rs"
    );
    let out = Command::new(common::example("own_model")).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with("epoch 40:"))
        .unwrap();
    let accuracy: f64 = last
        .trim_end_matches(')')
        .rsplit('(')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // Held-out spirals: a linear model gets about half right.
    assert!(accuracy > 0.9, "{last}");
}

/// The README's conv-net snippet is the doc test of `nn::net` (its visible lines), so it compiles and runs.
#[test]
fn the_readme_conv_snippet_is_the_net_doc_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let net = std::fs::read_to_string(root.join("src/nn/net.rs")).unwrap();
    let doc: Vec<&str> = net
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.strip_prefix("//! ")
                .unwrap_or(l.trim_start_matches("//!"))
        })
        .collect();
    let start = doc.iter().position(|l| *l == "```").unwrap() + 1;
    let end = start + doc[start..].iter().position(|l| *l == "```").unwrap();
    let visible: Vec<&str> = doc[start..end]
        .iter()
        .copied()
        .filter(|l| !l.trim_start().starts_with("# "))
        .collect();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    assert!(
        readme.contains(&format!("```rust\n{}\n```", visible.join("\n"))),
        "README.md's conv snippet differs from src/nn/net.rs's doc example"
    );
}
