//! A long run's last epochs beside its first: a training should not slow down as it trains.
//!
//! ```sh
//! cargo build --release --examples
//! cargo run --release --example bench_long_run                  # 600 epochs, every optimizer
//! cargo run --release --example bench_long_run -- --epochs 2000 --threads 2
//! ```
//!
//! Each run is `nn train --data spirals:500 --hidden 64,64 --lr 0.01` (29 steps an epoch) with
//! one optimizer, kernels and dtype, its epoch times read from `--history`. The table shows the
//! median seconds of the first and the last `--window` epochs, and their ratio: about 1 where
//! nothing accumulates. (Before the optimizers flushed subnormal moments to zero, AdamW's last
//! epochs took 2–3 times its first: its dead units' moments had gone subnormal, where x86
//! arithmetic takes microcode assists; see `src/kernels/subnormal.rs`.)

use std::path::Path;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Parser;
use simple_nn::bench::{load_average, median};

/// Time the first and the last epochs of long runs.
#[derive(Parser, Debug)]
struct Args {
    /// Epochs per run.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(20..=100_000))]
    epochs: u32,
    /// Epochs at each end whose median time is compared.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    window: u32,
    /// CPU threads of each run.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: u32,
}

fn main() -> ExitCode {
    simple_nn::error::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    if 2 * args.window > args.epochs {
        bail!(
            "--window {} needs at least {} epochs: raise --epochs or lower --window",
            args.window,
            2 * args.window
        )
    }
    let nn = std::env::current_exe()?.with_file_name(format!("nn{}", std::env::consts::EXE_SUFFIX));
    if !nn.exists() {
        bail!(
            "{} is missing: run `cargo build --release --examples` first",
            nn.display()
        )
    }
    let scratch = tempfile::tempdir()?;
    let history = scratch.path().join("history.csv");
    println!(
        "nn train --data spirals:500 --hidden 64,64 --lr 0.01, {} epochs, {} thread(s); median seconds per epoch; machine load (1/5/15 min) {}",
        args.epochs,
        args.threads,
        load_average()
    );
    println!(
        "\n| optimizer | kernels | dtype | first {w} epochs | last {w} epochs | last/first |",
        w = args.window
    );
    println!("|---|---|---|---|---|---|");
    for optimizer in ["sgd", "momentum", "adamw"] {
        for kernels in ["fused", "stock"] {
            for dtype in ["f32", "f64"] {
                let status = Command::new(&nn)
                    .args([
                        "train",
                        "--data",
                        "spirals:500",
                        "--hidden",
                        "64,64",
                        "--lr",
                        "0.01",
                    ])
                    .args([
                        "--optimizer",
                        optimizer,
                        "--kernels",
                        kernels,
                        "--dtype",
                        dtype,
                    ])
                    .args(["--epochs", &args.epochs.to_string()])
                    .args(["--threads", &args.threads.to_string()])
                    .arg("--history")
                    .arg(&history)
                    .stdout(std::process::Stdio::null())
                    .status()?;
                if !status.success() {
                    bail!("nn train --optimizer {optimizer} --kernels {kernels} --dtype {dtype} failed ({status})")
                }
                let seconds = epoch_seconds(&history)?;
                let w = args.window as usize;
                let (first, last) = (median(&seconds[..w]), median(&seconds[seconds.len() - w..]));
                println!(
                    "| {optimizer} | {kernels} | {dtype} | {:.2} ms | {:.2} ms | {:.2}× |",
                    first * 1e3,
                    last * 1e3,
                    last / first
                );
            }
        }
    }
    println!("\nmachine load at the end (1/5/15 min): {}", load_average());
    Ok(())
}

/// The `seconds` column of a history file written by `nn train --history`.
fn epoch_seconds(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    let header = lines.next().context("an empty history file")?;
    let Some(column) = header.split(',').position(|c| c == "seconds") else {
        bail!("the history has no seconds column: {header}")
    };
    lines
        .map(|line| {
            line.split(',')
                .nth(column)
                .and_then(|s| s.parse().ok())
                .with_context(|| format!("a history row without seconds: {line}"))
        })
        .collect()
}
