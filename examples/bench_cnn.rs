//! Side-by-side benchmark of `nn bench` against PyTorch's `torch_cnn.py` on the same conv net.
//!
//! ```sh
//! cargo build --release --examples
//! cargo run --release --example bench_cnn                    # batch 64 and 256 × 1 and 2 threads
//! cargo run --release --example bench_cnn -- --rounds 5 --stock
//! ```
//!
//! The workload is the network of PyTorch's MNIST example: conv 3×3 1→32, ReLU, conv 3×3
//! 32→64, ReLU, max-pool 2, dropout 0.25, flatten, dense 9216→128, ReLU, dropout 0.5, dense
//! 128→10; f32, softmax cross-entropy, SGD 0.01, on one fixed random batch of 1×28×28 images.
//! For every batch size and thread count, each round runs `nn bench` (fused kernels, and the
//! stock ones with `--stock`) and `torch_cnn.py` as child processes, one after the other, so
//! that the ratios pair runs made moments apart. The table shows median samples/s and the
//! median of the per-round ratios to PyTorch.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Result};
use clap::Parser;
use simple_nn::bench::{load_average, median, peers_python, samples_per_sec};

/// The network, as `nn bench` takes it.
const NET: [&str; 6] = [
    "--inputs",
    "1,28,28",
    "--layers",
    "conv:32:3,relu,conv:64:3,relu,maxpool:2,dropout:0.25,flatten,dense:128,relu,dropout:0.5",
    "--classes",
    "10",
];

/// Compare `nn bench` with PyTorch on the conv net of PyTorch's MNIST example.
#[derive(Parser, Debug)]
struct Args {
    /// Timed steps per run.
    #[arg(long, default_value_t = 20)]
    steps: u32,
    /// Rounds; the table shows medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Batch sizes.
    #[arg(long, default_value = "64,256", value_delimiter = ',')]
    batches: Vec<u32>,
    /// Thread counts.
    #[arg(long, default_value = "1,2", value_delimiter = ',')]
    threads: Vec<u32>,
    /// Also time candle's stock ops (several times slower).
    #[arg(long)]
    stock: bool,
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
    let nn = std::env::current_exe()?.with_file_name(format!("nn{}", std::env::consts::EXE_SUFFIX));
    if !nn.exists() {
        bail!(
            "{} is missing: run `cargo build --release --examples` first",
            nn.display()
        )
    }
    let python = match &args.python {
        Some(p) => p.clone(),
        None => peers_python(&args.peers, false)?,
    };
    let script = args.peers.join("torch_cnn.py");
    let steps = args.steps.to_string();
    let kernels: &[&str] = if args.stock {
        &["fused", "stock"]
    } else {
        &["fused"]
    };

    println!(
        "PyTorch's MNIST-example conv net, f32, SGD, {} timed steps, {} rounds; samples/s (median); machine load (1/5/15 min) {}",
        args.steps,
        args.rounds,
        load_average()
    );
    print!("\n| batch | threads | PyTorch |");
    for k in kernels {
        print!(" simple-nn {k} | ratio |");
    }
    println!("\n|---|---|---|{}", "---|---|".repeat(kernels.len()));
    for &batch in &args.batches {
        for &threads in &args.threads {
            let (b, t) = (batch.to_string(), threads.to_string());
            let mut torch = Vec::new();
            let mut ours = vec![Vec::new(); kernels.len()];
            for _ in 0..args.rounds {
                torch.push(samples_per_sec(
                    Command::new(&python)
                        .arg(&script)
                        .args([&steps, &b, &t, "cpu"]),
                )?);
                for (runs, k) in ours.iter_mut().zip(kernels) {
                    runs.push(samples_per_sec(
                        Command::new(&nn).arg("bench").args(NET).args([
                            "--batch-size",
                            &b,
                            "--threads",
                            &t,
                            "--steps",
                            &steps,
                            "--kernels",
                            k,
                        ]),
                    )?);
                }
            }
            print!("| {batch} | {threads} | {:.0} |", median(&torch));
            for runs in &ours {
                let ratios: Vec<f64> = runs.iter().zip(&torch).map(|(a, b)| a / b).collect();
                print!(" {:.0} | {:.2}× |", median(runs), median(&ratios));
            }
            println!();
        }
    }
    println!("\nmachine load at the end (1/5/15 min): {}", load_average());
    Ok(())
}
