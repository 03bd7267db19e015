//! Side-by-side benchmark of `nn bench` against PyTorch's `torch_mlp.py` on the same workload.
//!
//! ```sh
//! cargo build --release --examples
//! cargo run --release --example bench_mlp                    # batch 64, 256, 1024 × 1 and 2 threads
//! cargo run --release --example bench_mlp -- --rounds 5 --steps 50
//! ```
//!
//! The workload is a 784→512→512→10 MLP, ReLU, bias, f32, softmax
//! cross-entropy, SGD 0.01 on one fixed random batch. For every batch size
//! and thread count, each round runs `nn bench` (stock and fused kernels)
//! and `torch_mlp.py` as child processes, one after the other, so the
//! ratios pair runs made moments apart. The table shows median samples/s and
//! the median of the per-round ratios to PyTorch. A final table times a
//! digits-scale network (64→64→32→10, batch 32), stock against fused.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Result};
use clap::Parser;
use simple_nn::bench::{load_average, median, peers_python, samples_per_sec};

/// Compare `nn bench` with PyTorch on the same MLP workload.
#[derive(Parser, Debug)]
struct Args {
    /// Timed steps per run.
    #[arg(long, default_value_t = 30)]
    steps: u32,
    /// Rounds; the table shows medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Batch sizes.
    #[arg(long, default_value = "64,256,1024", value_delimiter = ',')]
    batches: Vec<u32>,
    /// Thread counts.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<u32>,
    /// Folder of the peer scripts.
    #[arg(long, default_value = "../shared/peers")]
    peers: PathBuf,
    /// Python with PyTorch [default: the one `<peers>/setup.sh` prints].
    #[arg(long)]
    python: Option<PathBuf>,
}

fn main() -> ExitCode {
    simple_nn::error::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let mlp =
        std::env::current_exe()?.with_file_name(format!("nn{}", std::env::consts::EXE_SUFFIX));
    if !mlp.exists() {
        bail!(
            "{} is missing: run `cargo build --release --examples` first",
            mlp.display()
        )
    }
    let python = match &args.python {
        Some(p) => p.clone(),
        None => peers_python(&args.peers, false)?,
    };
    let torch_script = args.peers.join("torch_mlp.py");
    let steps = args.steps.to_string();

    println!(
        "784-512-512-10 relu MLP, f32, SGD, {} timed steps, {} rounds; samples/s (median); machine load (1/5/15 min) {}",
        args.steps,
        args.rounds,
        load_average()
    );
    println!("\n| batch | threads | PyTorch | simple-nn stock | ratio | simple-nn fused | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for &batch in &args.batches {
        for &threads in &args.threads {
            let (b, t) = (batch.to_string(), threads.to_string());
            let mut torch = Vec::new();
            let mut ours = [Vec::new(), Vec::new()];
            for _ in 0..args.rounds {
                torch.push(torch_run(&python, &torch_script, &steps, &b, &t)?);
                for (i, kernels) in ["stock", "fused"].iter().enumerate() {
                    ours[i].push(mlp_run(
                        &mlp,
                        &[
                            "--batch-size",
                            &b,
                            "--threads",
                            &t,
                            "--steps",
                            &steps,
                            "--kernels",
                            kernels,
                        ],
                    )?);
                }
            }
            let ratio =
                |v: &[f64]| median(&v.iter().zip(&torch).map(|(a, b)| a / b).collect::<Vec<_>>());
            println!(
                "| {batch} | {threads} | {:.0} | {:.0} | {:.2}× | {:.0} | {:.2}× |",
                median(&torch),
                median(&ours[0]),
                ratio(&ours[0]),
                median(&ours[1]),
                ratio(&ours[1])
            );
        }
    }

    println!("\ndigits-scale: 64-64-32-10, batch 32, 1 thread; samples/s (median)");
    println!("\n| stock | fused | fused / stock |");
    println!("|---|---|---|");
    let small = [
        "--inputs",
        "64",
        "--hidden",
        "64,32",
        "--classes",
        "10",
        "--batch-size",
        "32",
        "--threads",
        "1",
        "--steps",
        "2000",
    ];
    let mut runs = [Vec::new(), Vec::new()];
    for _ in 0..args.rounds {
        for (i, kernels) in ["stock", "fused"].iter().enumerate() {
            let mut a = small.to_vec();
            a.extend(["--kernels", kernels]);
            runs[i].push(mlp_run(&mlp, &a)?);
        }
    }
    let ratios: Vec<f64> = runs[1].iter().zip(&runs[0]).map(|(f, s)| f / s).collect();
    println!(
        "| {:.0} | {:.0} | {:.2}× |",
        median(&runs[0]),
        median(&runs[1]),
        median(&ratios)
    );
    println!("\nmachine load at the end (1/5/15 min): {}", load_average());
    Ok(())
}

/// samples/s of one `nn bench` run.
fn mlp_run(mlp: &Path, args: &[&str]) -> Result<f64> {
    Ok(samples_per_sec(Command::new(mlp).arg("bench").args(args))?)
}

/// samples/s of one `torch_mlp.py STEPS BATCH THREADS cpu` run.
fn torch_run(python: &Path, script: &Path, steps: &str, batch: &str, threads: &str) -> Result<f64> {
    Ok(samples_per_sec(
        Command::new(python)
            .arg(script)
            .args([steps, batch, threads, "cpu"]),
    )?)
}
