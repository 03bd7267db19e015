//! Data-parallel training over MPI (`--features mpi`): `mpirun -np N nn train …` against the
//! same training in one process, which is the independent reference here. A process that
//! trains alone on the whole global batch computes each step without any of the code that
//! shares batches, weights losses or sums gradients, so two ranks that end on its weights
//! (float64, within 1e-12 after 20 steps) have summed exactly the right gradients.
//!
//! Needs `mpirun` on the PATH (Debian: `openmpi-bin libopenmpi-dev`); it is not skipped
//! when missing, it fails saying so.
#![cfg(feature = "mpi")]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use common::nn::{ok, succeeded};
use common::{max_abs_diff, scratch};

/// One MPI job at a time: two at once spin on the same cores (Open MPI's ranks poll while they
/// wait), and a job's ranks that get no core in time are killed by `mpirun` as it ends the job.
static ONE_JOB: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds [`ONE_JOB`] for the rest of the test (a failed test's poison does not stop the next).
fn one_job() -> std::sync::MutexGuard<'static, ()> {
    ONE_JOB
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `mpirun` with what running it in a container or CI needs: as root (Open MPI refuses root
/// unless told), more ranks than cores (`--oversubscribe`).
fn mpirun(np: usize) -> Command {
    let found = Command::new("mpirun").arg("--version").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "mpirun is missing: install an MPI (Debian: openmpi-bin libopenmpi-dev) to run the mpi tests"
    );
    let mut cmd = Command::new("mpirun");
    cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .args(["--oversubscribe", "-np", &np.to_string()]);
    cmd
}

/// `mpirun -np N nn ARGS`, run to its end; where it succeeded, its first line says it ran on N
/// ranks (an `nn` built without the feature would run N separate trainings).
fn ranks(np: usize, args: &[&str]) -> Output {
    let out = mpirun(np)
        .arg(common::example("nn"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() || stdout.contains(&format!(", {np} ranks")),
        "nn ran as separate processes: build it with `cargo build --release --features mpi --example nn` before these tests\n{stdout}"
    );
    out
}

/// The model description a checkpoint holds.
fn description(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    serde_json::from_str(&meta.metadata().as_ref().unwrap()["simple-nn"]).unwrap()
}

/// Every tensor of a checkpoint (the weights and the optimizer's state), by name.
fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

/// The largest difference between two checkpoints' tensors, which must have the same names.
fn farthest(a: &Path, b: &Path) -> f64 {
    let (a, b) = (tensors(a), tensors(b));
    let mut names: Vec<&String> = a.keys().collect();
    names.sort();
    assert_eq!(names.len(), b.len(), "{names:?} against {:?}", b.keys());
    names
        .iter()
        .map(|n| max_abs_diff(&a[*n], &b[*n]).unwrap())
        .fold(0.0, f64::max)
}

/// Trains `flags` for 20 steps in one process and on two ranks; both checkpoints, which must
/// agree within 1e-12, and the two runs' output.
fn one_and_two(test: &str, flags: &[&str]) -> (PathBuf, PathBuf, String, String) {
    let dir = scratch(test);
    let (one, two) = (dir.join("one.safetensors"), dir.join("two.safetensors"));
    let common = [
        &["train", "--dtype", "f64", "--steps", "20", "--threads", "1"][..],
        flags,
    ]
    .concat();
    let alone = ok(&[&common[..], &["--save", one.to_str().unwrap()]].concat());
    let out = ranks(
        2,
        &[&common[..], &["--save", two.to_str().unwrap()]].concat(),
    );
    let together = succeeded(&out);
    let diff = farthest(&one, &two);
    // Shown with --nocapture: the README's table quotes it.
    eprintln!("{test}: two ranks {diff:e} away from one process");
    assert!(
        diff < 1e-12,
        "two ranks ended {diff} away from one process:\n{together}"
    );
    (one, two, alone, together)
}

#[test]
fn two_ranks_train_an_mlp_as_one_process_does() {
    let _job = one_job();
    // 360 training rows in batches of 33: shares of 16 and 17 rows, and the epoch's last batch
    // (30 rows) within the 20 steps; AdamW, clipped.
    let (_, _, alone, together) = one_and_two(
        "mpi-mlp",
        &[
            "--data",
            "spirals:200",
            "--hidden",
            "16,16",
            "--batch-size",
            "33",
            "--grad-clip",
            "0.5",
            "--eval-every",
            "10",
        ],
    );
    // Rank 0 alone prints: the same lines as one process, but for the device line and the times.
    assert!(together.contains("cpu, 2 ranks"), "{together}");
    let steps = |s: &str| {
        s.lines()
            .filter(|l| l.starts_with("step"))
            .map(|l| l.split_whitespace().take(4).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&alone), steps(&together), "{alone}\n{together}");
    assert_eq!(steps(&together).len(), 2, "{together}");
}

#[test]
fn two_ranks_train_without_validation_rows_as_one_process_does() {
    let _job = one_job();
    one_and_two(
        "mpi-no-valid",
        &[
            "--data",
            "spirals:60",
            "--valid-fraction",
            "0",
            "--hidden",
            "8",
            "--batch-size",
            "7",
            "--optimizer",
            "sgd",
            "--lr",
            "0.1",
        ],
    );
}

#[test]
fn two_ranks_train_a_conv_net_as_one_process_does() {
    let _job = one_job();
    let dir = scratch("mpi-conv-data");
    // 108 training images in batches of 11: shares of 5 and 6, the last batch's of 4 and 5.
    common::write_quadrants(&dir, 120, 8, 8);
    let data = format!("mnist:{}", dir.display());
    one_and_two(
        "mpi-conv",
        &[
            "--data",
            &data,
            "--layers",
            "conv:4:3:1:1,relu,maxpool:2,flatten,dense:8,relu",
            "--batch-size",
            "11",
            "--optimizer",
            "momentum",
            "--lr",
            "0.05",
        ],
    );
}

#[test]
fn two_ranks_train_a_gpt_as_one_process_does() {
    let _job = one_job();
    let dir = scratch("mpi-gpt-data");
    let (text, _) = common::text::write_text(&dir, "t.txt", 3000);
    one_and_two(
        "mpi-gpt",
        &[
            "--data",
            &text,
            "--layers",
            "gpt:2:2:16",
            "--block-size",
            "8",
            "--batch-size",
            "7",
            "--eval-every",
            "20",
        ],
    );
}

#[test]
fn a_run_resumes_on_another_number_of_ranks_as_if_it_had_not_stopped() {
    let _job = one_job();
    let dir = scratch("mpi-resume");
    let p = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let flags = [
        "--data",
        "spirals:100",
        "--hidden",
        "8",
        "--batch-size",
        "9",
        "--dtype",
        "f64",
        "--threads",
        "1",
    ];
    ok(&[
        &["train", "--steps", "20", "--save", &p("one.safetensors")][..],
        &flags,
    ]
    .concat());
    // 8 steps on two ranks, 6 more on three, the last 6 in one process.
    let part = p("part.safetensors");
    let first = [&["train", "--steps", "8", "--save", &part][..], &flags].concat();
    succeeded(&ranks(2, &first));
    let then = |np: usize, steps: &str| {
        let args = [
            "train",
            "--resume",
            &part,
            "--data",
            "spirals:100",
            "--steps",
            steps,
            "--threads",
            "1",
            "--save",
            &part,
        ];
        match np {
            1 => drop(ok(&args)),
            _ => drop(succeeded(&ranks(np, &args))),
        }
    };
    then(3, "14");
    then(1, "20");
    let diff = farthest(&dir.join("one.safetensors"), &dir.join("part.safetensors"));
    eprintln!("resumed over 2, 3 and 1 ranks: {diff:e} away from one process");
    assert!(
        diff < 1e-12,
        "resumed over 2, 3 and 1 ranks, {diff} away from one process"
    );
}

#[test]
fn ranks_that_differ_in_configuration_or_data_are_refused_in_one_line() {
    let _job = one_job();
    let nn = common::example("nn");
    let nn = nn.to_str().unwrap();
    let base = [
        "train",
        "--data",
        "spirals:50",
        "--steps",
        "2",
        "--threads",
        "1",
    ];
    // Open MPI's MPMD form: rank 0 runs the first command, rank 1 the second.
    let refused = |rank1: &[&str]| {
        let out = mpirun(1)
            .args([nn].iter().chain(&base))
            .args([":", "-np", "1", nn])
            .args(rank1)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(ours.len(), 1, "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        ours[0].to_string()
    };
    let line = refused(&[&base[..], &["--batch-size", "16"]].concat());
    assert_eq!(line, "error: rank 1 of 2 has another configuration than rank 0: training.fit.batch_size is 16 there, 32 on rank 0; start every rank with the same command, files and model");
    let line = refused(&[
        "train",
        "--data",
        "spirals:51",
        "--steps",
        "2",
        "--threads",
        "1",
    ]);
    let data =
        "error: rank 1 of 2 has another data than rank 0: train rows is 92 there, 90 on rank 0;";
    assert!(line.starts_with(data), "{line}");
}

#[test]
fn ranks_that_resume_different_weights_are_refused_in_one_line() {
    let _job = one_job();
    let dir = scratch("mpi-other-model");
    let (a, b) = (dir.join("a.safetensors"), dir.join("b.safetensors"));
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    ok(&[
        "train",
        "--data",
        "spirals:50",
        "--steps",
        "2",
        "--threads",
        "1",
        "--save",
        a,
    ]);
    // The same checkpoint but for the lowest bit of its first stored value.
    let mut bytes = std::fs::read(a).unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    bytes[8 + header] ^= 1;
    std::fs::write(b, bytes).unwrap();
    let nn = common::example("nn");
    let resume = |model: &str| {
        [
            "train",
            "--resume",
            model,
            "--data",
            "spirals:50",
            "--steps",
            "4",
            "--threads",
            "1",
        ]
        .map(String::from)
    };
    let out = mpirun(1)
        .arg(&nn)
        .args(resume(a))
        .args([":", "-np", "1"])
        .arg(&nn)
        .args(resume(b))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let ours: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(ours.len(), 1, "{stderr}");
    let model = "error: rank 1 of 2 has another model than rank 0: ";
    assert!(ours[0].starts_with(model), "{stderr}");
}

/// The processes whose environment holds `marker` (a variable this test gave mpirun to pass
/// on) and Open MPI's `OMPI_COMM_WORLD_RANK=rank`.
fn rank_pid(marker: &str, rank: usize) -> Option<i32> {
    let wanted = format!("OMPI_COMM_WORLD_RANK={rank}");
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
            let env = std::fs::read(entry.path().join("environ")).ok()?;
            let vars: Vec<&[u8]> = env.split(|b| *b == 0).collect();
            let has = |s: &str| vars.contains(&s.as_bytes());
            (has(marker) && has(&wanted)).then_some(pid)
        })
}

/// Waits (at most a minute) until `path` exists.
fn wait_for(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{} never came",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_rank_ends_the_others_within_30_s_naming_it_and_the_checkpoint_stays_whole() {
    let _job = one_job();
    let dir = scratch("mpi-killed");
    let save = dir.join("m.safetensors");
    let marker = format!("SIMPLE_NN_TEST={}", std::process::id());
    let (out, err) = (dir.join("out.txt"), dir.join("err.txt"));
    let mut child = mpirun(2)
        .args(["-x", "SIMPLE_NN_TEST"])
        .env("SIMPLE_NN_TEST", std::process::id().to_string())
        .arg(common::example("nn"))
        .args([
            "train",
            "--data",
            "spirals:2000",
            "--hidden",
            "64,64",
            "--steps",
            "100000",
            "--eval-every",
            "20",
            "--batch-size",
            "8",
            "--threads",
            "1",
        ])
        .args(["--save", save.to_str().unwrap()])
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    wait_for(&save);
    let pid = rank_pid(&marker, 1).expect("rank 1's process");
    // SAFETY: kill only sends a signal to rank 1's process id.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let killed = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if killed.elapsed() > Duration::from_secs(30) {
            child.kill().unwrap();
            panic!("rank 0 still ran 30 s after rank 1 was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success());
    let all = std::fs::read_to_string(&err).unwrap() + &std::fs::read_to_string(&out).unwrap();
    // The launcher's line: Open MPI's "mpirun noticed that process rank 1 … exited on signal 9".
    assert!(all.contains("rank 1"), "{all}");
    // The checkpoint is whole (written by renaming a finished file): it scores.
    ok(&[
        "eval",
        "--model",
        save.to_str().unwrap(),
        "--data",
        "spirals:2000",
    ]);
}

#[test]
fn ctrl_c_through_mpirun_saves_once_and_the_run_resumes() {
    let _job = one_job();
    use std::io::Read;
    let dir = scratch("mpi-ctrl-c");
    let save = dir.join("m.safetensors");
    let mut child = mpirun(2)
        .arg(common::example("nn"))
        .args([
            "train",
            "--data",
            "spirals:2000",
            "--hidden",
            "64,64",
            "--steps",
            "100000",
            "--eval-every",
            "500",
            "--batch-size",
            "8",
            "--threads",
            "1",
        ])
        .args(["--save", save.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A checkpoint every 500 steps, and a line: Open MPI's mpirun, ending the job on SIGINT,
    // drops output it has not passed on yet, which a line every few steps can leave it.
    wait_for(&save);
    // SAFETY: kill only sends a signal to mpirun's process id.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "{stdout}");
    // Rank 0 alone says where it stopped, once, and names the step the checkpoint holds.
    let stopped: Vec<&str> = stdout.lines().filter(|l| l.contains("stopped")).collect();
    assert_eq!(stopped.len(), 1, "{stdout}");
    let steps = description(&save)["training"]["steps"].as_u64().unwrap();
    let p = save.to_str().unwrap();
    let line = format!("stopped after step {steps}: saved to {p}; go on with `mpirun -np 2 target/release/examples/nn train --resume {p}");
    assert!(stopped[0].starts_with(&line), "{stdout}");
    // And it goes on from there, on two ranks.
    let more = (steps + 1).to_string();
    let out = ranks(
        2,
        &[
            "train",
            "--resume",
            p,
            "--data",
            "spirals:2000",
            "--steps",
            &more,
            "--threads",
            "1",
        ],
    );
    assert!(succeeded(&out).contains(&format!("step {more}/{more}")));
}
