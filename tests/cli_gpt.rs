//! A GPT from the command line: `nn train --data text:PATH` by steps, its checkpoints that resume
//! bit for bit (windows and dropout masks included), Ctrl-C that saves, `nn generate`, `nn eval`
//! on a whole text, `nn bench` on a text, `nn export` under nanoGPT's names, the text's bad input,
//! and the flags of a network refused for a GPT (and the GPT's for a network). Also runs by
//! `--steps` of a network of layers, with warm-up cosine and clipping.
//!
//! Every test writes its own small text; none reads a real corpus.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use common::nn::{json, ok, refused, run};
use common::scratch;
use common::text::write_text;

/// The flags of a small GPT run (1 layer of 2 heads of 16 features, windows of 16, batches of
/// 8), `steps` steps scored every `every`.
fn small(data: &str, steps: usize, every: usize) -> Vec<String> {
    [
        "train",
        "--data",
        data,
        "--layers",
        "gpt:1:2:16",
        "--block-size",
        "16",
        "--batch-size",
        "8",
        "--steps",
        &steps.to_string(),
        "--eval-every",
        &every.to_string(),
        "--schedule",
        "warmup-cosine:10:1e-4",
        "--lr",
        "3e-3",
    ]
    .map(str::to_string)
    .to_vec()
}

fn strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// A GPT trains on a text: one line per evaluation (`step  60/120 …` with train and validation
/// loss), the validation loss well under that of guessing among the 11 characters (ln 11 =
/// 2.398 nats), the metrics nanoGPT's users look for, and the model's file saved.
#[test]
fn a_gpt_trains_on_a_text_and_its_validation_loss_falls() {
    let dir = scratch("gpt-trains");
    let (data, _) = write_text(&dir, "t.txt", 6000);
    let metrics = dir.join("m.json");
    let model = dir.join("g.safetensors");
    let mut args = small(&data, 120, 60);
    args.extend(
        [
            "--metrics-json",
            metrics.to_str().unwrap(),
            "--save",
            model.to_str().unwrap(),
        ]
        .map(str::to_string),
    );
    let out = ok(&strs(&args));
    assert!(
        out.contains("gpt:1:2:16 over 11 characters, block 16"),
        "{out}"
    );
    assert!(
        out.contains("step  60/120") && out.contains("step 120/120"),
        "{out}"
    );
    assert!(out.contains("valid loss"), "{out}");
    let m = json(&metrics);
    for key in [
        "valid_loss",
        "train_loss",
        "steps",
        "tokens_per_sec",
        "seconds",
    ] {
        assert!(m.get(key).is_some(), "{key} missing from {m}");
    }
    assert_eq!(m["steps"], 120);
    let loss = m["valid_loss"].as_f64().unwrap();
    assert!(
        loss < 0.6 * 11f64.ln(),
        "validation loss {loss} after 120 steps"
    );
    // 120 steps of 8 windows of 16 characters were trained on.
    let tokens = m["tokens_per_sec"].as_f64().unwrap() * m["seconds"].as_f64().unwrap();
    assert!(tokens >= 120.0 * 8.0 * 16.0, "{m}");
    assert!(model.exists());
}

