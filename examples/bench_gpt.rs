//! Side-by-side benchmark of GPT training steps against PyTorch's `torch_gpt.py --bench`.
//!
//! ```sh
//! ../shared/data/fetch-shakespeare.sh                    # the text torch_gpt.py reads
//! cargo run --release --example bench_gpt                # nanoGPT's CPU config × 1 and 2 threads
//! cargo run --release --example bench_gpt -- --layers gpt:6:6:384 --block-size 256 --batch-size 8 --threads 2
//! cargo run --release --example bench_gpt -- --dtype bf16       # mixed precision, both sides
//! ```
//!
//! Both sides time full training steps (forward, loss, backward, clipping at 1.0, AdamW with
//! nanoGPT's groups at the warm-up's learning rate) of the same model in f32 on windows of the
//! same text after 3 warm-up steps: `torch_gpt.py --bench N` and `nn bench --data text:FILE
//! --steps N` (the `nn` example, built beside this one). For every thread count, each round
//! runs PyTorch and then `nn bench`, so that the ratios pair runs made moments apart. The table
//! shows median tokens/s and the median of the per-round ratios.
//!
//! With `--dtype bf16` this crate trains with f32 weights and bf16 products (`nn bench --dtype
//! bf16`), and each round runs PyTorch twice: in f32, and under `torch.autocast("cpu",
//! dtype=torch.bfloat16)` (`examples/torch_gpt.py --dtype bf16`, the peer with that option
//! added); the table gives the ratio to each.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use clap::Parser;
use simple_nn::bench::{load_average, median, number_before, peers_python, stdout_of};

/// Compare GPT training steps with PyTorch's (nanoGPT's model and optimizer).
#[derive(Parser, Debug)]
struct Args {
    /// The model, `gpt:N_LAYER:N_HEAD:N_EMBD`.
    #[arg(long, default_value = "gpt:4:4:128", value_parser = parse_layers)]
    layers: (usize, usize, usize),
    /// Context length of each window.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65536))]
    block_size: u64,
    /// Windows per batch.
    #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=65536))]
    batch_size: u64,
    /// Timed steps per run.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=100000))]
    steps: u64,
    /// Rounds; the table shows medians.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    rounds: u32,
    /// Thread counts.
    #[arg(long, default_value = "1,2", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Vec<u32>,
    /// The text torch_gpt.py trains on [default: shakespeare/shakespeare.txt in the temporary folder, as ../shared/data/fetch-shakespeare.sh writes it].
    #[arg(long)]
    text: Option<PathBuf>,
    /// Folder of the peer scripts.
    #[arg(long, default_value = "../shared/peers")]
    peers: PathBuf,
    /// Python with PyTorch [default: the one `<peers>/setup.sh` prints].
    #[arg(long)]
    python: Option<PathBuf>,
    /// Also print where this crate's steps go (forward and loss, backward, clipping, update).
    #[arg(long)]
    phases: bool,
    /// f32, or bf16: this crate's bf16 products beside PyTorch's f32 and its CPU autocast.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    dtype: String,
}

/// `gpt:N_LAYER:N_HEAD:N_EMBD` → the three sizes, as `nn train --layers` reads them.
fn parse_layers(text: &str) -> std::result::Result<(usize, usize, usize), String> {
    let layers: simple_nn::nn::Layers = text.parse()?;
    layers.gpt().ok_or_else(|| {
        format!("'{text}': write the model as gpt:N_LAYER:N_HEAD:N_EMBD, e.g. gpt:4:4:128")
    })
}

fn main() -> ExitCode {
    simple_nn::error::exit_code(run(Args::parse()))
}

