//! The `nn` example trains, evaluates, predicts and benchmarks end to end, and refuses bad input clearly.

mod common;

use std::path::Path;
use std::process::Command;

use common::nn::{json, ok, run};
use common::scratch;

#[test]
fn train_then_eval_and_predict_from_the_saved_file_alone() {
    let dir = scratch("mlp-cycle");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let text = ok(&[
        "train",
        "--data",
        "spirals:200",
        "--hidden",
        "32,32",
        "--epochs",
        "25",
        "--lr",
        "0.01",
        "--normalize",
        "--save",
        &p("m.safetensors"),
        "--history",
        &p("h.csv"),
        "--plot",
        &p("loss.svg"),
        "--metrics-json",
        &p("train.json"),
    ]);
    assert!(text.contains("epoch  25/25"), "{text}");

    let history = std::fs::read_to_string(dir.join("h.csv")).unwrap();
    let mut lines = history.lines();
    assert_eq!(
        lines.next(),
        Some("epoch,lr,train_loss,valid_loss,valid_accuracy,seconds")
    );
    assert_eq!(lines.count(), 25);
    let svg = std::fs::read_to_string(dir.join("loss.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains(">validation<"),
        "{svg}"
    );

    let trained = json(&dir.join("train.json"));
    assert_eq!(trained["epochs"], 25);
    assert!(
        trained["valid_accuracy"].as_f64().unwrap() > 0.8,
        "{trained}"
    );
    assert!(trained["samples_per_sec"].as_f64().unwrap() > 0.0);

    // eval rebuilds the model, normalisation included, from the file alone.
    let text = ok(&[
        "eval",
        "--model",
        &p("m.safetensors"),
        "--data",
        "spirals:200",
        "--metrics-json",
        &p("eval.json"),
    ]);
    assert!(text.contains("400 samples: accuracy"), "{text}");
    let scored = json(&dir.join("eval.json"));
    assert_eq!(scored["samples"], 400);
    assert!(scored["accuracy"].as_f64().unwrap() > 0.8, "{scored}");

    ok(&[
        "predict",
        "--model",
        &p("m.safetensors"),
        "--data",
        "spirals:200",
        "--output",
        &p("pred.csv"),
    ]);
    let predictions = std::fs::read_to_string(dir.join("pred.csv")).unwrap();
    let mut rows = predictions.lines();
    assert_eq!(rows.next(), Some("predicted,p_0,p_1"));
    let rows: Vec<Vec<f64>> = rows
        .map(|r| r.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 400);
    for row in &rows {
        assert!((row[1] + row[2] - 1.0).abs() < 1e-5, "{row:?}");
        assert_eq!(row[0], if row[2] > row[1] { 1.0 } else { 0.0 });
    }
    // The predicted classes agree with eval's accuracy: spirals:N test rows alternate class 0, 1.
    let correct = rows
        .iter()
        .enumerate()
        .filter(|(i, r)| r[0] == (i % 2) as f64)
        .count();
    let accuracy = correct as f64 / rows.len() as f64;
    assert!(
        (accuracy - scored["accuracy"].as_f64().unwrap()).abs() < 1e-9,
        "{accuracy} vs {scored}"
    );
}

#[test]
fn regression_on_a_csv_file() {
    let dir = scratch("mlp-csv");
    // y = 2·a − b + 0.5, exactly.
    let mut csv = String::from("a,label,b\n");
    for i in 0..64 {
        let (a, b) = ((i % 8) as f64 / 8.0, (i / 8) as f64 / 8.0);
        csv += &format!("{a},{},{b}\n", 2.0 * a - b + 0.5);
    }
    std::fs::write(dir.join("line.csv"), csv).unwrap();
    let data = format!("csv:{}", dir.join("line.csv").display());
    let model = dir.join("line.safetensors");
    let text = ok(&[
        "train",
        "--data",
        &data,
        "--loss",
        "mse",
        "--hidden",
        "8",
        "--epochs",
        "200",
        "--lr",
        "0.01",
        "--valid-fraction",
        "0",
        "--save",
        model.to_str().unwrap(),
    ]);
    assert!(
        !text.contains("accuracy"),
        "regression has no accuracy: {text}"
    );
    let text = ok(&["eval", "--model", model.to_str().unwrap(), "--data", &data]);
    let loss: f64 = text
        .split("mse loss ")
        .nth(1)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(loss < 1e-3, "{text}");
    let text = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &data,
    ]);
    assert!(text.starts_with("output0\n"), "{text}");
}

