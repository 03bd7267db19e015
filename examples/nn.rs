//! Bigger models on real data: `train`, `eval`, `predict`, `bench` and `export` over the same library.
//! `cargo run --release --example nn -- train --data spirals:500 --epochs 50 --save m.safetensors`,
//! then `eval --model m.safetensors --data spirals:500`; `-- help` lists the rest.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use candle_core::DType;
use clap::{Args, Parser, Subcommand};
#[cfg(unix)]
use signal_hook::consts::{SIGINT, SIGTERM};
use simple_nn::data::{csv, memory, Source, TableOptions};
use simple_nn::io::{self, atomic, report};
use simple_nn::nn::{self, Activation, Layers, Loss, OptimizerKind, Schedule};
use simple_nn::run::{model_and_test_data, Asked, Run};
use simple_nn::{cli, device, kernels::threads, plot, DeviceSpec, Kernels};

/// The `bench` subcommand, apart, so that this file stays thin.
#[path = "nn/bench.rs"]
mod bench_command;
use bench_command::{bench, BenchArgs};

/// Train, evaluate and run MLPs and conv nets on CSV, MNIST or synthetic data.
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
    /// Time training steps on one fixed random batch (the workload of torch_mlp.py or torch_cnn.py).
    Bench(BenchArgs),
    /// Write a saved model's weights alone, without the optimizer's state, for PyTorch and other tools.
    Export {
        /// A model saved by `train --save`.
        #[arg(long)]
        model: PathBuf,
        /// Where to write the weights (.safetensors; examples/torch_load_export.py loads them).
        #[arg(long)]
        output: PathBuf,
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
    /// csv:PATH, mnist:DIR, parity:N or spirals:N (eval and predict read MNIST's test files).
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
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A table's target column (eval, predict and --resume read the model's) [default: label].
    #[arg(long)]
    target: Option<String>,
    /// Hidden layer sizes, comma-separated: `dense:A,<activation>,dense:B,<activation>` [default: 64,32].
    #[arg(long, value_delimiter = ',', value_parser = cli::size, conflicts_with = "layers")]
    hidden: Option<Vec<usize>>,
    /// Hidden layers: dense:N, conv:OUT:K[:STRIDE:PAD], maxpool:K, avgpool:K, dropout:P, flatten, batchnorm, relu, …
    #[arg(long)]
    layers: Option<Layers>,
    /// Read each CSV row's features as an image of C,H,W (MNIST's images are 1,28,28 already).
    #[arg(long, value_parser = cli::image_shape)]
    image_shape: Option<[usize; 3]>,
    /// Activation of --hidden: relu, tanh, sigmoid or gelu [default: relu] (--layers names its own).
    #[arg(long, conflicts_with = "layers")]
    activation: Option<Activation>,
    /// cross-entropy (classes), bce (two classes), mse or half-sse (values) [default: cross-entropy].
    #[arg(long)]
    loss: Option<Loss>,
    /// Go on training a model saved by `train --save` where it stopped, with its settings and optimizer state (saving only with --save).
    /// --lr, --schedule, --momentum, --nesterov, --weight-decay, --patience, --batch-size and --epochs change them (first lines say how); flags that would change the model, its split or its optimizer are refused.
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Layers without bias (the tutorial's network has none).
    #[arg(long)]
    no_bias: bool,
    /// sgd, momentum or adamw [default: adamw].
    #[arg(long)]
    optimizer: Option<OptimizerKind>,
    /// Base learning rate [default: 0.001].
    #[arg(long, value_parser = cli::positive)]
    lr: Option<f64>,
    /// Momentum, for --optimizer momentum: in [0, 1) [default: 0.9].
    #[arg(long, value_parser = cli::momentum)]
    momentum: Option<f64>,
    /// Nesterov momentum, for --optimizer momentum.
    #[arg(long)]
    nesterov: bool,
    /// Weight decay (AdamW's decoupled decay; L2 for momentum SGD) [default: 0].
    #[arg(long, value_parser = cli::non_negative)]
    weight_decay: Option<f64>,
    /// Learning-rate schedule: constant, step:EVERY:GAMMA, or cosine[:MIN_LR] over --epochs [default: constant].
    #[arg(long)]
    schedule: Option<Schedule>,
    /// Rows per minibatch [default: 32].
    #[arg(long, value_parser = cli::size)]
    batch_size: Option<usize>,
    /// Passes over the training data, in all [default: 20; --resume: the saved run's].
    #[arg(long, value_parser = cli::size)]
    epochs: Option<usize>,
    /// `fused`: one op per dense layer, per conv (with its ReLU and max-pool) and for the loss, in-place SGD; `stock`: candle's own ops.
    #[arg(long, default_value = "fused")]
    kernels: Kernels,
    /// The run's seed: the initial weights, the split, each epoch's order and each dropout mask draw from streams of their own of it [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Fraction of the training data held out for validation [default: 0.1].
    #[arg(long, value_parser = cli::fraction)]
    valid_fraction: Option<f64>,
    /// Standardise features with the training data's mean and spread (saved with the model).
    #[arg(long)]
    normalize: bool,
    /// Refuse a model whose training would take more memory than this (512M, 2G, …), apart from the data's --max-memory [default: half the available memory].
    #[arg(long, value_parser = cli::bytes)]
    max_model_memory: Option<u64>,
    #[command(flatten)]
    run_on: RunOn,
    /// Save the trained model (.safetensors, with everything needed to rebuild it and resume), after every epoch.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Stop when the validation loss has not improved for N epochs.
    #[arg(long, value_parser = cli::size)]
    patience: Option<usize>,
    /// Keep the best epoch's model at --save (the last epoch's, to resume, beside it as NAME.last.safetensors).
    #[arg(long, requires = "save")]
    keep_best: bool,
    /// Write one CSV row per epoch: epoch,lr,train_loss,valid_loss,valid_accuracy,seconds.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Draw the loss curves to PATH.svg.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the final numbers as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
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
        Command::Bench(a) => a.run_on.threads,
        Command::Export { .. } => None,
    };
    // SAFETY: main has not started any thread yet.
    unsafe { threads::init(threads.map(|n| n as usize)) };
    let result = match cli.command {
        Command::Train(args) => train(*args),
        Command::Eval(args) => eval(args).map(|()| ExitCode::SUCCESS),
        Command::Predict(args) => predict(args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench(args).map(|()| ExitCode::SUCCESS),
        Command::Export { model, output } => export(&model, &output),
    };
    result.unwrap_or_else(|e| simple_nn::error::exit_code(Err(e)))
}

