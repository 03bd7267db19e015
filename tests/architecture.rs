//! The house rules, read from the source tree: what review would otherwise have to remember.
//!
//! - The top-level modules of `src/` form layers: each may use only those below it
//!   ([`LAYERS`], lowest first), so no two import each other in a circle. An edge is
//!   a `crate::NAME` path in code (comments left out), as `modgraph.py` counts them.
//! - Inside each folder of `src/`, no files import each other in a circle either (`fit.rs` →
//!   `loss.rs` → `mlp.rs` → `fit.rs`, or `idx.rs` ↔ `mod.rs`): an item two files share lives in
//!   the file it belongs to, or in one of its own.
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
    "error", "rng", "cli", "device", "kernels", "dist", "data", "nn", "io", "run", "tutorial",
    "plot", "bench",
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

/// `code` without the bodies of the modules written inline in it (`mod tests { … }`): their
/// `super::` is the file itself, and a file's unit tests are no part of its dependencies.
fn strip_inline_modules(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("mod ") {
        let before_ok = at == 0 || !is_ident(rest[..at].chars().next_back().unwrap());
        let name: String = rest[at + 4..]
            .chars()
            .take_while(|c| is_ident(*c))
            .collect();
        let after = rest[at + 4 + name.len()..].trim_start();
        if !before_ok || name.is_empty() || !after.starts_with('{') {
            out.push_str(&rest[..at + 4]);
            rest = &rest[at + 4..];
            continue;
        }
        out.push_str(&rest[..at]);
        let body = &rest[rest.len() - after.len()..];
        let mut depth = 0usize;
        let mut end = body.len();
        for (i, c) in body.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &body[end..];
    }
    out.push_str(rest);
    out
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The first name of each path that starts right after a `prefix::` in `code`: `x` for
/// `prefix::x::y`, and `a`, `b` for `prefix::{a::c, b}` (braces nested to any depth).
fn first_names_after(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in code.match_indices(prefix) {
        let preceded = code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| is_ident(c) || c == ':');
        if preceded {
            continue;
        }
        let after = &code[i + prefix.len()..];
        match after.strip_prefix('{') {
            Some(group) => {
                let (mut depth, mut item) = (0usize, String::new());
                for c in group.chars() {
                    match c {
                        '{' => depth += 1,
                        '}' if depth == 0 => break,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            names
                                .insert(item.trim().chars().take_while(|c| is_ident(*c)).collect());
                            item.clear();
                            continue;
                        }
                        _ => {}
                    }
                    item.push(c);
                }
                names.insert(item.trim().chars().take_while(|c| is_ident(*c)).collect());
            }
            None => {
                names.insert(after.chars().take_while(|c| is_ident(*c)).collect());
            }
        }
    }
    names.remove("");
    names
}

/// The `pub use` statements of `code` (a folder's `mod.rs`): re-exports, no dependency of its own.
fn reexports(code: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (i, _) in code.match_indices("use ") {
        let line_start = code[..i].rfind(['\n', ';', '}']).map_or(0, |j| j + 1);
        if code[line_start..i].trim_start().starts_with("pub") {
            let end = code[i..].find(';').map_or(code.len(), |j| i + j + 1);
            found.push(&code[line_start..end]);
        }
    }
    found
}

/// The files of one folder and which of them each uses: `files` maps a file's module name
/// (`"fit"` for `fit.rs`, `"mod"` for `mod.rs`) to its code. A file uses a sibling when it names
/// it (`super::loss`, `crate::nn::loss`, or `loss::` in `mod.rs`), or an item that `mod.rs`
/// re-exports from it (`super::Loss` for `pub use loss::Loss`); an item of `mod.rs` itself
/// makes an edge to `mod`. `mod.rs`'s own `pub mod` and `pub use` lines are not uses.
fn folder_graph(
    folder: &str,
    files: &BTreeMap<String, String>,
) -> BTreeMap<String, BTreeSet<String>> {
    let clean = |code: &str| strip_inline_modules(&strip_comments(code));
    let root = files.get("mod").map(|c| clean(c)).unwrap_or_default();
    let mut from: BTreeMap<String, String> = BTreeMap::new();
    for statement in reexports(&root) {
        let path = statement[statement.find("use ").unwrap() + 4..].trim_start();
        let module: String = path.chars().take_while(|c| is_ident(*c)).collect();
        for name in path[module.len()..].split(|c: char| !is_ident(c)) {
            if !name.is_empty() && files.contains_key(&module) {
                from.insert(name.to_string(), module.clone());
            }
        }
    }
    let mut graph = BTreeMap::new();
    for (name, code) in files {
        let mut code = clean(code);
        let mut named =
            first_names_after(&code, &format!("crate::{}::", folder.replace('/', "::")));
        if name == "mod" {
            for statement in reexports(&root) {
                code = code.replace(statement, "");
            }
            named.extend(first_names_after(&code, "self::"));
            for child in files.keys() {
                if !first_names_after(&code, &format!("{child}::")).is_empty() {
                    named.insert(child.clone());
                }
            }
        } else {
            named.extend(first_names_after(&code, "super::"));
            // `super::super::` names the parent folder, not a sibling.
            named.remove("super");
        }
        let uses: BTreeSet<String> = named
            .into_iter()
            .map(|n| match (files.contains_key(&n), from.get(&n)) {
                (true, _) => n,
                (false, Some(module)) => module.clone(),
                (false, None) => "mod".to_string(),
            })
            .filter(|used| used != name && files.contains_key(used))
            .collect();
        graph.insert(name.clone(), uses);
    }
    graph
}