#[test]
fn bench_reports_samples_per_second() {
    let dir = scratch("mlp-bench");
    let metrics = dir.join("bench.json");
    let text = ok(&[
        "bench",
        "--inputs",
        "32",
        "--hidden",
        "16,16",
        "--classes",
        "4",
        "--batch-size",
        "8",
        "--steps",
        "5",
        "--metrics-json",
        metrics.to_str().unwrap(),
    ]);
    assert!(text.contains("samples/s"), "{text}");
    let m = json(&metrics);
    let (sps, ms) = (
        m["samples_per_sec"].as_f64().unwrap(),
        m["ms_per_step"].as_f64().unwrap(),
    );
    assert!(sps > 0.0 && ms > 0.0);
    assert!(
        (sps * ms / 1e3 - 8.0).abs() < 1e-6,
        "samples/s and ms/step disagree: {m}"
    );
}

#[test]
fn bad_input_exits_non_zero_with_one_clear_line_and_no_output_file() {
    let dir = scratch("mlp-bad");
    let model = dir.join("m.safetensors");
    let save = model.to_str().unwrap();
    let ragged = dir.join("ragged.csv");
    std::fs::write(&ragged, "a,label\n1,0\n2\n").unwrap();
    let ragged = format!("csv:{}", ragged.display());
    let gappy = dir.join("gappy.csv");
    std::fs::write(&gappy, "a,label\n,0\n2,1\n").unwrap();
    let gappy = format!("csv:{}", gappy.display());
    common::write_quadrants(&dir, 16, 8, 8);
    let images = format!("mnist:{}", dir.display());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["train", "--data", "spirals:10", "--hidden", "0"],
            "'0' is not a whole number ≥ 1",
        ),
        (
            vec!["train", "--data", "spirals:10", "--batch-size", "0"],
            "'0' is not a whole number ≥ 1",
        ),
        (
            vec!["train", "--data", "spirals:10", "--lr", "nan"],
            "not a positive finite number",
        ),
        (
            vec!["train", "--data", "spirals:10", "--valid-fraction", "1.5"],
            "'1.5' is not a fraction in [0, 1)",
        ),
        (
            vec!["train", "--data", "spirals:10", "--lr", "-1"],
            "'-1' is not a positive finite number",
        ),
        (
            vec!["train", "--data", "spirals:10", "--epochs", "-5"],
            "'-5' is not a whole number ≥ 1",
        ),
        (
            vec!["train", "--data", "spirals:10", "--momentum", "1"],
            "not a momentum in [0, 1)",
        ),
        (
            vec!["train", "--data", "spirals:10", "--weight-decay", "-0.1"],
            "'-0.1' is not a finite number ≥ 0",
        ),
        (
            vec!["train", "--data", "nothing:3"],
            "unknown data source 'nothing:3': use csv:PATH",
        ),
        (
            vec!["train", "--data", "parity:0"],
            "N bits, a whole number from 1 to 20",
        ),
        (vec!["train", "--data", &ragged], "line 3"),
        (
            vec!["train", "--data", &ragged, "--delimiter", ";;"],
            "';;' is not a field separator",
        ),
        (
            vec!["train", "--data", &gappy, "--target", "species"],
            "no column named 'species'",
        ),
        (
            vec!["train", "--data", &gappy],
            "line 2, column 'a': the value is missing ('')",
        ),
        (
            vec!["train", "--data", &gappy, "--max-memory", "0"],
            "'0' is not a size",
        ),
        (
            // The images are read from disk under such a budget; the labels still must fit.
            vec!["train", "--data", &images, "--max-memory", "10"],
            "more than the data budget of 10 bytes",
        ),
        (
            vec!["train", "--data", "spirals:10", "--device", "cuda:999"],
            if cfg!(feature = "cuda") {
                "CUDA device"
            } else {
                "--features cuda"
            },
        ),
        (
            vec![
                "train", "--data", "parity:3", "--loss", "bce", "--plot", "x.jpg",
            ],
            "the file name must end in .svg",
        ),
        (
            vec![
                "eval",
                "--model",
                "missing.safetensors",
                "--data",
                "spirals:10",
            ],
            "there is no model 'missing.safetensors'",
        ),
    ];
    for (mut args, expected) in cases {
        if args[0] == "train" {
            args.extend(["--epochs", "1", "--save", save]);
        }
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected {expected:?} in {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!model.exists(), "{args:?} left a model file");
    }
    // A model name that cannot be saved is refused before the first epoch, not after the last.
    let txt = dir.join("model.txt");
    let out = run(&[
        "train",
        "--data",
        "spirals:10",
        "--epochs",
        "1",
        "--save",
        txt.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("rename it *.safetensors"),
        "{stderr}"
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("epoch"),
        "it trained first"
    );
    // A model whose input size differs from the data's.
    ok(&[
        "train", "--data", "parity:3", "--epochs", "1", "--save", save,
    ]);
    let out = run(&["eval", "--model", save, "--data", "parity:5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("has 5 features but the model takes 3"),
        "{stderr}"
    );
}

#[test]
fn resume_goes_on_from_the_saved_epoch_and_refuses_another_shape() {
    let dir = scratch("mlp-resume");
    let model = dir.join("m.safetensors");
    let save = model.to_str().unwrap();
    ok(&[
        "train",
        "--data",
        "spirals:100",
        "--epochs",
        "3",
        "--lr",
        "0.01",
        "--save",
        save,
    ]);
    let history = dir.join("h.csv");
    let text = ok(&[
        "train",
        "--data",
        "spirals:100",
        "--epochs",
        "6",
        "--resume",
        save,
        "--save",
        save,
        "--history",
        history.to_str().unwrap(),
    ]);
    assert!(
        text.contains("epochs 4..6") && text.contains("lr 0.01"),
        "{text}"
    );
    let epochs: Vec<String> = std::fs::read_to_string(&history)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap().to_string())
        .collect();
    assert_eq!(epochs, ["4", "5", "6"]);
    for (args, expected) in [
        (vec!["--epochs", "6"], "already trained 6 epochs"),
        (vec!["--epochs", "9", "--hidden", "8"], "not --hidden [8]"),
        (
            vec!["--epochs", "9", "--loss", "mse"],
            "drop --activation/--loss",
        ),
    ] {
        let mut all = vec!["train", "--data", "spirals:100", "--resume", save];
        all.extend(args);
        let out = run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{all:?}: {stderr}"
        );
    }
}

