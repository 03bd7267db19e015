//! The tutorial's network, line for line: 60000 full-batch SGD steps on XOR.
//!
//! `cargo run --release --example xor -- --help` lists the flags.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Module, Tensor};
use clap::Parser;
use simple_nn::io::{atomic, report, weights};
use simple_nn::kernels::{threads, Kernels};
use simple_nn::tutorial::{Dataset, Init, Mode, Score, Trainer};
use simple_nn::{cli, device, DeviceSpec};

/// Train the tutorial's sigmoid network on XOR and print it learning.
#[derive(Parser, Debug)]
#[command(version, allow_negative_numbers = true)]
struct Args {
    /// `article`: the tutorial's 5 rows; `xor`: the 4-row XOR table.
    #[arg(long, default_value = "article")]
    dataset: Dataset,
    /// `autograd`: candle's backward() and SGD; `manual`: the hand-written deltas, corrected;
    /// `as-printed`: the tutorial's code as printed, with its two bugs.
    #[arg(long, default_value = "autograd")]
    mode: Mode,
    /// `fused`: fused CPU ops and in-place SGD (fast); `stock`: candle's own ops and candle-nn's SGD.
    #[arg(long, default_value = "fused")]
    kernels: Kernels,
    /// Number of full-batch training steps.
    #[arg(long, default_value_t = 60_000, value_parser = cli::count)]
    iters: u64,
    /// Learning rate (the tutorial's is 1).
    #[arg(long, default_value_t = 1.0, value_parser = cli::positive)]
    lr: f64,
    /// Hidden units [default: 4, or the --init file's].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    hidden: Option<u32>,
    /// Initial weights: numpy:SEED (numpy's legacy generator), uniform:SEED, or PATH.npz / PATH.safetensors.
    #[arg(long, default_value_t = Init::default())]
    init: Init,
    /// f64 (matches numpy to ~1e-12) or f32.
    #[arg(long, default_value = "f64", value_parser = parse_dtype)]
    dtype: DType,
    /// cpu, cuda, cuda:N, metal or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Print the error vector, w1 and w0 every N steps (0: only the final result).
    #[arg(long, default_value_t = 10_000, value_parser = cli::count)]
    print_every: u64,
    /// Write `step,loss,mean_abs_error` for every step that is a multiple of --print-every.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Write a JSON summary of the run (us_per_iter, final_loss, …).
    #[arg(long)]
    metrics_json: Option<PathBuf>,
    /// Save the final weights (.npz in the tutorial's layout, or .safetensors).
    #[arg(long)]
    save: Option<PathBuf>,
    /// CPU threads for candle (default: RAYON_NUM_THREADS if set, else the cores not busy with other processes at start-up).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
}