/// N steps equal N/2 steps and then N/2 more from the checkpoint, byte for byte in the whole
/// file, with dropout on (its masks are replayed from their count) and windows drawn from the
/// seed and the step; the second half changed the weights. At a constant rate: a decaying
/// schedule spans its run's steps, so a run of N/2 decays faster than the first half of a run
/// of N (the interrupted run below resumes mid-decay).
#[test]
fn steps_of_a_gpt_equal_half_then_half_bit_for_bit() {
    let dir = scratch("gpt-halves");
    let (data, _) = write_text(&dir, "t.txt", 4000);
    let (whole, part) = (dir.join("whole.safetensors"), dir.join("part.safetensors"));
    let with = |steps: usize, save: &Path, extra: &[&str]| {
        let mut args = small(&data, steps, 10);
        let schedule = args.iter().position(|a| a == "--schedule").unwrap();
        args[schedule + 1] = "constant".to_string();
        args.extend(["--dropout", "0.1", "--save", save.to_str().unwrap()].map(str::to_string));
        args.extend(extra.iter().map(|s| s.to_string()));
        ok(&strs(&args))
    };
    with(40, &whole, &[]);
    with(20, &part, &[]);
    let halfway = std::fs::read(&part).unwrap();
    let resumed = ok(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--data",
        &data,
        "--steps",
        "40",
        "--save",
        part.to_str().unwrap(),
    ]);
    assert!(resumed.contains("steps 21..40"), "{resumed}");
    let (a, b) = (
        std::fs::read(&whole).unwrap(),
        std::fs::read(&part).unwrap(),
    );
    assert!(a == b, "20 + 20 steps wrote another file than 40");
    assert!(halfway != b, "the second half changed nothing");
}

/// Ctrl-C in a run by steps: the step under way finishes, the checkpoint is written, one line
/// says where and the command that goes on, the exit status is 130; that command, run as
/// printed, ends with the file of a run of the same `--steps` that was never stopped. The stop
/// must land after the warm-up, in the cosine's decay, whose rate at each step depends on the
/// run's length: warm-up 10 means steps 1 to 10 warm up and step 11 trains at the base rate
/// whatever the length, so a stop after step 12 or later proves that the resumed run goes on
/// along the same curve. The signal is sent just after a line past the warm-up is printed, and
/// again after a later line should a stop still land in the warm-up.
#[cfg(unix)]
#[test]
fn an_interrupted_gpt_run_saves_and_its_printed_command_finishes_it_to_the_same_file() {
    let dir = scratch("gpt-interrupt");
    let (data, _) = write_text(&dir, "t.txt", 4000);
    let (whole, part) = (dir.join("whole.safetensors"), dir.join("part.safetensors"));
    // 300 steps, scored every 5, warm-up 10 (`small`'s warmup-cosine:10:1e-4): the rest of the
    // run takes about half a second, time enough for the signal to land before its end.
    let (steps, warmup) = (300, 10);
    let mut args = small(&data, steps, 5);
    args.extend(["--save".to_string(), whole.to_str().unwrap().to_string()]);
    ok(&strs(&args));
    let mut stopped = small(&data, steps, 5);
    stopped.extend(["--save".to_string(), part.to_str().unwrap().to_string()]);
    // Runs `stopped` and sends SIGINT once the line of a step past `after` is printed (the
    // line comes after that step's checkpoint is written): the lines after the signal.
    let interrupt = |after: usize| {
        let mut child = Command::new(common::example("nn"))
            .args(strs(&stopped))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        for line in lines.by_ref() {
            let line = line.unwrap();
            let step = line
                .strip_prefix("step")
                .and_then(|rest| rest.split('/').next())
                .and_then(|n| n.trim().parse::<usize>().ok());
            if step.is_some_and(|step| step > after) {
                break;
            }
        }
        // A moment later (a few steps' time), so that the stop tends to land between two
        // evaluations rather than right after one.
        std::thread::sleep(std::time::Duration::from_millis(2));
        // SAFETY: kill only sends a signal to the child's process id.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
        let rest: Vec<String> = lines.map(Result::unwrap).collect();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{rest:?}");
        rest.into_iter()
            .find(|l| l.starts_with("stopped after step"))
            .unwrap_or_else(|| panic!("no stop line after step {after}"))
    };
    let mut tries = Vec::new();
    let (done, line) = loop {
        let line = interrupt(warmup + 5 * tries.len());
        let done: usize = line["stopped after step ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(done < steps, "the run ended before the signal: {line}");
        if done > warmup + 1 {
            break (done, line);
        }
        tries.push(line);
        assert!(
            tries.len() < 5,
            "every stop landed in the warm-up: {tries:?}"
        );
    };
    let command = line.split('`').nth(1).unwrap();
    assert!(
        command.contains(&format!("--steps {steps}")) && command.contains("--save"),
        "{command}"
    );
    // The printed command, word for word from `train` on (the words before it run the example).
    let words: Vec<&str> = command.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "train").unwrap();
    let resumed = ok(&words[at..]);
    assert!(
        resumed.contains(&format!("steps {}..{steps}", done + 1)),
        "{resumed}"
    );
    // Nothing changed on the way: no `OLD → NEW` line.
    assert!(!resumed.contains('→'), "{resumed}");
    let (a, b) = (
        std::fs::read(&whole).unwrap(),
        std::fs::read(&part).unwrap(),
    );
    assert!(
        a == b,
        "stopped after step {done} and resumed: another file"
    );
}

