//! `nn train --resume` and every train flag: each one either applies from where the run goes on,
//! and the run's first lines say so, or is refused with one line that names the saved value and
//! how to start afresh; none is dropped without a word. Also: what Ctrl-C prints runs as
//! printed and loses nothing, and a checkpoint's description reads back to the same bytes.

mod common;

use std::path::Path;
use std::process::Command;

use common::nn::{ok, refused, run};
use common::scratch;

/// The model description a checkpoint holds.
fn description(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    serde_json::from_str(&meta.metadata().as_ref().unwrap()["simple-nn"]).unwrap()
}

/// The bytes of a checkpoint's tensors (weights and optimizer state), its header left out.
fn tensor_bytes(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header..].to_vec()
}

/// The learning rate of each epoch in a `--history` file.
fn lrs(history: &Path) -> Vec<f64> {
    let text = std::fs::read_to_string(history).unwrap();
    text.lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

/// A checkpoint of 2 epochs of momentum SGD on 40 spirals points (72 training rows, batches of 16, patience 5).
fn two_epochs(dir: &Path) -> String {
    let model = dir.join("two.safetensors");
    let save = model.to_str().unwrap().to_string();
    ok(&[
        "train",
        "--data",
        "spirals:40",
        "--epochs",
        "2",
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--batch-size",
        "16",
        "--patience",
        "5",
        "--save",
        &save,
    ]);
    save
}

/// Each flag that may change between epochs applies on resume: the run's first lines say
/// `WHAT OLD → NEW from epoch 3`, the checkpoint records the new value, and the weights differ
/// from those of the same resume without the flag (so the flag reached the training). Passing
/// the saved value changes nothing, to the bit.
#[test]
fn flags_that_may_change_apply_on_resume_and_the_first_lines_say_so() {
    let dir = scratch("resume-apply");
    let from = two_epochs(&dir);
    let resume = |name: &str, extra: &[&str]| {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::copy(&from, &path).unwrap();
        let history = dir.join(format!("{name}.csv"));
        let (p, h) = (path.to_str().unwrap(), history.to_str().unwrap());
        let mut args = vec![
            "train",
            "--data",
            "spirals:40",
            "--resume",
            p,
            "--epochs",
            "3",
            "--save",
            p,
            "--history",
            h,
        ];
        args.extend(extra);
        (ok(&args), path, history)
    };
    let (plain, plain_path, plain_history) = resume("plain", &[]);
    let changes = |text: &str| text.lines().filter(|l| l.ends_with("from epoch 3")).count();
    assert_eq!(changes(&plain), 0, "{plain}");
    assert_eq!(lrs(&plain_history), [0.05]);
    // The saved values, given again: accepted, no change, the same bits.
    let saved = [
        "--optimizer",
        "momentum",
        "--lr",
        "0.05",
        "--momentum",
        "0.9",
        "--weight-decay",
        "0",
        "--batch-size",
        "16",
        "--patience",
        "5",
        "--seed",
        "0",
        "--valid-fraction",
        "0.1",
        "--schedule",
        "constant",
        "--hidden",
        "64,32",
        "--activation",
        "relu",
        "--loss",
        "cross-entropy",
        "--dtype",
        "f32",
    ];
    let (same, same_path, _) = resume("same", &saved);
    assert_eq!(changes(&same), 0, "{same}");
    assert_eq!(
        std::fs::read(&same_path).unwrap(),
        std::fs::read(&plain_path).unwrap()
    );
    // (flags, the line that says so, the saved field and its new value)
    let cases: [(&[&str], &str, &str, serde_json::Value); 7] = [
        (
            &["--lr", "0.5"],
            "lr 0.05 → 0.5 from epoch 3",
            "/lr",
            0.5.into(),
        ),
        (
            &["--schedule", "step:1:0.5"],
            "schedule constant → step:1:0.5 from epoch 3",
            "/schedule/name",
            "step".into(),
        ),
        (
            &["--momentum", "0.5"],
            "momentum 0.9 → 0.5 from epoch 3",
            "/optimizer/momentum",
            0.5.into(),
        ),
        (
            &["--nesterov"],
            "nesterov false → true from epoch 3",
            "/optimizer/nesterov",
            true.into(),
        ),
        (
            &["--weight-decay", "0.1"],
            "weight decay 0 → 0.1 from epoch 3",
            "/optimizer/weight_decay",
            0.1.into(),
        ),
        (
            &["--batch-size", "8"],
            "batch size 16 → 8 from epoch 3",
            "/batch_size",
            8.into(),
        ),
        (
            &["--patience", "9"],
            "patience 5 → 9 from epoch 3",
            "/patience",
            9.into(),
        ),
    ];
    for (i, (flags, line, field, value)) in cases.into_iter().enumerate() {
        let (text, path, history) = resume(&format!("case{i}"), flags);
        assert!(text.lines().any(|l| l == line), "{flags:?}: {text}");
        let fit = &description(&path)["training"]["fit"];
        assert_eq!(fit.pointer(field), Some(&value), "{flags:?}: {fit}");
        // Patience only watches; every other flag changes the steps taken.
        if flags[0] != "--patience" {
            assert_ne!(
                tensor_bytes(&path),
                tensor_bytes(&plain_path),
                "{flags:?} changed nothing"
            );
        }
        // The learning rate of epoch 3: 0.5 asked; step:1:0.5 halves 0.05 twice by epoch 3 (index 2).
        let expected = match flags[0] {
            "--lr" => 0.5,
            "--schedule" => 0.05 * 0.25,
            _ => 0.05,
        };
        assert_eq!(lrs(&history), [expected], "{flags:?}");
    }
}

/// A GPT's flags on `--resume`: `--dropout` other than the saved rate is refused in one line
/// naming it (the saved rate itself is accepted and changes nothing); `--beta2`, `--grad-clip`,
/// `--eval-every` and `--steps` apply from the next step: the run's first lines say `WHAT OLD →
/// NEW from step 21`, the checkpoint records the new value, and each reached the training (the
/// weights differ from those of the same resume without it) or, for `--eval-every`, the
/// evaluations alone (the steps scored differ, the weights do not).
#[test]
fn a_gpts_flags_on_resume_apply_from_the_next_step_or_are_refused_naming_the_saved_value() {
    let dir = scratch("resume-gpt");
    let text = dir.join("t.txt");
    std::fs::write(&text, "abcd efgh.\nhgfe dcba.\n".repeat(200)).unwrap();
    let data = format!("text:{}", text.display());
    // 20 steps of gpt:1:2:16 with dropout 0.1, scored every 10; β₂ and clipping the defaults (0.99, 1).
    let base = dir.join("base.safetensors");
    ok(&[
        "train",
        "--data",
        &data,
        "--layers",
        "gpt:1:2:16",
        "--block-size",
        "16",
        "--batch-size",
        "8",
        "--steps",
        "20",
        "--eval-every",
        "10",
        "--dropout",
        "0.1",
        "--save",
        base.to_str().unwrap(),
    ]);
    let before = std::fs::read(&base).unwrap();
    // Resumes a copy of the base to `--steps 30` (or as `extra` says): its output and file.
    let resume = |name: &str, extra: &[&str]| {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::copy(&base, &path).unwrap();
        let p = path.to_str().unwrap();
        let mut args = vec!["train", "--resume", p, "--data", &data, "--save", p];
        if !extra.contains(&"--steps") {
            args.extend(["--steps", "30"]);
        }
        args.extend(extra);
        (ok(&args), path)
    };
    // The steps a run scored: the numbers of its `step N/M` lines.
    let scored = |text: &str| -> Vec<usize> {
        text.lines()
            .filter_map(|l| l.strip_prefix("step"))
            .map(|l| l.split('/').next().unwrap().trim().parse().unwrap())
            .collect()
    };
    let (plain, plain_path) = resume("plain", &[]);
    assert_eq!(scored(&plain), [30], "{plain}");
    for rate in ["0", "0.2"] {
        let p = base.to_str().unwrap();
        let err = refused(&[
            "train",
            "--resume",
            p,
            "--data",
            &data,
            "--steps",
            "30",
            "--dropout",
            rate,
        ]);
        assert!(
            err.contains(&format!("--dropout {rate}"))
                && err.contains("trains with dropout 0.1")
                && err.contains("leave out --resume"),
            "{err}"
        );
    }
    assert!(
        std::fs::read(&base).unwrap() == before,
        "a refusal touched the checkpoint"
    );
    let (same, same_path) = resume("same", &["--dropout", "0.1"]);
    assert!(!same.contains("dropout"), "{same}");
    assert!(std::fs::read(&same_path).unwrap() == std::fs::read(&plain_path).unwrap());
    // (flags, the line that says so, the saved field and its new value)
    let cases: [(&[&str], &str, &str, serde_json::Value); 4] = [
        (
            &["--beta2", "0.9"],
            "beta2 0.99 → 0.9 from step 21",
            "/fit/optimizer/beta2",
            0.9.into(),
        ),
        (
            // Far below the gradients' norm, so that it clips every step.
            &["--grad-clip", "0.01"],
            "grad clip 1 → 0.01 from step 21",
            "/fit/grad_clip",
            0.01.into(),
        ),
        (
            &["--eval-every", "7"],
            "eval every 10 → 7 from step 21",
            "/fit/eval_every",
            7.into(),
        ),
        (
            // The warm-up cosine spans the run's steps: 40 now, from the 30 the others take.
            &["--steps", "40"],
            "warmup-cosine schedule's length 20 steps → 40 steps from step 21",
            "/steps",
            40.into(),
        ),
    ];
    for (i, (flags, line, field, value)) in cases.into_iter().enumerate() {
        let (text, path) = resume(&format!("case{i}"), flags);
        assert!(text.lines().any(|l| l == line), "{flags:?}: {text}");
        let training = &description(&path)["training"];
        assert_eq!(
            training.pointer(field),
            Some(&value),
            "{flags:?}: {training}"
        );
        match flags[0] {
            // Evaluation draws no dropout mask and takes no step: only the steps scored change.
            "--eval-every" => {
                assert_eq!(scored(&text), [21, 28, 30], "{text}");
                assert!(tensor_bytes(&path) == tensor_bytes(&plain_path));
            }
            _ => {
                assert_ne!(
                    tensor_bytes(&path),
                    tensor_bytes(&plain_path),
                    "{flags:?} changed nothing"
                );
            }
        }
        if flags[0] == "--steps" {
            assert!(text.contains("steps 21..40"), "{text}");
            assert_eq!(training["fit"]["schedule"]["steps"], 40, "{training}");
        }
    }
}

/// A cosine schedule asked for on resume runs over the run's --epochs from its first epoch:
/// epoch e (from 0) of 4 at base rate 0.05 trains at 0.05·(1 + cos(π·e/4))/2, computed here by
/// hand: epochs 3 and 4 at 0.025 and 0.05·(1 − √½)/2. A cosine with no length never reaches the
/// training loop: the library refuses it.
#[test]
fn a_cosine_schedule_asked_on_resume_follows_the_runs_length_and_one_without_a_length_is_refused() {
    let dir = scratch("resume-cosine");
    let from = two_epochs(&dir);
    let history = dir.join("h.csv");
    let text = ok(&[
        "train",
        "--data",
        "spirals:40",
        "--resume",
        &from,
        "--epochs",
        "4",
        "--schedule",
        "cosine",
        "--history",
        history.to_str().unwrap(),
    ]);
    assert!(
        text.contains("schedule constant → cosine from epoch 3"),
        "{text}"
    );
    let got = lrs(&history);
    let expected = [0.025, 0.05 * (1.0 - std::f64::consts::FRAC_1_SQRT_2) / 2.0];
    assert_eq!(got.len(), 2);
    for (g, e) in got.iter().zip(expected) {
        // The history writes the rate with 6 significant digits or more.
        assert!((g - e).abs() <= 1e-6 * e, "{got:?} against {expected:?}");
    }

    use simple_nn::candle::{DType, Device};
    use simple_nn::data::{Part, Source, TargetKind};
    use simple_nn::nn::{self, FitConfig, Mlp, MlpConfig, Schedule};
    let data = Source::Spirals(20)
        .load(Part::Train, TargetKind::Classes)
        .unwrap();
    let (train, valid) = data.split(0.1, 0).unwrap();
    let config = MlpConfig {
        sizes: vec![2, 8, 2],
        ..Default::default()
    };
    let (mlp, varmap) = Mlp::seeded(config, 0, DType::F32, &Device::Cpu).unwrap();
    let cosine: Schedule = "cosine".parse().unwrap();
    let settings = |schedule| FitConfig {
        schedule,
        epochs: 2,
        ..Default::default()
    };
    let err = nn::fit(&mlp, &varmap, &train, &valid, settings(cosine), |_| Ok(())).unwrap_err();
    let message = simple_nn::error::message(&err);
    assert!(
        message.contains("cosine schedule has no length"),
        "{message}"
    );
    let epochs = nn::fit(
        &mlp,
        &varmap,
        &train,
        &valid,
        settings(cosine.with_length(2, 0)),
        |_| Ok(()),
    )
    .unwrap();
    assert_eq!(epochs[0].lr, 0.001);
}

/// What would make another model, another data split or another optimizer is refused on resume,
/// in one line that names the saved value and says how to go on; the checkpoint is left as it was.
#[test]
fn flags_that_would_change_the_model_or_its_split_are_refused_naming_the_saved_value() {
    let dir = scratch("resume-refuse");
    let from = two_epochs(&dir);
    let before = std::fs::read(&from).unwrap();
    let cases: [(&[&str], &[&str]); 13] = [
        (
            &["--seed", "1"],
            &[
                "--seed 1",
                "trained with seed 0",
                "drop it",
                "leave out --resume",
            ],
        ),
        (
            &["--valid-fraction", "0.2"],
            &["--valid-fraction 0.2", "holds out 0.1"],
        ),
        (
            &["--optimizer", "adamw"],
            &["--optimizer adamw", "trains with momentum"],
        ),
        (
            &["--normalize"],
            &["--normalize", "not standardised", "drop it"],
        ),
        (&["--no-bias"], &["--no-bias", "has biases"]),
        (&["--hidden", "8"], &["not --hidden [8]"]),
        (
            &["--layers", "dense:8,relu"],
            &["not --layers dense:8,relu"],
        ),
        (&["--activation", "tanh"], &["relu", "drop --activation"]),
        (
            &["--loss", "mse"],
            &["cross-entropy", "drop --activation/--loss"],
        ),
        (
            &["--image-shape", "1,1,2"],
            &["--image-shape [1, 1, 2]", "flat rows of 2 features"],
        ),
        (
            &["--target", "y"],
            &["--target y names a table's column", "not a table"],
        ),
        (&["--delimiter", ";"], &["--delimiter", "is not one"]),
        (&["--drop-incomplete"], &["--drop-incomplete", "is not one"]),
    ];
    for (flags, parts) in cases {
        let mut args = vec![
            "train",
            "--data",
            "spirals:40",
            "--resume",
            &from,
            "--epochs",
            "3",
            "--save",
            &from,
        ];
        args.extend(flags);
        let message = refused(&args);
        for part in parts {
            assert!(message.contains(part), "{flags:?}: {message}");
        }
        assert!(
            std::fs::read(&from).unwrap() == before,
            "{flags:?} touched the checkpoint"
        );
    }
    // --epochs: left out, the saved run's own; asked, above the epochs done.
    let message = refused(&["train", "--data", "spirals:40", "--resume", &from]);
    assert!(message.contains("trained all 2 epochs"), "{message}");
    let args = ["train", "--data", "spirals:40", "--resume", &from];
    let message = refused(&[&args[..], &["--epochs", "2"]].concat());
    assert!(message.contains("already trained 2 epochs"), "{message}");
}

/// A table's target, and its image shape, are the model's: on resume the same names are taken,
/// others refused naming the saved ones.
#[test]
fn a_tables_target_and_image_shape_are_refused_when_they_differ_from_the_saved_ones() {
    let dir = scratch("resume-table");
    let table = dir.join("t.csv");
    let mut text = String::from("a,b,c,d,kind\n");
    for i in 0..24 {
        let x = i as f64 / 24.0;
        text += &format!("{x},{},{},{},{}\n", 1.0 - x, x * x, 0.5, i % 2);
    }
    std::fs::write(&table, text).unwrap();
    let data = format!("csv:{}", table.display());
    let model = dir.join("m.safetensors");
    let save = model.to_str().unwrap();
    let shape = ["--image-shape", "1,2,2", "--layers", "flatten,dense:4,relu"];
    let base = ["train", "--data", &data, "--save", save];
    ok(&[&base[..], &["--target", "kind", "--epochs", "1"], &shape].concat());
    let resume = [&base[..], &["--resume", save, "--epochs", "2"]].concat();
    let message = refused(&[&resume[..], &["--target", "a"]].concat());
    assert!(
        message.contains("--target a") && message.contains("predicts column 'kind'"),
        "{message}"
    );
    let message = refused(&[&resume[..], &["--image-shape", "1,1,4"]].concat());
    assert!(
        message.contains("--image-shape [1, 1, 4]") && message.contains("[1, 2, 2]"),
        "{message}"
    );
    ok(&[&resume[..], &["--target", "kind", "--image-shape", "1,2,2"]].concat());
    assert_eq!(description(&model)["training"]["epochs"], 2);
}

/// The optimizer's own settings are refused where the optimizer has no use for them, on a new
/// run as on a resumed one, rather than dropped; so is --activation beside --layers.
#[test]
fn settings_the_optimizer_or_the_layers_do_not_take_are_refused() {
    let dir = scratch("resume-unused");
    let from = two_epochs(&dir);
    let new = ["train", "--data", "spirals:10", "--epochs", "1"];
    for (flags, part) in [
        (&["--momentum", "0.5"][..], "not of adamw"),
        (&["--nesterov"][..], "not of adamw"),
        (&["--optimizer", "sgd", "--nesterov"][..], "not of sgd"),
        (
            &["--optimizer", "sgd", "--weight-decay", "0.1"][..],
            "plain sgd has no weight decay",
        ),
    ] {
        let message = refused(&[&new[..], flags].concat());
        assert!(message.contains(part), "{flags:?}: {message}");
    }
    let out = run(&[
        &new[..],
        &["--layers", "dense:4,relu", "--activation", "tanh"],
    ]
    .concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("--activation") && stderr.contains("--layers"),
        "{stderr}"
    );
    // The momentum model takes them; --kernels, a run setting, applies and is not saved.
    ok(&[
        "train",
        "--data",
        "spirals:40",
        "--resume",
        &from,
        "--epochs",
        "3",
        "--nesterov",
        "--kernels",
        "stock",
    ]);
}

/// A model trained in f64 resumes in f64 unless told otherwise (it went on in f32, silently,
/// before), and a dtype asked on resume is said to convert the weights.
#[test]
fn a_resumed_run_keeps_the_saved_dtype_unless_asked_and_says_when_it_converts() {
    let dir = scratch("resume-dtype");
    let model = dir.join("m.safetensors");
    let save = model.to_str().unwrap();
    let base = ["train", "--data", "spirals:20", "--save", save];
    ok(&[&base[..], &["--epochs", "1", "--dtype", "f64"]].concat());
    let text = ok(&[&base[..], &["--resume", save, "--epochs", "2"]].concat());
    assert!(
        text.lines().next().unwrap().contains("f64 on cpu"),
        "{text}"
    );
    assert!(!text.contains("converted"), "{text}");
    let text = ok(&[
        &base[..],
        &["--resume", save, "--epochs", "3", "--dtype", "f32"],
    ]
    .concat());
    assert!(
        text.contains("f64 → f32: the saved weights are converted"),
        "{text}"
    );
}

/// Ctrl-C in the middle of an epoch prints a command that, run as printed, goes on in the same
/// file and ends with the bytes of a run that was never stopped. From that checkpoint, a resume
/// without --epochs goes on to the stopped run's own end, and a batch size asked mid-epoch waits
/// for the epoch's end: that epoch ends with the bits it would have had without it.
#[cfg(unix)]
#[test]
fn ctrl_c_prints_a_command_that_runs_as_printed_and_loses_nothing() {
    use std::io::BufRead;
    let dir = scratch("resume-ctrl-c");
    let flags = [
        "--data",
        "spirals:1500",
        "--epochs",
        "4",
        "--batch-size",
        "2",
    ];
    let whole = dir.join("whole.safetensors");
    ok(&[&["train", "--save", whole.to_str().unwrap()][..], &flags].concat());
    let part = dir.join("part.safetensors");
    let p = part.to_str().unwrap();
    // Stopped after the first epoch line, until it stops in the middle of an epoch.
    let (mut last, mut stopped_at) = (String::new(), (0, 0));
    for _ in 0..10 {
        let mut child = Command::new(common::example("nn"))
            .args([&["train", "--save", p][..], &flags].concat())
            .stdout(std::process::Stdio::piped())
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
        // SAFETY: kill only sends a signal to the child's process id.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        lines.for_each(|l| text += &(l.unwrap() + "\n"));
        assert_eq!(child.wait().unwrap().code(), Some(130), "{text}");
        last = text.lines().last().unwrap().to_string();
        let training = &description(&part)["training"];
        stopped_at = (
            training["epochs"].as_u64().unwrap(),
            training["batch"].as_u64().unwrap(),
        );
        if stopped_at.1 > 0 {
            break;
        }
    }
    assert!(stopped_at.1 > 0, "never stopped mid-epoch: {last}");
    let copy = |name: &str| {
        let path = dir.join(format!("{name}.safetensors"));
        std::fs::copy(&part, &path).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (to_the_end, sized, kept) = (copy("end"), copy("sized"), copy("kept"));
    // The printed command, run as printed (the binary in place of `cargo run`).
    let printed = last.split('`').nth(1).unwrap_or_default();
    let prefix = "cargo run --release --example nn -- ";
    assert!(printed.starts_with(prefix), "{last}");
    let expected = format!("train --resume {p} --data spirals:1500 --epochs 4 --save {p}");
    assert_eq!(&printed[prefix.len()..], expected, "{last}");
    let args: Vec<&str> = printed[prefix.len()..].split(' ').collect();
    ok(&args);
    assert!(
        std::fs::read(&part).unwrap() == std::fs::read(&whole).unwrap(),
        "resumed as printed ({last}): not the uninterrupted run's file"
    );
    // Without --epochs: to the stopped run's 4.
    let e = &to_the_end;
    ok(&[
        "train",
        "--resume",
        e,
        "--data",
        "spirals:1500",
        "--save",
        e,
    ]);
    assert_eq!(description(Path::new(e))["training"]["epochs"], 4);
    // --batch-size in the middle of epoch E: E ends in the saved batches of 2, as without it.
    let epoch = (stopped_at.0 + 1).to_string();
    let line = format!("batch size 2 → 8 from epoch {}", stopped_at.0 + 2);
    let resume = |path: &str, extra: &[&str]| {
        let args = ["train", "--data", "spirals:1500", "--epochs", &epoch];
        ok(&[&args[..], &["--resume", path, "--save", path], extra].concat())
    };
    let text = resume(&sized, &["--batch-size", "8"]);
    assert!(text.lines().any(|l| l == line), "{text}");
    resume(&kept, &[]);
    let (sized, kept) = (Path::new(&sized), Path::new(&kept));
    assert!(tensor_bytes(sized) == tensor_bytes(kept));
    assert_eq!(description(sized)["training"]["fit"]["batch_size"], 8);
    assert_eq!(description(kept)["training"]["fit"]["batch_size"], 2);
}

/// A checkpoint read back and written again is the same file, to the byte, whatever floats its
/// description holds: serde_json's default parser may land one ulp off a float it wrote (its
/// `float_roundtrip` feature makes the parse exact), and an interrupted-then-resumed run's file
/// then differed from the uninterrupted one's in its best validation loss.
#[test]
fn a_checkpoint_read_back_and_written_again_is_the_same_file() {
    use simple_nn::candle::{DType, Device};
    use simple_nn::io;
    use simple_nn::kernels::Kernels;
    let dir = scratch("resume-floats");
    let model = dir.join("m.safetensors");
    ok(&[
        "train",
        "--data",
        "spirals:10",
        "--epochs",
        "1",
        "--save",
        model.to_str().unwrap(),
    ]);
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    let load = |path: &Path| io::load_trainable(path, Kernels::Fused, DType::F32, &Device::Cpu);
    let mut rng = simple_nn::rng::SplitMix64::new(7);
    for _ in 0..100 {
        let (mut spec, _, varmap, optimizer) = load(&model).unwrap();
        let training = spec.training.as_mut().unwrap();
        // Losses and rates as a run meets them: 17 significant digits, over many magnitudes.
        let loss = rng.next_f64() * 10f64.powi((rng.next_u64() % 12) as i32 - 8);
        training.best = Some((1, loss));
        training.fit.lr = rng.next_f64() * 0.1;
        io::save_checkpoint(&a, &spec, &varmap, &optimizer).unwrap();
        let (spec, _, varmap, optimizer) = load(&a).unwrap();
        assert_eq!(spec.training.as_ref().unwrap().best, Some((1, loss)));
        io::save_checkpoint(&b, &spec, &varmap, &optimizer).unwrap();
        assert!(
            std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(),
            "best loss {loss:e}: the file written again differs"
        );
    }
}
