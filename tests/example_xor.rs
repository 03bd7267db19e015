//! The `xor` example runs end to end and writes well-formed history and metrics files.
//!
//! `cargo test` builds the examples next to the test binaries; these tests
//! run that binary as a user would.

mod common;

use std::process::{Command, Output};

use candle_core::{DType, Device};
use common::scratch;
use simple_nn::tutorial::Score;
use simple_nn::tutorial::{reference, Dataset, Init};

fn run(args: &[&str]) -> Output {
    Command::new(common::example("xor"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn example_writes_history_and_metrics_that_match_an_independent_computation() {
    let dir = scratch("xor-files");
    let (history, metrics, saved) = (dir.join("h.csv"), dir.join("m.json"), dir.join("w.npz"));
    let out = run(&[
        "--iters",
        "2000",
        "--print-every",
        "500",
        "--init",
        "numpy:1",
        "--history",
        history.to_str().unwrap(),
        "--metrics-json",
        metrics.to_str().unwrap(),
        "--save",
        saved.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    for expected in [
        "step 0:",
        "step 1500:",
        "error (l2 - y):",
        "w1:",
        "w0:",
        "mode=autograd",
        "us_per_iter=",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    // History: one row per multiple of --print-every, scored before that step's update.
    let csv = std::fs::read_to_string(&history).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("step,loss,mean_abs_error"));
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(
        rows.iter().map(|r| r[0]).collect::<Vec<_>>(),
        [0.0, 500.0, 1000.0, 1500.0]
    );
    // Step 0's row is the initial weights' score, computed here from numpy's draws.
    let (xs, ys) = Dataset::Article.tensors(DType::F64, &Device::Cpu).unwrap();
    let ws = Init::Numpy(1)
        .weights(&[3, 4, 1], DType::F64, &Device::Cpu)
        .unwrap();
    let initial = Score::of(&reference::forward(&xs, &ws).unwrap()[2], &ys).unwrap();
    assert!((rows[0][1] - initial.loss).abs() <= 1e-12 * initial.loss);
    assert!((rows[0][2] - initial.mean_abs_error).abs() <= 1e-12);
    assert!(
        rows.windows(2).all(|w| w[1][1] < w[0][1]),
        "loss did not fall: {rows:?}"
    );

    // Metrics: the final loss is that of the saved weights.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&metrics).unwrap()).unwrap();
    for key in ["us_per_iter", "final_loss", "mean_abs_error"] {
        assert!(
            json[key].as_f64().is_some_and(f64::is_finite),
            "{key}: {json}"
        );
    }
    assert_eq!(json["iterations"], 2000);
    assert_eq!(
        (
            json["device"].as_str(),
            json["dtype"].as_str(),
            json["mode"].as_str()
        ),
        (Some("cpu"), Some("f64"), Some("autograd"))
    );
    let trained =
        simple_nn::io::weights::load(&saved, &[3, 4, 1], DType::F64, &Device::Cpu).unwrap();
    let final_score = Score::of(&reference::forward(&xs, &trained).unwrap()[2], &ys).unwrap();
    let reported = json["final_loss"].as_f64().unwrap();
    assert!(
        (reported - final_score.loss).abs() <= 1e-12 * final_score.loss,
        "{reported} vs {}",
        final_score.loss
    );
}

#[test]
fn every_mode_runs_in_both_dtypes_and_from_a_saved_checkpoint() {
    let dir = scratch("xor-modes");
    let saved = dir.join("w.safetensors");
    for mode in ["autograd", "manual", "as-printed"] {
        for dtype in ["f64", "f32"] {
            let out = run(&[
                "--mode",
                mode,
                "--dtype",
                dtype,
                "--iters",
                "300",
                "--print-every",
                "0",
                "--dataset",
                "xor",
                "--save",
                saved.to_str().unwrap(),
            ]);
            assert!(
                out.status.success(),
                "{mode} {dtype}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(stdout(&out).contains(&format!("device=cpu dtype={dtype} iterations=300")));
            assert!(stdout(&out).contains(&format!("mode={mode} kernels=")));
        }
    }
    let out = run(&[
        "--init",
        saved.to_str().unwrap(),
        "--iters",
        "10",
        "--print-every",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_flags_exit_non_zero_with_one_clear_line_and_no_output_file() {
    let dir = scratch("xor-bad");
    let saved = dir.join("w.npz");
    let save = saved.to_str().unwrap();
    let missing_folder = dir.join("no-such-folder").join("w.npz");
    let wide = dir.join("wide.npz");
    let out = run(&[
        "--iters",
        "1",
        "--hidden",
        "8",
        "--print-every",
        "0",
        "--save",
        wide.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--device", "gpu"], "unknown device 'gpu'"),
        (vec!["--device", "cuda:999"], no_such_gpu()),
        (vec!["--lr", "nan"], "not a positive finite number"),
        (vec!["--lr", "inf"], "not a positive finite number"),
        (vec!["--iters", "-5"], "'-5' is not a whole number ≥ 0"),
        (vec!["--lr", "-1"], "'-1' is not a positive finite number"),
        (
            vec!["--print-every", "-2"],
            "'-2' is not a whole number ≥ 0",
        ),
        (vec!["--hidden", "0"], "0 is not in 1..=1000000"),
        (vec!["--dtype", "f16"], "use f64 or f32"),
        (vec!["--init", "numpy:abc"], "bad numpy seed"),
        (
            vec!["--init", "missing.npz"],
            "cannot read checkpoint 'missing.npz'",
        ),
        (
            vec!["--init", wide.to_str().unwrap(), "--hidden", "4"],
            "expected (3, 4)",
        ),
        (
            vec!["--save", missing_folder.to_str().unwrap()],
            "pick a path in an existing folder",
        ),
        (vec!["--save", "weights.bin"], "*.npz or *.safetensors"),
    ];
    for (mut args, expected) in cases {
        args.extend(["--iters", "5", "--save", save]);
        if args.iter().filter(|a| **a == "--save").count() > 1 {
            args.truncate(args.len() - 2);
        }
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr
                .lines()
                .next()
                .is_some_and(|l| l.starts_with("error")),
            "{args:?}: {stderr}"
        );
        assert!(!saved.exists(), "{args:?} left {save}");
    }
}

#[test]
fn a_checkpoint_brings_its_own_hidden_size() {
    let dir = scratch("xor-sizes");
    let wide = dir.join("wide.npz");
    let out = run(&[
        "--iters",
        "3",
        "--hidden",
        "7",
        "--print-every",
        "0",
        "--save",
        wide.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(simple_nn::io::weights::sizes(&wide).unwrap(), [3, 7, 1]);
    let out = run(&[
        "--init",
        wide.to_str().unwrap(),
        "--iters",
        "3",
        "--print-every",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("network [3, 7, 1]"),
        "{}",
        stdout(&out)
    );
}

/// What asking for `cuda:999` says: the feature to build with, or (in a cuda build) that no such GPU exists.
fn no_such_gpu() -> &'static str {
    if cfg!(feature = "cuda") {
        "CUDA device"
    } else {
        "--features cuda"
    }
}
