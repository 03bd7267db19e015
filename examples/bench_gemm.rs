//! The matrix products alone: `gemm::gemm` (what the fused kernels call) beside PyTorch's `a @ b`.
//!
//! ```sh
//! cargo run --release --example bench_gemm                 # 1 thread, the MLP's and the GPT's shapes
//! ```
//!
//! For each shape `m×k · k×n` in f32, each round times this crate's gemm (no parallelism, as
//! each of the kernels' threads calls it) for half a second and then PyTorch's `a @ b` with
//! `torch.set_num_threads(1)` for as long, in a child process; the table shows median GFLOP/s
//! (2·m·k·n per product) and the median of the per-round ratios. Where the ratio is about 1 the
//! products are level and a model's difference from PyTorch lies in the work around them.

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use simple_nn::bench::{load_average, median, peers_python, stdout_of};

/// Time matrix products against PyTorch's.
#[derive(Parser, Debug)]
struct Args {
    /// Rounds; the table shows medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Folder of the peer scripts.
    #[arg(long, default_value = "../shared/peers")]
    peers: PathBuf,
    /// Python with PyTorch [default: the one `<peers>/setup.sh` prints].
    #[arg(long)]
    python: Option<PathBuf>,
}

/// `(m, k, n)`: the MLP's first layer at batch 1024, its second, the GPT's projections at
/// nanoGPT's CPU config (768 rows of 128 features) and a weight gradient (k = 768 rows).
const SHAPES: [(usize, usize, usize); 6] = [
    (1024, 784, 512),
    (1024, 512, 512),
    (768, 128, 384),
    (768, 512, 128),
    (384, 768, 128),
    (2048, 384, 1536),
];

/// PyTorch's side: GFLOP/s of `a @ b` for one shape, printed as a number.
const TORCH: &str = r#"
import sys, time, torch
torch.set_num_threads(1)
m, k, n = map(int, sys.argv[1:4])
a, b = torch.randn(m, k), torch.randn(k, n)
for _ in range(3): a @ b
t, r = time.perf_counter(), 0
while time.perf_counter() - t < 0.5:
    a @ b; r += 1
print(2 * m * k * n * r / (time.perf_counter() - t) / 1e9)
"#;

fn main() -> ExitCode {
    simple_nn::error::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let python = match &args.python {
        Some(p) => p.clone(),
        None => peers_python(&args.peers, false)?,
    };
    println!(
        "f32 matrix products, 1 thread, {} rounds; GFLOP/s (median); machine load (1/5/15 min) {}",
        args.rounds,
        load_average()
    );
    println!("\n| m × k · k × n | PyTorch `a @ b` | gemm::gemm | ratio |");
    println!("|---|---|---|---|");
    for (m, k, n) in SHAPES {
        let (mut ours, mut torch) = (Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            ours.push(gemm_gflops(m, k, n));
            let out = stdout_of(
                Command::new(&python)
                    .args(["-c", TORCH])
                    .args([m, k, n].map(|d| d.to_string())),
            )?;
            torch.push(
                out.trim()
                    .parse::<f64>()
                    .with_context(|| format!("PyTorch printed {out:?}, not a number"))?,
            );
        }
        let ratios: Vec<f64> = ours.iter().zip(&torch).map(|(a, b)| a / b).collect();
        println!(
            "| {m} × {k} · {k} × {n} | {:.1} | {:.1} | {:.2}× |",
            median(&torch),
            median(&ours),
            median(&ratios)
        );
    }
    println!("\nmachine load at the end (1/5/15 min): {}", load_average());
    Ok(())
}

/// GFLOP/s of `gemm::gemm` on row-major `m×k · k×n` for half a second, after 3 warm-up calls.
fn gemm_gflops(m: usize, k: usize, n: usize) -> f64 {
    let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.25 - 0.75).collect();
    let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5 - 1.0).collect();
    let mut c = vec![0f32; m * n];
    let mut product = || {
        // SAFETY: a, b and c hold m·k, k·n and m·n values, addressed row-major by the strides.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                k as isize,
                b.as_ptr(),
                1,
                n as isize,
                0f32,
                1f32,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    };
    for _ in 0..3 {
        product();
    }
    let (start, mut calls) = (Instant::now(), 0u32);
    while start.elapsed().as_secs_f64() < 0.5 {
        product();
        calls += 1;
    }
    2.0 * (m * k * n) as f64 * f64::from(calls) / start.elapsed().as_secs_f64() / 1e9
}