/// `nn generate` writes the prompt and exactly the characters asked for, all of the model's
/// vocabulary; the same seed draws the same text, another seed another; top-k 1 draws the most
/// likely character each time, whatever the seed; a prompt character the model never saw is
/// refused naming the prompt, its position and the character.
#[test]
fn generate_draws_the_same_text_from_the_same_seed() {
    let dir = scratch("gpt-generate");
    let (data, _) = write_text(&dir, "t.txt", 6000);
    let model = dir.join("g.safetensors");
    let mut args = small(&data, 120, 120);
    args.extend(["--save".to_string(), model.to_str().unwrap().to_string()]);
    ok(&strs(&args));
    let m = model.to_str().unwrap();
    let draw = |seed: &str, extra: &[&str]| {
        let mut args = vec![
            "generate", "--model", m, "--prompt", "abcd ", "--tokens", "200", "--seed", seed,
        ];
        args.extend(extra);
        ok(&args).trim_end_matches('\n').to_string()
    };
    let a = draw("1", &[]);
    assert!(a.starts_with("abcd "), "{a}");
    assert_eq!(a.chars().count(), 5 + 200, "{a:?}");
    assert!(a.chars().all(|c| "abcdefgh .\n".contains(c)), "{a:?}");
    assert_eq!(draw("1", &[]), a);
    assert_ne!(draw("2", &[]), a);
    assert_eq!(draw("1", &["--top-k", "1"]), draw("7", &["--top-k", "1"]));
    let err = refused(&["generate", "--model", m, "--prompt", "ab\nxy"]);
    assert!(
        err.contains("the prompt") && err.contains("'x'") && err.contains("line 2"),
        "{err}"
    );
    let out = run(&["generate", "--model", m, "--temperature", "0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("'0' is not a positive"),
        "{err}"
    );
}

/// `nn eval` of a GPT on a text scores every whole window of its block size in the file: for a
/// file of n characters, (n − 1) / 16 windows; a character the model never saw is refused naming
/// the file, its line and column and the character; `eval` of a network on a text says what a
/// text needs.
#[test]
fn eval_scores_a_whole_text_in_windows_of_the_block_size() {
    let dir = scratch("gpt-eval");
    let (data, _) = write_text(&dir, "t.txt", 3000);
    let model = dir.join("g.safetensors");
    let mut args = small(&data, 30, 30);
    args.extend(["--save".to_string(), model.to_str().unwrap().to_string()]);
    ok(&strs(&args));
    let (other, _) = write_text(&dir, "other.txt", 1000);
    let out = ok(&["eval", "--model", model.to_str().unwrap(), "--data", &other]);
    assert!(out.contains(&format!("{} windows", 999 / 16)), "{out}");
    assert!(out.contains("nats per character"), "{out}");
    let unseen = dir.join("unseen.txt");
    std::fs::write(&unseen, "abcd efgh.\nabcd eXgh.\n").unwrap();
    let err = refused(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &format!("text:{}", unseen.display()),
    ]);
    assert!(
        err.contains("unseen.txt") && err.contains("'X'") && err.contains("line 2"),
        "{err}"
    );
}