fn parse_dtype(s: &str) -> Result<DType, String> {
    match cli::dtype(s)? {
        dtype @ (DType::F64 | DType::F32) => Ok(dtype),
        _ => Err(format!("unsupported dtype '{s}': use f64 or f32")),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // SAFETY: main has not started any thread yet.
    unsafe { threads::init(args.threads.map(|n| n as usize)) };
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        result => simple_nn::error::exit_code(result),
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(args: Args) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for path in [&args.history, &args.metrics_json, &args.save]
        .into_iter()
        .flatten()
    {
        atomic::check_writable(path)?;
    }
    if let Some(path) = &args.save {
        weights::Format::of(path)?;
    }
    let dev = args.device.open_for(args.dtype)?;
    let sizes = match (&args.init, args.hidden) {
        (Init::File(path), None) => weights::sizes(path).context("--init")?,
        (_, hidden) => vec![3, hidden.unwrap_or(4) as usize, 1],
    };
    if sizes[0] != 3 || sizes[sizes.len() - 1] != 1 {
        bail!("--init: the file's network has layer sizes {sizes:?}, but the data needs 3 inputs and 1 output")
    }
    let (xs, ys) = args.dataset.tensors(args.dtype, &dev)?;
    let ws = args
        .init
        .weights(&sizes, args.dtype, &dev)
        .with_context(|| format!("--init {} with --hidden {}", args.init, sizes[1]))?;
    let mut trainer = Trainer::with_kernels(args.mode, args.kernels, &ws, args.lr)?;

    writeln!(
        out,
        "simple-nn: {} network {sizes:?} on the {} data ({} rows), mode {}, {} kernels, init {}, lr {}, {} on {}",
        if args.mode == Mode::AsPrinted { "the tutorial's (as printed)" } else { "the tutorial's" },
        args.dataset,
        xs.dim(0)?,
        args.mode,
        trainer.kernels(),
        args.init,
        args.lr,
        args.dtype.as_str(),
        device::name(&dev),
    )?;

    let mut history = String::from("step,loss,mean_abs_error\n");
    let mut reporting = Duration::ZERO;
    let start = Instant::now();
    for step in 0..args.iters {
        let prediction = trainer.step(&xs, &ys)?;
        if args.print_every > 0 && step % args.print_every == 0 {
            let t = Instant::now();
            let score = Score::of(&prediction, &ys)?;
            history.push_str(&format!(
                "{step},{:e},{:e}\n",
                score.loss, score.mean_abs_error
            ));
            report(
                &mut out,
                step,
                &score,
                &prediction,
                &ys,
                &trainer.mlp().tutorial_weights()?,
            )?;
            reporting += t.elapsed();
        }
    }
    dev.synchronize()?;
    let seconds = (start.elapsed() - reporting).as_secs_f64();
    let us_per_iter = seconds * 1e6 / args.iters.max(1) as f64;

    let prediction = trainer.mlp().forward(&xs)?;
    let score = Score::of(&prediction, &ys)?;
    print_predictions(&mut out, &xs, &ys, &prediction)?;
    writeln!(
        out,
        "mode={} kernels={} device={} dtype={} iterations={} seconds={seconds:.3} us_per_iter={us_per_iter:.2} final_loss={:.6e} mean_abs_error={:.6e}",
        args.mode,
        trainer.kernels(),
        device::name(&dev),
        args.dtype.as_str(),
        args.iters,
        score.loss,
        score.mean_abs_error,
    )?;

    if let Some(path) = &args.history {
        atomic::write(path, history.as_bytes())?;
    }
    if let Some(path) = &args.metrics_json {
        let metrics = serde_json::json!({
            "mode": args.mode.to_string(),
            "kernels": trainer.kernels().to_string(),
            "device": device::name(&dev),
            "dtype": args.dtype.as_str(),
            "dataset": args.dataset.to_string(),
            "init": args.init.to_string(),
            "sizes": sizes,
            "lr": args.lr,
            "iterations": args.iters,
            "seconds": seconds,
            "us_per_iter": us_per_iter,
            "final_loss": score.loss,
            "mean_abs_error": score.mean_abs_error,
        });
        report::write_metrics(path, &metrics)?;
    }
    if let Some(path) = &args.save {
        weights::save(path, &trainer.mlp().tutorial_weights()?)
            .with_context(|| format!("after training {} steps", args.iters))?;
        writeln!(out, "saved the final weights to {}", path.display())?;
    }
    Ok(())
}

/// Prints one progress block: the error vector `l2 − y`, then `w1` and `w0`, as the tutorial does.
fn report(
    out: &mut impl Write,
    step: u64,
    score: &Score,
    prediction: &Tensor,
    ys: &Tensor,
    ws: &[Tensor],
) -> Result<()> {
    let error = (prediction - ys)?
        .to_dtype(DType::F64)?
        .flatten_all()?
        .to_vec1::<f64>()?;
    writeln!(
        out,
        "\nstep {step}: loss {:.6e}, mean |error| {:.6e}",
        score.loss, score.mean_abs_error
    )?;
    writeln!(out, "error (l2 - y): {}", numpy_row(&error))?;
    for (i, w) in ws.iter().enumerate().rev() {
        writeln!(
            out,
            "w{i}:\n{}",
            numpy_matrix(&w.to_dtype(DType::F64)?.to_vec2::<f64>()?)
        )?;
    }
    Ok(())
}

fn print_predictions(
    out: &mut impl Write,
    xs: &Tensor,
    ys: &Tensor,
    prediction: &Tensor,
) -> Result<()> {
    let to_rows = |t: &Tensor| t.to_dtype(DType::F64)?.to_vec2::<f64>();
    let (xs, ys, prediction) = (to_rows(xs)?, to_rows(ys)?, to_rows(prediction)?);
    writeln!(out, "\ninput      label  output      rounded")?;
    for ((x, y), p) in xs.iter().zip(&ys).zip(&prediction) {
        writeln!(
            out,
            "[{} {} {}]    {}      {:.8}  {}",
            x[0],
            x[1],
            x[2],
            y[0],
            p[0],
            p[0].round()
        )?;
    }
    Ok(())
}

fn numpy_row(values: &[f64]) -> String {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:11.8}")).collect();
    format!("[{}]", cells.join(" "))
}

fn numpy_matrix(rows: &[Vec<f64>]) -> String {
    let lines: Vec<String> = rows.iter().map(|row| numpy_row(row)).collect();
    format!("[{}]", lines.join("\n "))
}