fn run(args: Args) -> Result<()> {
    let text = match &args.text {
        Some(p) => p.clone(),
        None => std::env::temp_dir()
            .join("shakespeare")
            .join("shakespeare.txt"),
    };
    if !text.exists() {
        bail!(
            "{} is missing: run ../shared/data/fetch-shakespeare.sh, or pass --text FILE",
            text.display()
        )
    }
    let python = match &args.python {
        Some(p) => p.clone(),
        None => peers_python(&args.peers, false)?,
    };
    let peer = args.peers.join("torch_gpt.py");
    // The peer with --dtype bf16 (autocast) added, beside this file.
    let autocast = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/torch_gpt.py");
    let bf16 = args.dtype == "bf16";
    let (l, h, c) = args.layers;
    let sizes = [
        ("--n-layer", l.to_string()),
        ("--n-head", h.to_string()),
        ("--n-embd", c.to_string()),
        ("--block-size", args.block_size.to_string()),
        ("--batch-size", args.batch_size.to_string()),
    ];
    println!(
        "GPT {l} layers × {h} heads × {c}, block {}, batch {}, {}, {} timed steps, {} rounds; tokens/s (median); machine load (1/5/15 min) {}",
        args.block_size, args.batch_size, args.dtype, args.steps, args.rounds, load_average()
    );
    match bf16 {
        false => println!("\n| threads | PyTorch | simple-nn | ratio |\n|---|---|---|---|"),
        true => println!("\n| threads | PyTorch f32 | PyTorch bf16 autocast | simple-nn bf16 | vs f32 | vs autocast |\n|---|---|---|---|---|---|"),
    }
    let nn = std::env::current_exe()?.with_file_name(format!("nn{}", std::env::consts::EXE_SUFFIX));
    if !nn.exists() {
        bail!(
            "{} is missing: build it with cargo build --release --examples",
            nn.display()
        )
    }
    let torch = |script: &PathBuf, dtype: Option<&str>, threads: u32| -> Result<f64> {
        let mut peer = Command::new(&python);
        peer.arg(script).arg("--data").arg(&text);
        for (flag, value) in &sizes {
            peer.arg(flag).arg(value);
        }
        peer.args([
            "--bench",
            &args.steps.to_string(),
            "--threads",
            &threads.to_string(),
        ]);
        if let Some(dtype) = dtype {
            peer.args(["--dtype", dtype]);
        }
        let out = stdout_of(&mut peer)?;
        let json: serde_json::Value = serde_json::from_str(out.trim())
            .with_context(|| format!("torch_gpt.py printed no JSON line: {out}"))?;
        match json["tokens_per_sec"].as_f64() {
            Some(rate) => Ok(rate),
            None => bail!("torch_gpt.py printed no tokens_per_sec: {out}"),
        }
    };
    for &threads in &args.threads {
        let (mut f32s, mut autocasts, mut ours) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.rounds {
            f32s.push(torch(&peer, None, threads)?);
            if bf16 {
                autocasts.push(torch(&autocast, Some("bf16"), threads)?);
            }
            let mut child = Command::new(&nn);
            child.args(["bench", "--layers", &format!("gpt:{l}:{h}:{c}")]);
            child.arg("--data").arg(format!("text:{}", text.display()));
            for (flag, value) in &sizes[3..] {
                child.arg(flag).arg(value);
            }
            child.args([
                "--steps",
                &args.steps.to_string(),
                "--threads",
                &threads.to_string(),
                "--dtype",
                &args.dtype,
            ]);
            if args.phases {
                child.arg("--phases");
            }
            let out = stdout_of(&mut child)?;
            if args.phases {
                print!(
                    "{}",
                    out.lines()
                        .filter(|l| l.starts_with("phases"))
                        .map(|l| format!("{l}\n"))
                        .collect::<String>()
                );
            }
            match number_before(&out, " tokens/s") {
                Some(rate) => ours.push(rate),
                None => bail!("nn bench printed no tokens/s: {out}"),
            }
        }
        let ratio = |peer: &[f64]| {
            let ratios: Vec<f64> = ours.iter().zip(peer).map(|(a, b)| a / b).collect();
            median(&ratios)
        };
        match bf16 {
            false => println!(
                "| {threads} | {:.0} | {:.0} | {:.2}× |",
                median(&f32s),
                median(&ours),
                ratio(&f32s)
            ),
            true => println!(
                "| {threads} | {:.0} | {:.0} | {:.0} | {:.2}× | {:.2}× |",
                median(&f32s),
                median(&autocasts),
                median(&ours),
                ratio(&f32s),
                ratio(&autocasts)
            ),
        }
    }
    println!("\nmachine load at the end (1/5/15 min): {}", load_average());
    Ok(())
}
