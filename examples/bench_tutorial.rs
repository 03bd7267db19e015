//! Side-by-side benchmark of the tutorial network: this crate's modes against numpy's loop.
//!
//! ```sh
//! cargo run --release --example bench_tutorial            # 5 rounds of 60000 steps
//! cargo run --release --example bench_tutorial -- --torch # also PyTorch autograd (if installed)
//! ```
//!
//! Each round runs every variant once, in turn, in this one session: the
//! crate's variants in this process, numpy's hand-written loop
//! (`shared/peers/numpy_manual.py`) as a child process. The table shows the
//! median µs per step and the median of the per-round ratios to numpy (each
//! ratio pairs runs made moments apart, which cancels most of the drift of a
//! shared machine). Then each program's peak memory (`/usr/bin/time -v`) for
//! a full run.

use std::path::{Path, PathBuf};

use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::{DType, Device};
use clap::Parser;
use simple_nn::bench::{load_average, median, number_before, peers_python, stdout_of};
use simple_nn::kernels::{threads, Kernels};
use simple_nn::tutorial::{Dataset, Init, Mode, Trainer};

/// Time this crate's tutorial network against numpy's (and optionally PyTorch's).
#[derive(Parser, Debug)]
struct Args {
    /// Training steps per run.
    #[arg(long, default_value_t = 60_000)]
    iters: u64,
    /// Rounds; the table shows medians.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    rounds: u32,
    /// Folder of the peer scripts.
    #[arg(long, default_value = "../shared/peers")]
    peers: PathBuf,
    /// Python with numpy [default: the one `PEERS=numpy <peers>/setup.sh` prints].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Also run PyTorch's autograd (`torch_autograd.py`).
    #[arg(long)]
    torch: bool,
    /// CPU threads for candle.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// One line of the table.
struct Variant {
    name: String,
    run: Box<dyn Fn(u64) -> Result<f64>>,
    samples: Vec<f64>,
}

fn main() -> ExitCode {
    simple_nn::error::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    // SAFETY: main has not started any thread yet.
    unsafe { threads::init(Some(args.threads)) };
    let python = match &args.python {
        Some(python) => python.clone(),
        None => peers_python(&args.peers, true)?,
    };
    let numpy_script = args.peers.join("numpy_manual.py");
    let mut variants = vec![peer("numpy, hand-written loop", &python, &numpy_script)];
    for (mode, kernels) in [
        (Mode::Autograd, Kernels::Stock),
        (Mode::Autograd, Kernels::Fused),
        (Mode::Manual, Kernels::Stock),
        (Mode::Manual, Kernels::Fused),
    ] {
        variants.push(Variant {
            name: format!("simple-nn {mode}, {kernels} kernels"),
            run: Box::new(move |iters| crate_run(mode, kernels, iters)),
            samples: Vec::new(),
        });
    }
    if args.torch {
        variants.push(peer(
            "PyTorch autograd",
            &python,
            &args.peers.join("torch_autograd.py"),
        ));
    }

    println!(
        "tutorial network, f64, {} steps, {} rounds, candle threads {}, machine load (1/5/15 min) {}",
        args.iters,
        args.rounds,
        args.threads,
        load_average()
    );
    for round in 1..=args.rounds {
        for variant in &mut variants {
            variant.samples.push((variant.run)(args.iters)?);
        }
        eprintln!("round {round}/{} done", args.rounds);
    }

    let numpy = variants[0].samples.clone();
    println!("\n| variant | µs/step (median) | min | max | ratio to numpy (median of rounds) |");
    println!("|---|---|---|---|---|");
    for v in &variants {
        let ratios: Vec<f64> = v.samples.iter().zip(&numpy).map(|(s, n)| s / n).collect();
        let (lo, hi) = v
            .samples
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &s| (lo.min(s), hi.max(s)));
        println!(
            "| {} | {:.2} | {lo:.2} | {hi:.2} | {:.2}× |",
            v.name,
            median(&v.samples),
            median(&ratios)
        );
    }

    let xor =
        std::env::current_exe()?.with_file_name(format!("xor{}", std::env::consts::EXE_SUFFIX));
    let iters = args.iters.to_string();
    println!("\n| program, one full run | peak memory (MiB) |");
    println!("|---|---|");
    let xor_rss = peak_rss(Command::new(&xor).args(["--print-every", "0", "--iters", &iters]))?;
    println!("| xor example (autograd, fused) | {:.1} |", xor_rss);
    let numpy_rss = peak_rss(Command::new(&python).arg(&numpy_script).arg(&iters))?;
    println!("| numpy_manual.py | {:.1} |", numpy_rss);
    Ok(())
}

/// µs per step of one run of this crate's network, in this process.
fn crate_run(mode: Mode, kernels: Kernels, iters: u64) -> Result<f64> {
    let dev = Device::Cpu;
    let (xs, ys) = Dataset::Article.tensors(DType::F64, &dev)?;
    let ws = Init::Numpy(1).weights(&[3, 4, 1], DType::F64, &dev)?;
    let mut trainer = Trainer::with_kernels(mode, kernels, &ws, 1.0)?;
    let start = Instant::now();
    for _ in 0..iters {
        trainer.step(&xs, &ys)?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e6 / iters.max(1) as f64)
}

/// A peer script run as a child process; it prints `… = X us/iteration`.
fn peer(name: &str, python: &Path, script: &Path) -> Variant {
    let (python, script) = (python.to_path_buf(), script.to_path_buf());
    Variant {
        name: name.to_string(),
        run: Box::new(move |iters| {
            let text = stdout_of(Command::new(&python).arg(&script).arg(iters.to_string()))?;
            let number = number_before(&text, " us/iteration");
            number.with_context(|| {
                format!(
                    "no 'X us/iteration' in the output of {}: {text}",
                    script.display()
                )
            })
        }),
        samples: Vec::new(),
    }
}

/// Peak resident memory of a command, in MiB, from `/usr/bin/time -v`.
fn peak_rss(command: &mut Command) -> Result<f64> {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-v")
        .arg(command.get_program())
        .args(command.get_args());
    let out = timed
        .output()
        .context("cannot run /usr/bin/time (Debian package `time`)")?;
    let text = String::from_utf8_lossy(&out.stderr);
    let kib: f64 = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("no peak memory in /usr/bin/time's output: {text}"))?;
    Ok(kib / 1024.0)
}
