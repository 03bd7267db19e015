//! The start-up check that every rank trains the same thing: what each rank describes (its
//! configuration, its data, its model) is compared with rank 0's, and a difference is named.

use serde_json::{json, Value};

use super::Ranks;

/// FNV-1a, 64 bits, of `bytes`: a fingerprint that is the same on every host and build.
pub fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where `a` and `b` first differ: the path of the value (`fit.batch_size`), and the value in
/// each (as JSON); `None` when they are the same.
pub fn first_difference(a: &Value, b: &Value) -> Option<(String, String, String)> {
    let here = || Some((String::new(), a.to_string(), b.to_string()));
    let inside = |key: &str, d: Option<(String, String, String)>| {
        d.map(|(path, x, y)| match path.is_empty() {
            true => (key.to_string(), x, y),
            false => (format!("{key}.{path}"), x, y),
        })
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys = x.keys().chain(y.keys().filter(|k| !x.contains_key(*k)));
            for key in keys {
                let (u, v) = (
                    x.get(key).unwrap_or(&Value::Null),
                    y.get(key).unwrap_or(&Value::Null),
                );
                if let Some(d) = inside(key, first_difference(u, v)) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => (x.iter().zip(y))
            .enumerate()
            .find_map(|(i, (u, v))| inside(&i.to_string(), first_difference(u, v))),
        _ if a == b => None,
        _ => here(),
    }
}

impl Ranks {
    /// Checks that every rank describes each of `items` (`("configuration", …)`, `("data",
    /// …)`, …) as rank 0 does, each a list of named values. Where one differs, every rank fails
    /// with the same line, which names the first rank and item that differ and the first value
    /// in which they do (in the list's order; inside a value, by its path).
    pub fn agree(&self, items: &[(&str, Vec<(&str, Value)>)]) -> candle_core::Result<()> {
        if !self.is_parallel() {
            return Ok(());
        }
        // Each list as JSON pairs, `[["train rows", 90], …]`, in its order.
        let items: Vec<(&str, Value)> = (items.iter())
            .map(|(what, values)| {
                (
                    *what,
                    Value::Array(values.iter().map(|(k, v)| json!([k, v])).collect()),
                )
            })
            .collect();
        let mine: Vec<u64> = (items.iter())
            .map(|(_, v)| fingerprint(v.to_string().as_bytes()))
            .collect();
        let all = self.gather(&mine);
        let n = items.len();
        let differs = (1..self.size())
            .find_map(|r| (0..n).find(|&i| all[r * n + i] != all[i]).map(|i| (r, i)));
        let Some((rank, item)) = differs else {
            return Ok(());
        };
        // Both descriptions of the item, rank 0's and the differing rank's, on every rank.
        let described = |root: usize| {
            let mut bytes = match self.rank() == root {
                true => items[item].1.to_string().into_bytes(),
                false => Vec::new(),
            };
            self.broadcast_bytes(root, &mut bytes);
            serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null)
        };
        let (first, other) = (described(0), described(rank));
        let what = items[item].0;
        // A path `2.1.fit.seed` is pair 2's value's `fit.seed`: named by the pair's name.
        let named = |path: String| {
            let mut parts = path.splitn(3, '.');
            let index = parts.next().and_then(|i| i.parse::<usize>().ok());
            let name = index.and_then(|i| first.get(i)?.get(0)?.as_str().map(str::to_string));
            match (name, parts.nth(1)) {
                (Some(name), Some(rest)) => format!("{name}.{rest}"),
                (Some(name), None) => name,
                (None, _) => path,
            }
        };
        let detail = match first_difference(&first, &other).map(|(p, a, b)| (named(p), a, b)) {
            Some((path, a, b)) if !path.is_empty() => {
                format!(": {path} is {b} there, {a} on rank 0")
            }
            Some((_, a, b)) => format!(": {b} there, {a} on rank 0"),
            None => String::new(),
        };
        Err(super::Shared::error(format!(
            "rank {rank} of {} has another {what} than rank 0{detail}; start every rank with the same command, files and model",
            self.size()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_difference_is_named_by_its_path_in_order() {
        let a = json!([["training", {"fit": {"lr": 0.1, "batch_size": 32}}], ["dtype", "f64"]]);
        let b = json!([["training", {"fit": {"lr": 0.1, "batch_size": 16}}], ["dtype", "f32"]]);
        let d = first_difference(&a, &b).unwrap();
        assert_eq!(d, ("0.1.fit.batch_size".into(), "32".into(), "16".into()));
        assert_eq!(first_difference(&a, &a), None);
        // Lists of other lengths differ as a whole; a key only one side has, at that key.
        let d = first_difference(&json!({"x": [1, 2]}), &json!({"x": [1]})).unwrap();
        assert_eq!(d, ("x".into(), "[1,2]".into(), "[1]".into()));
        let d = first_difference(&json!({"x": 1}), &json!({"x": 1, "y": 2})).unwrap();
        assert_eq!(d, ("y".into(), "null".into(), "2".into()));
    }

    #[test]
    fn fingerprints_are_fnv_1a() {
        // FNV-1a's published 64-bit values for "" and "a".
        assert_eq!(fingerprint(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fingerprint(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
