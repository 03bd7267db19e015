//! Bigger models on real data: `train`, `eval`, `predict`, `generate`, `bench` and `export` over
//! the same library. `cargo run --release --example nn -- train --data spirals:500 --epochs 50
//! --save m.safetensors`, then `eval --model m.safetensors --data spirals:500`; `-- help` lists the rest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;
use candle_core::DType;
use clap::{Args, Parser, Subcommand};
use simple_nn::data::{csv, memory, Source, TableOptions};
use simple_nn::io::{self, atomic, report};
use simple_nn::nn;
use simple_nn::run::{model_and_test_data, score_text};
use simple_nn::{cli, kernels::threads, DeviceSpec};

/// The `bench` subcommand, apart, so that this file stays thin.
#[path = "nn/bench.rs"]
mod bench_command;
/// The `generate` subcommand.
#[path = "nn/generate.rs"]
mod generate_command;
/// The `train` subcommand.
#[path = "nn/train.rs"]
mod train_command;
use bench_command::{bench, BenchArgs};
use generate_command::{generate, GenerateArgs};
use train_command::{train, TrainArgs};

/// Train, evaluate and run MLPs and conv nets on CSV, MNIST or synthetic data, and GPTs on text.
#[derive(Parser, Debug)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model; input and output sizes come from the data.
    Train(Box<TrainArgs>),
    /// Score a saved model on a data set (MNIST: its test files).
    Eval(EvalArgs),
    /// Write a saved model's predictions for every sample.
    Predict(PredictArgs),
    /// Write text drawn from a saved GPT, character by character.
    Generate(GenerateArgs),
    /// Time training steps on one fixed random batch (the workload of torch_mlp.py or torch_cnn.py).
    Bench(BenchArgs),
    /// Write a saved model's weights alone, without the optimizer's state, for PyTorch and other tools, or the whole network as an ONNX graph.
    Export {
        /// A model saved by `train --save`.
        #[arg(long)]
        model: PathBuf,
        /// Where to write the weights (.safetensors; examples/torch_load_export.py loads them) or the graph (.onnx).
        #[arg(long)]
        output: PathBuf,
        /// safetensors (the weights, for PyTorch) or onnx (the network, for onnxruntime: input 'input', output 'probabilities' or 'outputs').
        #[arg(long, default_value = "safetensors")]
        format: String,
    },
}

/// Where the run happens.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct RunOn {
    /// cpu, cuda, cuda:N, metal or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// f32, f64, or (mainly on CUDA) bf16 or f16 [default: f32; train --resume: the model's].
    #[arg(long, value_parser = cli::dtype)]
    dtype: Option<DType>,
    /// CPU threads for candle (default: RAYON_NUM_THREADS if set, else the cores not busy with other processes at start-up).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
}

/// The data, and how to read a table.
#[derive(Args, Debug)]
struct DataArgs {
    /// csv:PATH, mnist:DIR, parity:N, spirals:N or text:PATH (eval and predict read MNIST's test files; eval reads a whole text).
    #[arg(long)]
    data: Source,
    /// A table's field separator, one character or `tab` [default: tab for .tsv and .tab, else comma].
    #[arg(long, value_parser = cli::delimiter)]
    delimiter: Option<u8>,
    /// Leave out table rows with a missing value (empty, NA, NaN, …), and say how many.
    #[arg(long)]
    drop_incomplete: bool,
    /// Refuse data that would take more memory than this (512M, 2G, …) [default: half the available memory].
    #[arg(long, value_parser = cli::bytes)]
    max_memory: Option<u64>,
}