/// The circles of `graph`: each set of nodes that reach one another, with one circle through
/// its first node, written `fit, loss, mlp (fit → mlp → fit)`.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    // The shortest path from `from` back to `to` (breadth first), if `to` can be reached.
    let path = |from: &str, to: &str| -> Option<Vec<String>> {
        let mut came: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([from.to_string()]);
        while let Some(at) = queue.pop_front() {
            for next in &graph[&at] {
                if next == to {
                    let mut steps = vec![to.to_string(), at.clone()];
                    let mut back = at.clone();
                    while let Some(prev) = came.get(&back) {
                        steps.push(prev.clone());
                        back = prev.clone();
                    }
                    steps.reverse();
                    return Some(steps);
                }
                if next != from && !came.contains_key(next) {
                    came.insert(next.clone(), at.clone());
                    queue.push_back(next.clone());
                }
            }
        }
        None
    };
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    for node in graph.keys() {
        if seen.contains(node) {
            continue;
        }
        let Some(circle) = path(node, node) else {
            continue;
        };
        let members: Vec<&String> = graph
            .keys()
            .filter(|other| {
                *other == node || (path(node, other).is_some() && path(other, node).is_some())
            })
            .collect();
        seen.extend(members.iter().map(|m| m.to_string()));
        let members: Vec<&str> = members.iter().map(|m| m.as_str()).collect();
        found.push(format!("{} ({})", members.join(", "), circle.join(" → ")));
    }
    found
}

/// The folders of `src/` and the folders inside them, to any depth, each as its path below
/// `src/` (`data/csv`) with its files' code by module name. A folder inside is one node of its
/// parent's graph: its files' code as its parent reads it ([`as_seen_from_the_parent`]).
fn folders() -> Vec<(String, BTreeMap<String, String>)> {
    fn walk(dir: &Path, path: &str, folders: &mut Vec<(String, BTreeMap<String, String>)>) {
        let mut files = BTreeMap::new();
        for file in std::fs::read_dir(dir).unwrap() {
            let file = file.unwrap().path();
            let name = file.file_stem().unwrap().to_string_lossy().into_owned();
            let code = if file.is_dir() {
                walk(&file, &format!("{path}/{name}"), folders);
                as_seen_from_the_parent(&file)
            } else if file.extension().is_some_and(|e| e == "rs") {
                std::fs::read_to_string(&file).unwrap()
            } else {
                continue;
            };
            files.insert(name, code);
        }
        folders.push((path.to_string(), files));
    }
    let mut folders = Vec::new();
    for entry in std::fs::read_dir(src()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            walk(&dir, &name, &mut folders);
        }
    }
    folders.sort();
    folders
}

/// The code of the folder `dir`, all of its files to any depth, as its parent folder's files
/// read it: `mod.rs` as it is (its `super::` is the parent), the other files [`lifted`].
fn as_seen_from_the_parent(dir: &Path) -> String {
    let mut code = std::fs::read_to_string(dir.join("mod.rs")).unwrap_or_default();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            code += &lifted(&as_seen_from_the_parent(&path));
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("mod.rs") {
            code += &lifted(&std::fs::read_to_string(&path).unwrap());
        }
        code.push('\n');
    }
    code
}

/// A file's code as the folder above its own reads it: a path of k `super::` (k ≥ 2) loses one,
/// and a lone `super::`, which names a sibling inside the file's folder, becomes `self::`, which
/// names no sibling from a file that is not a `mod.rs`.
fn lifted(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(i) = rest.find("super::") {
        out.push_str(&rest[..i]);
        if rest[..i].chars().next_back().is_some_and(is_ident) {
            out.push_str("super::");
            rest = &rest[i + "super::".len()..];
            continue;
        }
        let (mut k, mut after) = (0, &rest[i..]);
        while let Some(tail) = after.strip_prefix("super::") {
            (k, after) = (k + 1, tail);
        }
        out.push_str(&match k {
            1 => "self::".to_string(),
            _ => "super::".repeat(k - 1),
        });
        rest = after;
    }
    out.push_str(rest);
    out
}