#[test]
fn a_corrupt_or_inconsistent_model_file_is_refused_clearly() {
    let dir = scratch("mlp-corrupt");
    let model = dir.join("m.safetensors");
    ok(&[
        "train",
        "--data",
        "spirals:20",
        "--epochs",
        "1",
        "--save",
        model.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&model).unwrap();
    // Truncated: the header promises more data than the file holds.
    let truncated = dir.join("truncated.safetensors");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    // Same-length edits of the description: `edit(pairs, name)` writes a copy with each replaced.
    let edit = |pairs: &[(&[u8], &[u8])], name: &str| {
        let mut edited = bytes.clone();
        for (from, to) in pairs {
            let at = edited
                .windows(from.len())
                .position(|w| w == *from)
                .expect("the description holds the text to edit");
            edited[at..at + to.len()].copy_from_slice(to);
        }
        let path = dir.join(name);
        std::fs::write(&path, edited).unwrap();
        path
    };
    // A valid file whose description claims other layers than its tensors have.
    let lying = edit(
        &[(b"[2,64,32,2]", b"[2,64,33,2]"), (b"dense:32", b"dense:33")],
        "lying.safetensors",
    );
    // A description that contradicts itself: its sizes are not its layers'.
    let contradicting = edit(
        &[(b"[2,64,32,2]", b"[2,64,33,2]")],
        "contradicting.safetensors",
    );
    for (path, expected) in [
        (&truncated, "is not a safetensors file"),
        (&lying, "its description needs"),
        (&contradicting, "broken description"),
    ] {
        let out = run(&[
            "eval",
            "--model",
            path.to_str().unwrap(),
            "--data",
            "spirals:20",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{}: {stderr}",
            path.display()
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

#[test]
fn a_diverging_run_names_the_step_and_leaves_the_last_good_model() {
    let dir = scratch("mlp-diverge");
    let model = dir.join("m.safetensors");
    let save = model.to_str().unwrap();
    ok(&[
        "train",
        "--data",
        "spirals:50",
        "--loss",
        "mse",
        "--epochs",
        "2",
        "--save",
        save,
    ]);
    let before = std::fs::read(&model).unwrap();
    let out = run(&[
        "train",
        "--data",
        "spirals:50",
        "--loss",
        "mse",
        "--optimizer",
        "sgd",
        "--lr",
        "1e12",
        "--epochs",
        "50",
        "--save",
        save,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "a learning rate of 1e12 trained: {stderr}"
    );
    assert!(
        stderr.contains("diverged at epoch") && stderr.contains("lower the learning rate"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&model).unwrap(),
        before,
        "the last good model was replaced"
    );
}

/// The thread count follows the machine's load at start-up, so it must not change what a run
/// computes. With 2 threads the dense layers split their products (by rows of the output at
/// batch 256, by outputs at batch 64) and SGD splits its update; the same seed must still
/// train to the same bytes as on 1 thread. Layers of 800 and 256 make the splits happen, with
/// sums as long as MNIST's 784.
#[test]
fn training_is_bit_identical_whatever_the_thread_count() {
    let dir = scratch("mlp-threads");
    for batch in ["64", "256"] {
        let saved: Vec<Vec<u8>> = ["1", "2"]
            .iter()
            .map(|threads| {
                let path = dir.join(format!("b{batch}-t{threads}.safetensors"));
                ok(&[
                    "train",
                    "--data",
                    "spirals:300",
                    "--hidden",
                    "800,256",
                    "--batch-size",
                    batch,
                    "--epochs",
                    "2",
                    "--threads",
                    threads,
                    "--save",
                    path.to_str().unwrap(),
                ]);
                std::fs::read(&path).unwrap()
            })
            .collect();
        assert!(
            saved[0] == saved[1],
            "batch {batch}: 1 and 2 threads saved different weights"
        );
    }
}

/// A conv net from `--layers` on image files: trains, scores and predicts from its file alone,
/// resumes, and takes the same images as a CSV file with `--image-shape`.
#[test]
fn a_conv_net_trains_on_images_and_rebuilds_from_its_file_alone() {
    let dir = scratch("conv-cycle");
    let (pixels, labels) = common::write_quadrants(&dir, 240, 80, 8);
    let data = format!("mnist:{}", dir.display());
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let layers = "conv:4:3,relu,maxpool:2,dropout:0.1,flatten,dense:16,relu";
    let text = ok(&[
        "train",
        "--data",
        &data,
        "--layers",
        layers,
        "--epochs",
        "6",
        "--lr",
        "0.01",
        "--batch-size",
        "16",
        "--save",
        &p("m.safetensors"),
        "--metrics-json",
        &p("t.json"),
    ]);
    assert!(text.contains("[1, 8, 8] conv:4:3,relu,maxpool:2"), "{text}");
    assert!(
        json(&dir.join("t.json"))["valid_accuracy"]
            .as_f64()
            .unwrap()
            >= 0.9,
        "{text}"
    );
    let scored = ok(&[
        "eval",
        "--model",
        &p("m.safetensors"),
        "--data",
        &data,
        "--metrics-json",
        &p("e.json"),
    ]);
    assert!(
        json(&dir.join("e.json"))["accuracy"].as_f64().unwrap() >= 0.9,
        "{scored}"
    );
    let predictions = ok(&["predict", "--model", &p("m.safetensors"), "--data", &data]);
    let mut rows = predictions.lines();
    assert_eq!(
        rows.next().unwrap(),
        "predicted,p_0,p_1,p_2,p_3,p_4,p_5,p_6,p_7,p_8,p_9"
    );
    let predicted: Vec<u8> = rows
        .map(|r| r.split(',').next().unwrap().parse().unwrap())
        .collect();
    let right = predicted
        .iter()
        .zip(&labels)
        .filter(|(a, b)| a == b)
        .count();
    assert!(right >= 72, "{right} of 80 right");
    let resumed = ok(&[
        "train",
        "--data",
        &data,
        "--resume",
        &p("m.safetensors"),
        "--epochs",
        "7",
        "--save",
        &p("m.safetensors"),
    ]);
    assert!(resumed.contains("epochs 7..7"), "{resumed}");
    // The test images as a CSV file: one label column, 64 pixel columns in [0, 1].
    let mut csv = String::from("label");
    (0..64).for_each(|i| csv += &format!(",p{i}"));
    for (image, label) in pixels.chunks(64).zip(&labels) {
        csv += &format!("\n{label}");
        image
            .iter()
            .for_each(|v| csv += &format!(",{}", f32::from(*v) / 255.0));
    }
    std::fs::write(dir.join("images.csv"), csv + "\n").unwrap();
    let csv = format!("csv:{}", p("images.csv"));
    ok(&[
        "train",
        "--data",
        &csv,
        "--image-shape",
        "1,8,8",
        "--layers",
        "conv:2:3,relu,flatten",
        "--epochs",
        "1",
    ]);
    // A model of images scores a CSV file of them without being told the shape again.
    ok(&["eval", "--model", &p("m.safetensors"), "--data", &csv]);
}

/// Layer specs that cannot work are refused before anything loads or is written, naming the layer.
#[test]
fn bad_layer_specs_are_refused_naming_the_layer() {
    let dir = scratch("conv-bad");
    common::write_quadrants(&dir, 8, 4, 8);
    let data = format!("mnist:{}", dir.display());
    let model = dir.join("m.safetensors");
    let csv = dir.join("flat.csv");
    std::fs::write(&csv, "label,a,b\n0,1,2\n1,3,4\n").unwrap();
    let csv = format!("csv:{}", csv.display());
    for (args, expected) in [
        (
            vec!["--data", "spirals:10", "--layers", "conv:4:3"],
            "layer 'conv:4:3' needs an image",
        ),
        (
            vec!["--data", &data, "--layers", "conv:4:9"],
            "kernel is larger than its 8×8 input",
        ),
        (
            vec!["--data", &data, "--layers", "dropout:1.5"],
            "the probability must be in [0, 1)",
        ),
        (
            vec!["--data", &data, "--layers", "relu,wat"],
            "unknown layer 'wat'",
        ),
        (
            vec!["--data", &data, "--layers", "dense:8", "--hidden", "8"],
            "cannot be used with",
        ),
        (
            vec!["--data", &csv, "--image-shape", "1,2,2"],
            "holds 4 values but each sample has 2 features",
        ),
        (
            vec!["--data", &csv, "--image-shape", "1,2"],
            "is not three sizes",
        ),
        (
            vec!["--data", "mnist:/no/such/folder", "--layers", "conv:4:3"],
            "looked for",
        ),
    ] {
        let mut all = vec!["train", "--epochs", "1", "--save", model.to_str().unwrap()];
        all.extend(args);
        let out = run(&all);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && stderr.contains(expected),
            "{all:?}: {stderr}"
        );
        // One line of error (clap adds a hint line after its own).
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{stderr}"
        );
        assert!(!model.exists(), "{all:?} wrote a model");
    }
}

/// `bench` times the workload of PyTorch's MNIST example network (here on small images).
#[test]
fn bench_runs_a_conv_net_with_dropout() {
    let dir = scratch("conv-bench");
    let metrics = dir.join("b.json");
    ok(&[
        "bench",
        "--inputs",
        "1,12,12",
        "--layers",
        "conv:4:3,relu,conv:8:3,relu,maxpool:2,dropout:0.25,flatten,dense:16,relu,dropout:0.5",
        "--classes",
        "10",
        "--batch-size",
        "8",
        "--steps",
        "2",
        "--metrics-json",
        metrics.to_str().unwrap(),
    ]);
    assert!(json(&metrics)["samples_per_sec"].as_f64().unwrap() > 0.0);
}

/// Every tensor of a model file (weights, batch-norm statistics, optimizer state), by name.
fn tensors(path: &Path) -> Vec<(String, Vec<u32>)> {
    let mut all: Vec<(String, Vec<u32>)> =
        candle_core::safetensors::load(path, &candle_core::Device::Cpu)
            .unwrap()
            .into_iter()
            .map(|(name, t)| {
                let bits = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                (name, bits.iter().map(|v| v.to_bits()).collect())
            })
            .collect();
    all.sort();
    all
}

/// Training 3 epochs, then resuming to 6 from the checkpoint, ends with the very bits of an
/// uninterrupted 6-epoch run: weights and optimizer state, for SGD, momentum, Nesterov, AdamW with
/// weight decay, a step schedule, and a conv net with batch norm and dropout. (A cosine schedule is
/// left out: its length is the run's --epochs, so a 3-epoch run decays on another curve.) The
/// resumed epochs moved every weight tensor away from the 3-epoch checkpoint, so the bits agree
/// because both runs trained alike, not because neither trained.
#[test]
fn three_epochs_then_three_more_equal_six_bit_for_bit() {
    let dir = scratch("resume-exact");
    common::write_quadrants(&dir, 96, 8, 8);
    let images = format!("mnist:{}", dir.display());
    let conv = "conv:4:3,batchnorm,relu,maxpool:2,dropout:0.2,flatten,dense:8,relu";
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("sgd", vec!["--optimizer", "sgd", "--lr", "0.1"]),
        ("momentum", vec!["--optimizer", "momentum", "--lr", "0.05"]),
        (
            "nesterov",
            vec!["--optimizer", "momentum", "--nesterov", "--lr", "0.05"],
        ),
        ("adamw", vec!["--lr", "0.01", "--weight-decay", "0.01"]),
        ("step", vec!["--lr", "0.01", "--schedule", "step:2:0.5"]),
        ("conv", vec!["--layers", conv, "--lr", "0.01"]),
        // The images over a 2 KB budget: read from disk, epochs shard by shard; the resumed
        // run (with the default budget) keeps to the shards.
        ("streamed", vec!["--max-memory", "2K", "--lr", "0.01"]),
    ];
    for (name, flags) in cases {
        let data = if name == "conv" || name == "streamed" {
            images.as_str()
        } else {
            "spirals:40"
        };
        let (whole, half) = (
            dir.join(format!("{name}-6.safetensors")),
            dir.join(format!("{name}-3.safetensors")),
        );
        let train = |epochs: &str, save: &Path, extra: &[&str]| {
            let mut args = vec![
                "train",
                "--data",
                data,
                "--epochs",
                epochs,
                "--batch-size",
                "16",
                "--save",
                save.to_str().unwrap(),
            ];
            args.extend(extra);
            ok(&args)
        };
        let first = train("6", &whole, &flags);
        assert!(
            (name == "streamed") == first.contains("read from disk"),
            "{name}: {first}"
        );
        train("3", &half, &flags);
        let at_three = tensors(&half);
        assert_eq!(epochs_done(&half), 3, "{name}");
        let resumed = train("6", &half, &["--resume", half.to_str().unwrap()]);
        assert!(resumed.contains("epochs 4..6"), "{name}: {resumed}");
        assert_eq!(epochs_done(&half), 6, "{name}");
        let (a, b) = (tensors(&whole), tensors(&half));
        let weights: Vec<&(String, Vec<u32>)> = b
            .iter()
            .filter(|(n, _)| n.starts_with("layers.") && n.ends_with(".weight"))
            .collect();
        assert!(weights.len() >= 3, "{name}: {weights:?}");
        for (n, bits) in weights {
            let before = at_three.iter().find(|(m, _)| m == n).unwrap();
            assert!(
                &before.1 != bits,
                "{name}: epochs 4..6 left '{n}' as it was"
            );
        }
        assert!(
            a.iter().any(|(n, _)| n.starts_with("optimizer.")) || name == "sgd",
            "{name}: no optimizer state saved"
        );
        assert_eq!(a.len(), b.len(), "{name}");
        for ((na, va), (nb, vb)) in a.iter().zip(&b) {
            assert_eq!(na, nb, "{name}");
            assert!(va == vb, "{name}: '{na}' differs after resuming");
        }
    }
}

/// Ctrl-C (SIGINT) in the middle of an epoch: the batch under way finishes, the checkpoint is
/// written, one line says how to go on, the exit status is 130; resuming from there ends with the
/// file of a run that was never interrupted, byte for byte. The checkpoint says where the run
/// stopped (and the printed line the same epoch and batch): a run that happened to stop between
/// epochs is interrupted again a little later, until one stops with part of an epoch done.
/// SIGTERM does the same with 143, and without --save says that nothing was kept.
#[cfg(unix)]
#[test]
fn an_interrupted_run_saves_where_it_stopped_and_resumes_to_the_same_bits() {
    use std::io::BufRead;
    let dir = scratch("interrupt");
    let common = [
        // Epochs of 900 batches, so that a signal lands in one more often than between two
        // (where the checkpoint is written and the validation rows scored).
        "--data",
        "spirals:2000",
        "--epochs",
        "30",
        "--batch-size",
        "4",
        "--optimizer",
        "momentum",
        "--lr",
        "0.02",
    ];
    // Stops `args` with `signal` `delay_ms` after its first epoch line: (exit code, output).
    let interrupt = |args: &[&str], signal: i32, delay_ms: u64| {
        let mut child = Command::new(common::example("nn"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut text = String::new();
        for line in lines.by_ref() {
            let line = line.unwrap();
            text += &line;
            text.push('\n');
            if line.starts_with("epoch") {
                break;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        // SAFETY: kill only sends a signal to the child's process id.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        lines.for_each(|l| {
            text += &l.unwrap();
            text.push('\n');
        });
        (child.wait().unwrap().code(), text)
    };
    // spirals:2000 is 4000 points; the checkpoint says how many are held out.
    let batches_per_epoch = |path: &Path| {
        let training = &description(path)["training"];
        let valid = (4000.0 * training["valid_fraction"].as_f64().unwrap()).round() as usize;
        (4000 - valid).div_ceil(4)
    };
    // Each schedule, the learning rate by epoch: a cosine's length is the run's --epochs, 30 here.
    for (i, (schedule, delay_ms)) in [("constant", 0u64), ("cosine", 7), ("step:7:0.5", 19)]
        .into_iter()
        .enumerate()
    {
        let whole = dir.join(format!("whole{i}.safetensors"));
        let mut args = vec![
            "train",
            "--schedule",
            schedule,
            "--save",
            whole.to_str().unwrap(),
        ];
        args.extend(common);
        ok(&args);
        let part = dir.join(format!("part{i}.safetensors"));
        let mut args = vec![
            "train",
            "--schedule",
            schedule,
            "--save",
            part.to_str().unwrap(),
        ];
        args.extend(common);
        let mut tries = Vec::new();
        let last = loop {
            let delay_ms = delay_ms + 7 * tries.len() as u64;
            let (code, text) = interrupt(&args, libc::SIGINT, delay_ms);
            assert_eq!(code, Some(130), "{text}");
            let last = text.lines().last().unwrap().to_string();
            assert!(
                last.starts_with("stopped in epoch") && last.contains("--resume"),
                "{text}"
            );
            let training = &description(&part)["training"];
            let (epochs, batch) = (
                training["epochs"].as_u64().unwrap(),
                training["batch"].as_u64().unwrap(),
            );
            assert!(epochs < 30, "{schedule}: it finished ({last})");
            let numbers = numbers_in(&last);
            assert!(
                numbers.contains(&(epochs + 1)) && numbers.contains(&batch),
                "{schedule}: the checkpoint says epoch {} after {batch} batches: {last}",
                epochs + 1
            );
            assert!(batch < batches_per_epoch(&part) as u64, "{last}");
            if batch > 0 {
                break last;
            }
            tries.push(last);
            assert!(
                tries.len() < 20,
                "{schedule}: every interrupt fell between epochs: {tries:?}"
            );
        };
        let mut resume = vec![
            "train",
            "--resume",
            part.to_str().unwrap(),
            "--save",
            part.to_str().unwrap(),
        ];
        resume.extend(common);
        ok(&resume);
        // The whole file: every tensor and the description, floats included.
        let (a, b) = (
            std::fs::read(&whole).unwrap(),
            std::fs::read(&part).unwrap(),
        );
        assert!(a == b, "{last}, then resumed: another file");
    }
    let mut args = vec!["train"];
    args.extend(common);
    let (code, text) = interrupt(&args, libc::SIGTERM, 3);
    assert_eq!(code, Some(143), "{text}");
    assert!(text.contains("nothing was kept"), "{text}");
}

/// A run killed outright (SIGKILL) at any instant leaves a checkpoint that loads and resumes: the
/// previous one or the new one, never a broken one. Each run is killed at a random moment after
/// its first epoch line, which it prints once that epoch's checkpoint is written, so that every
/// kill finds a checkpoint this run rewrote (it records more epochs than before), and most
/// land while later epochs are being trained and written.
#[cfg(unix)]
#[test]
fn a_run_killed_at_any_instant_leaves_a_checkpoint_that_loads() {
    use std::io::BufRead;
    let dir = scratch("sigkill");
    let model = dir.join("m.safetensors");
    let save = model.to_str().unwrap();
    let data = ["--data", "spirals:200", "--batch-size", "4"];
    let mut first = vec!["train", "--epochs", "1", "--save", save];
    first.extend(data);
    ok(&first);
    let mut rng = simple_nn::rng::SplitMix64::new(50);
    let mut rewrites = Vec::new();
    for i in 0..50 {
        let before = epochs_done(&model);
        let mut args = vec![
            "train", "--resume", save, "--epochs", "100000", "--save", save,
        ];
        args.extend(data);
        let mut child = Command::new(common::example("nn"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let epoch_line = lines
            .by_ref()
            .map(Result::unwrap)
            .find(|l| l.starts_with("epoch"));
        assert!(
            epoch_line.is_some(),
            "kill {i}: the run ended before its first epoch"
        );
        std::thread::sleep(std::time::Duration::from_millis(rng.next_u64() % 40));
        child.kill().unwrap();
        child.wait().unwrap();
        drop(lines);
        let out = run(&["eval", "--model", save, "--data", "spirals:200"]);
        assert!(
            out.status.success(),
            "kill {i}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let after = epochs_done(&model);
        assert!(
            after > before,
            "kill {i}: the checkpoint still says {before} epochs"
        );
        rewrites.push(after - before);
    }
    // And it resumes: one more epoch from wherever the last kill left it.
    let done = epochs_done(&model).to_string();
    let next = (epochs_done(&model) + 1).to_string();
    let mut args = vec!["train", "--resume", save, "--epochs", &next, "--save", save];
    args.extend(data);
    ok(&args);
    assert_eq!(
        epochs_done(&model).to_string(),
        next,
        "from {done} ({rewrites:?})"
    );
}

/// The `simple-nn` description a model file carries, as JSON.
fn description(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    serde_json::from_str(&meta.metadata().as_ref().unwrap()["simple-nn"]).unwrap()
}

/// The whole numbers written in `text`.
fn numbers_in(text: &str) -> Vec<u64> {
    text.split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect()
}

/// The epochs a model file records as done.
fn epochs_done(path: &Path) -> u64 {
    description(path)["training"]["epochs"].as_u64().unwrap()
}

/// `--patience N` ends training N epochs after the best validation loss and says so; `--keep-best`
/// leaves that epoch's model at --save and the last epoch's, to resume, beside it.
#[test]
fn patience_stops_early_and_keep_best_keeps_the_best_epoch() {
    let dir = scratch("patience");
    let (model, history) = (dir.join("m.safetensors"), dir.join("h.csv"));
    // 20 training points for a wide network at a high rate: it soon overfits.
    let text = ok(&[
        "train",
        "--data",
        "spirals:20",
        "--hidden",
        "128,128",
        "--lr",
        "0.02",
        "--epochs",
        "300",
        "--valid-fraction",
        "0.5",
        "--patience",
        "5",
        "--keep-best",
        "--save",
        model.to_str().unwrap(),
        "--history",
        history.to_str().unwrap(),
    ]);
    let losses: Vec<f64> = std::fs::read_to_string(&history)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
        .collect();
    assert!(losses.len() < 300, "it never stopped early: {text}");
    let best = (0..losses.len()).fold(0, |b, i| if losses[i] < losses[b] { i } else { b }) + 1;
    assert_eq!(losses.len(), best + 5, "{losses:?}");
    assert!(
        text.contains(&format!(
            "has not improved for 5 epochs (best {:.5} at epoch {best})",
            losses[best - 1]
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("kept the best epoch's model (epoch {best}")),
        "{text}"
    );
    assert_eq!(epochs_done(&model), best as u64);
    assert_eq!(
        epochs_done(&dir.join("m.last.safetensors")),
        losses.len() as u64
    );
    // Without validation rows there is nothing to watch.
    let out = run(&[
        "train",
        "--data",
        "spirals:20",
        "--valid-fraction",
        "0",
        "--patience",
        "3",
    ]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("set --valid-fraction above 0"));
}

/// A table as pandas' `to_csv` writes it (the row index first under no name, a quoted column
/// name, text labels, a text feature): trained with `--target`, scored and predicted on files
/// whose columns stand in another order (and, for `predict`, without the target, as TSV).
#[test]
fn a_table_as_pandas_writes_it_trains_and_is_read_back_by_column_name() {
    let dir = scratch("table");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    // kind is "dog" where x + (colour == red) > 1, else "cat".
    let rows: Vec<(f64, &str, f64, &str)> = (0..240)
        .map(|i| {
            let (x, colour, z) = (
                (i % 20) as f64 / 10.0,
                ["red", "blue"][i % 3 % 2],
                (i % 7) as f64,
            );
            let kind = if x + f64::from(u8::from(colour == "red")) > 1.0 {
                "dog"
            } else {
                "cat"
            };
            (x, colour, z, kind)
        })
        .collect();
    let mut train = String::from(",\"x, scaled\",colour,z,kind\n");
    let mut test = String::from("kind,extra,z,colour,\"x, scaled\"\n");
    let mut new = String::from("colour\tz\tx, scaled\n");
    for (i, (x, colour, z, kind)) in rows.iter().enumerate() {
        train += &format!("{i},{x},{colour},{z},{kind}\n");
        test += &format!("{kind},{i},{z},{colour},{x}\n");
        new += &format!("{colour}\t{z}\t{x}\n");
    }
    std::fs::write(p("train.csv"), &train).unwrap();
    std::fs::write(p("test.csv"), &test).unwrap();
    std::fs::write(p("new.tsv"), &new).unwrap();
    let text = ok(&[
        "train",
        "--data",
        &format!("csv:{}", p("train.csv")),
        "--target",
        "kind",
        "--epochs",
        "40",
        "--lr",
        "0.01",
        "--normalize",
        "--save",
        &p("m.safetensors"),
    ]);
    assert!(text.contains("row index"), "{text}");
    assert!(
        text.contains("classes of column 'kind', sorted: 0 = cat, 1 = dog"),
        "{text}"
    );
    assert!(
        text.contains("text columns, one-hot encoded: colour (4 inputs in all)"),
        "{text}"
    );
    // The same rows scored from the training file's order and from the shuffled one agree exactly.
    let eval = |file: &str| {
        ok(&[
            "eval",
            "--model",
            &p("m.safetensors"),
            "--data",
            &format!("csv:{}", p(file)),
        ])
    };
    let (same_order, shuffled) = (eval("train.csv"), eval("test.csv"));
    assert!(
        shuffled.contains("columns the model does not take, left out: extra"),
        "{shuffled}"
    );
    let score = |t: &str| t.lines().last().unwrap().to_string();
    assert_eq!(score(&same_order), score(&shuffled));
    let accuracy: f64 = score(&shuffled)
        .split("accuracy ")
        .nth(1)
        .and_then(|t| t.split('%').next())
        .and_then(|t| t.parse().ok())
        .unwrap();
    assert!(accuracy >= 90.0, "{shuffled}");
    // predict on unlabeled rows names the classes; the same as predicting the labelled file.
    let predict = |file: &str| {
        ok(&[
            "predict",
            "--model",
            &p("m.safetensors"),
            "--data",
            &format!("csv:{}", p(file)),
        ])
    };
    let (labelled, unlabeled) = (predict("train.csv"), predict("new.tsv"));
    assert_eq!(labelled, unlabeled);
    let mut lines = unlabeled.lines();
    assert_eq!(lines.next(), Some("predicted,p_cat,p_dog"));
    assert!(
        lines.all(|l| l.starts_with("cat,") || l.starts_with("dog,")),
        "{unlabeled}"
    );
    // eval needs the target; a missing feature column is named.
    std::fs::write(
        p("no_z.csv"),
        "x, scaled,colour,kind\n1,red,dog\n".replace("x, scaled", "\"x, scaled\""),
    )
    .unwrap();
    for (file, expected) in [
        ("new.tsv", "no column named 'kind'"),
        ("no_z.csv", "no column named 'z'"),
    ] {
        let out = run(&[
            "eval",
            "--model",
            &p("m.safetensors"),
            "--data",
            &format!("csv:{}", p(file)),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(expected), "{err}");
    }
    // A missing value is refused, naming where; --drop-incomplete leaves the row out and says so.
    std::fs::write(p("gaps.csv"), train.replacen(",blue,", ",NA,", 1)).unwrap();
    let gaps = format!("csv:{}", p("gaps.csv"));
    let out = run(&[
        "train", "--data", &gaps, "--target", "kind", "--epochs", "1",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("column 'colour': the value is missing ('NA')")
            && err.contains("--drop-incomplete"),
        "{err}"
    );
    let text = ok(&[
        "train",
        "--data",
        &gaps,
        "--target",
        "kind",
        "--epochs",
        "1",
        "--drop-incomplete",
    ]);
    assert!(
        text.contains("--drop-incomplete left out 1 of 240 rows"),
        "{text}"
    );
}