impl DataArgs {
    /// The source, a table read with these options and `target` (or `label`) as its target
    /// column; sets the process's data budget to --max-memory where given.
    fn source(&self, target: Option<&str>) -> Result<Source> {
        self.max_memory.into_iter().for_each(memory::set);
        let table = TableOptions {
            target: target.unwrap_or(csv::LABEL).to_string(),
            delimiter: self.delimiter,
            drop_incomplete: self.drop_incomplete,
        };
        Ok(self.data.clone().with_table_options(table)?)
    }
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct EvalArgs {
    /// A model saved by `train --save`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    run_on: RunOn,
    /// Write accuracy, loss and samples as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
struct PredictArgs {
    /// A model saved by `train --save`.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    run_on: RunOn,
    /// Write the predictions here instead of to standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

fn main() -> ExitCode {
    // A reader that stops early (`nn predict … | head`) ends the program quietly, as `cat`.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any other thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    let threads = match &cli.command {
        Command::Train(a) => a.run_on.threads,
        Command::Eval(a) => a.run_on.threads,
        Command::Predict(a) => a.run_on.threads,
        Command::Generate(a) => a.threads,
        Command::Bench(a) => a.run_on.threads,
        Command::Export { .. } => None,
    };
    // SAFETY: main has not started any thread yet.
    unsafe { threads::init(threads.map(|n| n as usize)) };
    let result = match cli.command {
        Command::Train(args) => train(*args),
        Command::Eval(args) => eval(args).map(|()| ExitCode::SUCCESS),
        Command::Predict(args) => predict(args).map(|()| ExitCode::SUCCESS),
        Command::Generate(args) => generate(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench(args).map(|()| ExitCode::SUCCESS),
        Command::Export {
            model,
            output,
            format,
        } => export(&model, &output, &format),
    };
    result.unwrap_or_else(|e| simple_nn::error::exit_code(Err(e)))
}

fn eval(args: EvalArgs) -> Result<()> {
    atomic::check_all_writable([&args.metrics_json])?;
    let (on, dtype) = (&args.run_on, args.run_on.dtype.unwrap_or(DType::F32));
    let data = args.data.source(None)?;
    if let Source::Text(path) = &data {
        let (_, scored) = score_text(&args.model, path, on.device, dtype)?;
        let accuracy = scored.accuracy.unwrap_or(0.0) * 100.0;
        let n = scored.samples;
        println!("{n} windows: next-character accuracy {accuracy:.2}%, cross-entropy loss {:.5} nats per character", scored.loss);
        (args.metrics_json.iter()).try_for_each(|path| report::write_metrics(path, &scored))?;
        return Ok(());
    }
    let s = model_and_test_data(&args.model, &data, on.device, dtype, true)?;
    s.notes.iter().for_each(|note| println!("{note}"));
    let scored = nn::evaluate(&s.model, &s.samples, dtype, &s.dev)?;
    let accuracy = (scored.accuracy)
        .map(|a| format!("accuracy {:.2}%, ", a * 100.0))
        .unwrap_or_default();
    let (n, loss) = (scored.samples, s.spec.loss);
    println!("{n} samples: {accuracy}{loss} loss {:.5}", scored.loss);
    if let Some(path) = &args.metrics_json {
        report::write_metrics(path, &scored)?;
    }
    Ok(())
}

fn predict(args: PredictArgs) -> Result<()> {
    atomic::check_all_writable([&args.output])?;
    let (on, dtype) = (&args.run_on, args.run_on.dtype.unwrap_or(DType::F32));
    let data = args.data.source(None)?;
    let s = model_and_test_data(&args.model, &data, on.device, dtype, false)?;
    s.notes.iter().for_each(|note| eprintln!("{note}"));
    let predictions = nn::predict(&s.model, &s.samples, dtype, &s.dev)?;
    let csv = report::predictions_csv(&s.spec, &predictions);
    report::write_or_print(args.output.as_deref(), &csv)?;
    let n = predictions.len();
    (args.output.iter()).for_each(|p| println!("wrote {n} predictions to {}", p.display()));
    Ok(())
}

fn export(model: &Path, output: &Path, format: &str) -> Result<ExitCode> {
    match format.parse().map_err(anyhow::Error::msg)? {
        io::Format::Safetensors => println!("{}", io::export(model, output)?),
        #[cfg(feature = "onnx")]
        io::Format::Onnx => println!("{}", io::export_onnx(model, output)?),
        #[cfg(not(feature = "onnx"))]
        io::Format::Onnx => anyhow::bail!(
            "this nn was built without ONNX export: build it with `cargo build --release --features onnx --example nn` (its build runs protoc: apt-get install protobuf-compiler)"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