#[test]
fn no_files_of_a_folder_import_each_other_in_a_circle() {
    let mut found = Vec::new();
    for (folder, files) in folders() {
        for circle in circles(&folder_graph(&folder, &files)) {
            found.push(format!("src/{folder}: {circle}"));
        }
    }
    assert!(
        found.is_empty(),
        "files that import each other in a circle (move the item they share to the file it belongs to, or one of its own): {found:?}"
    );
}

/// A folder's files by name (without `.rs`), from `(name, code)` pairs.
fn sources(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(n, c)| (n.to_string(), c.to_string()))
        .collect()
}

/// The reader of a folder's files sees every way a sibling is named: `super::` paths and groups
/// (nested too), `crate::FOLDER::` paths, items re-exported by `mod.rs`, items of `mod.rs` itself,
/// and `mod.rs`'s own paths to its children, but not its `pub use` lines, comments or unit tests;
/// and it reads the folders inside folders (`src/data/csv`), each on its own and as one node of
/// its parent's graph.
#[test]
fn the_folder_reader_sees_each_way_a_sibling_is_named() {
    let files = sources(&[
        ("mod", "pub mod fit;\npub mod loss;\npub mod mlp;\npub mod plain;\npub use loss::{Head, Loss};\npub use mlp::Mlp;\npub fn shared() {}\n"),
        ("fit", "use super::{loss::{self, Loss}, mlp};\n"),
        ("loss", "use super::Mlp;\n// super::fit in a comment\n"),
        ("mlp", "impl crate::nn::fit::Model for Mlp {}\nfn f() { super::shared() }\n#[cfg(test)]\nmod tests {\n    use super::*;\n    use crate::nn::plain;\n}\n"),
        ("plain", "use super::Head;\n"),
    ]);
    let graph = folder_graph("nn", &files);
    let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(graph["mod"], set(&[]), "re-exports are no uses");
    assert_eq!(graph["fit"], set(&["loss", "mlp"]));
    assert_eq!(graph["loss"], set(&["mlp"]));
    assert_eq!(graph["mlp"], set(&["fit", "mod"]));
    assert_eq!(graph["plain"], set(&["loss"]));
    assert_eq!(circles(&graph), ["fit, loss, mlp (fit → mlp → fit)"]);
    // mod.rs's code that calls a child, with the child using an item of mod.rs: a circle too.
    let files = sources(&[
        (
            "mod",
            "pub mod idx;\npub enum Part { Train }\nfn read() { idx::mnist(Part::Train) }\n",
        ),
        ("idx", "use super::Part;\n"),
    ]);
    assert_eq!(
        circles(&folder_graph("data", &files)),
        ["idx, mod (idx → mod → idx)"]
    );
    // A folder inside a folder: `crate::data::csv::` names a sibling inside it.
    let files = sources(&[
        ("mod", "pub mod a;\npub mod b;\n"),
        ("a", "use crate::data::csv::b::B;\n"),
        ("b", "fn f() { super::a::g() }\n"),
    ]);
    assert_eq!(
        circles(&folder_graph("data/csv", &files)),
        ["a, b (a → b → a)"]
    );
    // From the parent's side, a nested file's `super::super::` is `super::` and its `super::`
    // (a sibling of its own) names none; a name that only ends in `super` is left alone.
    assert_eq!(
        lifted("use super::raw; use super::super::memory; fn f() { mysuper::x() }"),
        "use self::raw; use super::memory; fn f() { mysuper::x() }"
    );
    // And the real tree has edges to check at all, in folders inside folders too, which are
    // also nodes of their parent's graph with the uses of all their files.
    let all = folders();
    let folder = |name: &str| {
        let found = all.iter().find(|(f, _)| f == name);
        found
            .unwrap_or_else(|| panic!("src/{name} not read"))
            .1
            .clone()
    };
    assert!(folder_graph("nn", &folder("nn"))["net"].contains("mlp"));
    assert!(folder_graph("data/csv", &folder("data/csv"))["encode"].contains("schema"));
    let data = folder_graph("data", &folder("data"));
    assert!(
        data["csv"].contains("memory") && data["csv"].contains("samples"),
        "{:?}",
        data["csv"]
    );
    for name in ["data/samples", "data/text"] {
        assert!(all.iter().any(|(f, _)| f == name), "src/{name} not read");
    }
}