/// A text that cannot train says so in one line: empty, shorter than a window, not UTF-8.
#[test]
fn bad_texts_are_refused_in_one_line() {
    let dir = scratch("gpt-bad");
    for (name, bytes, says) in [
        ("empty.txt", b"".to_vec(), "empty"),
        ("short.txt", b"abcdefgh".to_vec(), "window"),
        (
            "latin1.txt",
            b"caf\xe9 au lait, long enough to hold a window or two of text".to_vec(),
            "UTF-8",
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let data = format!("text:{}", path.display());
        let err = refused(&strs(&small(&data, 5, 5)));
        assert!(err.contains(name) && err.contains(says), "{name}: {err}");
    }
}

/// The flags of a network of layers are refused for a GPT, and a GPT's for a network, each in
/// one line that says what to do; so is a resume that would change a GPT's block size.
#[test]
fn flags_of_the_other_kind_of_model_are_refused() {
    let dir = scratch("gpt-flags");
    let (data, _) = write_text(&dir, "t.txt", 3000);
    let with = |extra: &[&str]| {
        let mut args = small(&data, 5, 5);
        args.extend(extra.iter().map(|s| s.to_string()));
        refused(&strs(&args))
    };
    assert!(with(&["--epochs", "3"]).contains("trains by steps"));
    assert!(with(&["--normalize"]).contains("--normalize"));
    assert!(with(&["--loss", "mse"]).contains("--loss"));
    assert!(with(&["--optimizer", "sgd"]).contains("AdamW"));
    let err = refused(&["train", "--data", "spirals:20", "--layers", "gpt:1:1:8"]);
    assert!(err.contains("text:PATH"), "{err}");
    for flag in [
        ["--block-size", "16"],
        ["--dropout", "0.1"],
        ["--beta2", "0.9"],
    ] {
        let err = refused(&["train", "--data", "spirals:20", flag[0], flag[1]]);
        assert!(err.contains(flag[0]) && err.contains("GPT"), "{err}");
    }
    let model = dir.join("g.safetensors");
    let mut args = small(&data, 10, 10);
    args.extend(["--save".to_string(), model.to_str().unwrap().to_string()]);
    ok(&strs(&args));
    let m = model.to_str().unwrap();
    let err = refused(&[
        "train",
        "--resume",
        m,
        "--data",
        &data,
        "--steps",
        "20",
        "--block-size",
        "32",
    ]);
    assert!(
        err.contains("--block-size 32") && err.contains("16 characters"),
        "{err}"
    );
    let err = refused(&[
        "train",
        "--resume",
        m,
        "--data",
        "spirals:20",
        "--steps",
        "20",
    ]);
    assert!(err.contains("text"), "{err}");
}

/// `nn bench --data text:PATH` times a GPT's full training steps on the text's windows and
/// writes its tokens per second; a network's flags are refused there.
#[test]
fn bench_times_a_gpt_on_a_text() {
    let dir = scratch("gpt-bench");
    let (data, _) = write_text(&dir, "t.txt", 3000);
    let metrics = dir.join("b.json");
    let out = ok(&[
        "bench",
        "--data",
        &data,
        "--layers",
        "gpt:1:2:16",
        "--block-size",
        "16",
        "--batch-size",
        "4",
        "--steps",
        "3",
        "--metrics-json",
        metrics.to_str().unwrap(),
    ]);
    assert!(
        out.contains("gpt:1:2:16 over 11 characters, block 16, batch 4, 3 steps"),
        "{out}"
    );
    let m = json(&metrics);
    assert!(m["tokens_per_sec"].as_f64().unwrap() > 0.0);
    assert_eq!(m["steps"], 3);
    let err = refused(&["bench", "--data", &data, "--hidden", "8"]);
    assert!(err.contains("--hidden"), "{err}");
}

/// `nn export` of a GPT writes its weights alone under nanoGPT's state-dict names, the tied
/// output layer once as `transformer.wte.weight`, with the vocabulary in the description.
#[test]
fn export_writes_a_gpt_under_nanogpts_names() {
    let dir = scratch("gpt-export");
    let (data, _) = write_text(&dir, "t.txt", 3000);
    let model = dir.join("g.safetensors");
    let mut args = small(&data, 5, 5);
    args.extend(["--save".to_string(), model.to_str().unwrap().to_string()]);
    ok(&strs(&args));
    let weights = dir.join("w.safetensors");
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--output",
        weights.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&weights).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().map(str::to_string).collect();
    names.sort();
    // nanoGPT's names for one block without biases, as its GPT's state_dict() lists them
    // (lm_head.weight is the same tensor as transformer.wte.weight, stored once).
    let expected = [
        "transformer.h.0.attn.c_attn.weight",
        "transformer.h.0.attn.c_proj.weight",
        "transformer.h.0.ln_1.weight",
        "transformer.h.0.ln_2.weight",
        "transformer.h.0.mlp.c_fc.weight",
        "transformer.h.0.mlp.c_proj.weight",
        "transformer.ln_f.weight",
        "transformer.wpe.weight",
        "transformer.wte.weight",
    ];
    assert_eq!(names, expected);
    assert_eq!(
        file.tensor("transformer.wte.weight").unwrap().shape(),
        [11, 16]
    );
    assert_eq!(
        file.tensor("transformer.h.0.attn.c_attn.weight")
            .unwrap()
            .shape(),
        [48, 16]
    );
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let description: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()["simple-nn-weights"]).unwrap();
    assert_eq!(description["gpt"]["vocabulary"], "\n .abcdefgh");
    assert_eq!(description["head"], "logits");
}