fn train(args: TrainArgs) -> Result<ExitCode> {
    args.max_model_memory
        .into_iter()
        .for_each(memory::set_model_budget);
    atomic::check_all_writable([&args.history, &args.plot, &args.metrics_json])?;
    args.save.as_deref().map(io::check_model_path).transpose()?;
    args.plot.as_deref().map(plot::check_path).transpose()?;
    let resume = args.resume.as_deref();
    let dtype = (args.run_on.dtype.or(resume.and_then(io::saved_dtype))).unwrap_or(DType::F32);
    let dev = args.run_on.device.open_for(dtype)?;
    let a = &args;
    let asked = Asked {
        layers: Asked::asked_layers(a.layers.as_ref(), a.hidden.as_deref(), a.activation),
        activation: a.activation,
        image_shape: a.image_shape,
        loss: a.loss,
        no_bias: a.no_bias,
        normalize: a.normalize,
        target: a.target.clone(),
        optimizer: a.optimizer,
        lr: a.lr,
        momentum: a.momentum,
        nesterov: a.nesterov,
        weight_decay: a.weight_decay,
        schedule: a.schedule,
        batch_size: a.batch_size,
        epochs: a.epochs,
        seed: a.seed,
        valid_fraction: a.valid_fraction,
        patience: a.patience,
    };
    let data = &args.data.source(args.target.as_deref())?;
    let mut run = match resume {
        Some(path) => Run::resume(path, data, &asked, args.kernels, dtype, &dev)?,
        None => Run::new(data, &asked, args.kernels, dtype, &dev)?,
    };
    run.training.fit.progress = true;
    let on = device::name(&dev);
    println!("simple-nn nn: {run}, on {data}, {} on {on}", dtype.as_str());
    let nothing = args.save.is_none().then(|| run.keeps_nothing_line(resume));
    run.notes
        .iter()
        .chain(&nothing)
        .for_each(|note| println!("{note}"));
    // Ctrl-C or TERM ends training after the batch under way (a second changes nothing).
    let signal = Arc::new(AtomicUsize::new(0));
    #[cfg(unix)]
    for (sig, code) in [(SIGINT, 130), (SIGTERM, 143)] {
        signal_hook::flag::register_usize(sig, signal.clone(), code)?;
    }
    let (start, stop) = (Instant::now(), || signal.load(Ordering::Relaxed) != 0);
    let (best, last) = match (&args.save, args.keep_best) {
        (Some(best), true) => (Some(best.as_path()), Some(io::last_beside(best))),
        (save, _) => (None, save.clone()),
    };
    let epochs = run.training.fit.epochs;
    let fitted = run.fit(last.as_deref(), best, stop, |e| {
        println!("{}", report::epoch_line(e, epochs));
        Ok(())
    })?;
    if fitted.stopped {
        println!("{}", run.stopped_line(last.as_deref(), best, data));
        return Ok(ExitCode::from(signal.load(Ordering::Relaxed) as u8));
    }
    run.early_lines(&fitted, best, last.as_deref())
        .iter()
        .for_each(|l| println!("{l}"));
    let epochs = fitted.epochs;
    let summary = run.summary(&epochs, start.elapsed().as_secs_f64())?;
    println!("{summary}");

    let history = report::history_csv(&epochs);
    (args.history.iter()).try_for_each(|path| atomic::write(path, history.as_bytes()))?;
    (args.plot.iter()).try_for_each(|p| plot::loss_curves(p, &run.title(data), &epochs))?;
    (args.save.iter()).for_each(|path| println!("saved the model to {}", path.display()));
    (args.metrics_json.iter()).try_for_each(|path| report::write_metrics(path, &summary))?;
    Ok(ExitCode::SUCCESS)
}

fn eval(args: EvalArgs) -> Result<()> {
    atomic::check_all_writable([&args.metrics_json])?;
    let (on, dtype) = (&args.run_on, args.run_on.dtype.unwrap_or(DType::F32));
    let data = args.data.source(None)?;
    let s = model_and_test_data(&args.model, &data, on.device, dtype, true)?;
    s.notes.iter().for_each(|note| println!("{note}"));
    let scored = nn::evaluate(&s.net, &s.samples, dtype, &s.dev)?;
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
    let predictions = nn::predict(&s.net, &s.samples, dtype, &s.dev)?;
    let csv = report::predictions_csv(&s.spec, &predictions);
    report::write_or_print(args.output.as_deref(), &csv)?;
    let n = predictions.len();
    (args.output.iter()).for_each(|p| println!("wrote {n} predictions to {}", p.display()));
    Ok(())
}

fn export(model: &Path, output: &Path) -> Result<ExitCode> {
    println!("{}", io::export(model, output)?);
    Ok(ExitCode::SUCCESS)
}