/// A network of layers trains by `--steps` too: one line per `--eval-every` steps, the history's
/// first column the step, warm-up cosine and clipping on; and 30 steps equal 15 and 15 more,
/// byte for byte, across epochs' ends (72 training rows in batches of 16: 5 an epoch, the last
/// of 8 rows).
#[test]
fn a_network_trains_by_steps_and_resumes_bit_for_bit() {
    let dir = scratch("net-steps");
    let history = dir.join("h.csv");
    let (whole, part) = (dir.join("whole.safetensors"), dir.join("part.safetensors"));
    let args = |steps: &str, save: &Path| -> Vec<String> {
        [
            "train",
            "--data",
            "spirals:40",
            "--batch-size",
            "16",
            "--steps",
            steps,
            "--eval-every",
            "5",
            "--grad-clip",
            "0.5",
            "--lr",
            "0.01",
            "--save",
            save.to_str().unwrap(),
        ]
        .map(str::to_string)
        .to_vec()
    };
    let mut first = args("30", &whole);
    first.extend(["--schedule", "warmup-cosine:4:1e-4"].map(str::to_string));
    first.extend([
        "--history".to_string(),
        history.to_str().unwrap().to_string(),
    ]);
    let out = ok(&strs(&first));
    assert!(
        out.contains("step   5/30") && out.contains("step  30/30"),
        "{out}"
    );
    assert!(out.contains("clip 0.5"), "{out}");
    let csv = std::fs::read_to_string(&history).unwrap();
    assert!(csv.starts_with("step,lr,"), "{csv}");
    let steps: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(steps, ["5", "10", "15", "20", "25", "30"]);
    // The halves at a constant rate (a decay spans its run's length).
    ok(&strs(&args("30", &whole)));
    ok(&strs(&args("15", &part)));
    ok(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--data",
        "spirals:40",
        "--steps",
        "30",
        "--save",
        part.to_str().unwrap(),
    ]);
    assert!(std::fs::read(&whole).unwrap() == std::fs::read(&part).unwrap());
    let err = refused(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--data",
        "spirals:40",
        "--epochs",
        "9",
    ]);
    assert!(err.contains("trains by steps"), "{err}");
}
