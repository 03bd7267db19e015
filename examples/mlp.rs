//! Bigger models on real data: `train`, `eval`, `predict` and `bench` over the same library.
//!
//! ```sh
//! cargo run --release --example mlp -- train --data spirals:500 --hidden 32,32 --epochs 50 --save model.safetensors
//! cargo run --release --example mlp -- eval --model model.safetensors --data spirals:500
//! cargo run --release --example mlp -- predict --model model.safetensors --data csv:new.csv --output predictions.csv
//! cargo run --release --example mlp -- bench --inputs 784 --hidden 512,512 --classes 10 --batch-size 256 --steps 50
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{Optimizer, VarMap};
use clap::{Args, Parser, Subcommand};
use simple_nn::checkpoint::{self, ModelSpec, Training};
use simple_nn::fit::{self, Epoch, FitConfig, OptimizerKind};
use simple_nn::fused::FusedSgd;
use simple_nn::loss::Loss;
use simple_nn::model::{Activation, Mlp, MlpConfig};
use simple_nn::optim::Schedule;
use simple_nn::samples::{Normalization, Part, Samples, Source, TargetKind};
use simple_nn::{atomic, device, plot, DeviceSpec, Kernels};

// Every step makes and drops tensors; mimalloc keeps their buffers ready for
// reuse instead of handing large ones back to the kernel each time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Train, evaluate and run multi-layer perceptrons on CSV, MNIST or synthetic data.
#[derive(Parser, Debug)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Train a model; input and output sizes come from the data.
    Train(TrainArgs),
    /// Score a saved model on a data set (MNIST: its test files).
    Eval(EvalArgs),
    /// Write a saved model's predictions for every sample.
    Predict(PredictArgs),
    /// Time training steps on one fixed random batch (the workload of torch_mlp.py).
    Bench(BenchArgs),
}

/// Where the run happens.
#[derive(Args, Debug)]
struct RunOn {
    /// cpu, cuda, cuda:N, metal or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// f32, f64, or (mainly on CUDA) bf16 or f16.
    #[arg(long, default_value = "f32", value_parser = parse_dtype)]
    dtype: DType,
    /// CPU threads for candle (default: RAYON_NUM_THREADS if set, else the cores not busy with other processes at start-up).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    threads: Option<u32>,
}

#[derive(Args, Debug)]
struct TrainArgs {
    /// csv:PATH, mnist:DIR, parity:N or spirals:N.
    #[arg(long)]
    data: Source,
    /// Hidden layer sizes, comma-separated [default: 64,32].
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    hidden: Option<Vec<u32>>,
    /// Hidden activation: relu, tanh or sigmoid [default: relu].
    #[arg(long)]
    activation: Option<Activation>,
    /// cross-entropy (classes), bce (two classes), mse or half-sse (values) [default: cross-entropy].
    #[arg(long)]
    loss: Option<Loss>,
    /// Go on training a model saved by `train --save`, from the epoch it reached, with its shape,
    /// normalisation and optimizer settings (the optimizer's running averages start afresh).
    #[arg(long)]
    resume: Option<PathBuf>,
    /// Layers without bias (the tutorial's network has none).
    #[arg(long)]
    no_bias: bool,
    /// sgd, momentum or adamw.
    #[arg(long, default_value = "adamw")]
    optimizer: OptimizerKind,
    /// Base learning rate.
    #[arg(long, default_value_t = 0.001, value_parser = parse_positive)]
    lr: f64,
    /// Momentum, for --optimizer momentum.
    #[arg(long, default_value_t = 0.9)]
    momentum: f64,
    /// Nesterov momentum, for --optimizer momentum.
    #[arg(long)]
    nesterov: bool,
    /// Weight decay (AdamW's decoupled decay; L2 for momentum SGD).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Learning-rate schedule: constant, step:EVERY:GAMMA, or cosine[:MIN_LR].
    #[arg(long, default_value = "constant")]
    schedule: Schedule,
    /// Rows per minibatch.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Passes over the training data.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    epochs: u32,
    /// `fused`: one op per dense layer and for the loss, in-place SGD; `stock`: candle's own ops.
    #[arg(long, default_value = "fused")]
    kernels: Kernels,
    /// Seed of the initial weights, the validation split and the batch order.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of the training data held out for validation.
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    valid_fraction: f64,
    /// Standardise features with the training data's mean and spread (saved with the model).
    #[arg(long)]
    normalize: bool,
    #[command(flatten)]
    run_on: RunOn,
    /// Save the trained model (.safetensors, with everything needed to rebuild it).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Write one CSV row per epoch: epoch,lr,train_loss,valid_loss,valid_accuracy,seconds.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Draw the loss curves to PATH.png or PATH.svg.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the final numbers as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct EvalArgs {
    /// A model saved by `train --save`.
    #[arg(long)]
    model: PathBuf,
    /// csv:PATH, mnist:DIR (scored on its test files), parity:N or spirals:N.
    #[arg(long)]
    data: Source,
    #[command(flatten)]
    run_on: RunOn,
    /// Write accuracy, loss and samples as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct PredictArgs {
    /// A model saved by `train --save`.
    #[arg(long)]
    model: PathBuf,
    /// csv:PATH, mnist:DIR (its test files), parity:N or spirals:N.
    #[arg(long)]
    data: Source,
    #[command(flatten)]
    run_on: RunOn,
    /// Write the predictions here instead of to standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct BenchArgs {
    /// Input features.
    #[arg(long, default_value_t = 784, value_parser = clap::value_parser!(u32).range(1..))]
    inputs: u32,
    /// Hidden layer sizes, comma-separated.
    #[arg(long, default_value = "512,512", value_delimiter = ',', value_parser = clap::value_parser!(u32).range(1..))]
    hidden: Vec<u32>,
    /// Classes (outputs).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    classes: u32,
    /// Rows per batch.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Timed steps (after 3 warm-up steps).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    steps: u32,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = parse_positive)]
    lr: f64,
    /// `fused` (one op per dense layer and for the loss, in-place SGD) or `stock` (candle's own ops and SGD).
    #[arg(long, default_value = "fused")]
    kernels: Kernels,
    #[command(flatten)]
    run_on: RunOn,
    /// Also time the step's phases (forward and loss, backward, update) with the device
    /// synchronised between them, and print the split.
    #[arg(long)]
    phases: bool,
    /// Write samples_per_sec and ms_per_step as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

fn parse_dtype(s: &str) -> Result<DType, String> {
    match s {
        "f32" => Ok(DType::F32),
        "f64" => Ok(DType::F64),
        "bf16" => Ok(DType::BF16),
        "f16" => Ok(DType::F16),
        _ => Err(format!(
            "unsupported dtype '{s}': use f32, f64, bf16 or f16"
        )),
    }
}

fn parse_positive(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "'{s}' is not a positive finite number: use e.g. 0.01"
        )),
    }
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{s}' is not a fraction in [0, 1): use e.g. 0.1")),
    }
}

fn main() -> ExitCode {
    // A reader that stops early (`mlp predict … | head`) ends the program quietly, as it does
    // `cat`, instead of making the next print fail.
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
    };
    simple_nn::threads::init(threads.map(|n| n as usize));
    let result = match cli.command {
        Command::Train(args) => train(args),
        Command::Eval(args) => eval(args),
        Command::Predict(args) => predict(args),
        Command::Bench(args) => bench(args),
    };
    simple_nn::error::exit_code(result)
}

impl RunOn {
    fn open(&self) -> Result<Device> {
        let dev = self.device.open()?;
        if dev.is_metal() && self.dtype == DType::F64 {
            bail!("Metal has no float64: pass --dtype f32")
        }
        Ok(dev)
    }
}

/// A model ready to train: new, or resumed from a checkpoint.
struct Prepared {
    spec: ModelSpec,
    mlp: Mlp,
    varmap: VarMap,
    train_set: Samples,
    valid_set: Samples,
    config: FitConfig,
}

fn train(args: TrainArgs) -> Result<()> {
    for path in [&args.save, &args.history, &args.plot, &args.metrics_json]
        .into_iter()
        .flatten()
    {
        atomic::check_writable(path)?;
    }
    if let Some(path) = &args.plot {
        plot::check_path(path)?;
    }
    let dev = args.run_on.open()?;
    let dtype = args.run_on.dtype;
    let Prepared {
        mut spec,
        mlp,
        varmap,
        train_set,
        valid_set,
        config,
    } = match &args.resume {
        Some(path) => resumed(&args, path, dtype, &dev)
            .with_context(|| format!("--resume {}", path.display()))?,
        None => fresh(&args, dtype, &dev)?,
    };
    fit::check_config(&config)?;
    println!(
        "simple-nn mlp: {:?} {} {} on {} ({} train, {} validation rows), {} lr {} batch {}, epochs {}..{}, {} on {}",
        spec.sizes,
        spec.activation,
        spec.loss,
        args.data,
        train_set.len(),
        valid_set.len(),
        config.optimizer,
        config.lr,
        config.batch_size,
        config.start_epoch + 1,
        config.epochs,
        dtype.as_str(),
        device::name(&dev),
    );
    let start = Instant::now();
    let epochs = fit::fit(&mlp, &varmap, &train_set, &valid_set, &config, |e| {
        println!("{}", epoch_line(e, config.epochs));
        Ok(())
    })?;
    spec.training = Some(Training {
        epochs: config.epochs,
        optimizer: config.optimizer.to_string(),
        lr: config.lr,
        momentum: config.momentum,
        nesterov: config.nesterov,
        weight_decay: config.weight_decay,
        schedule: config.schedule.to_string(),
        batch_size: config.batch_size,
        seed: config.seed,
        valid_fraction: args.valid_fraction,
    });
    let seconds = start.elapsed().as_secs_f64();
    let last = epochs.last().context("no epoch ran")?;
    let train_seconds: f64 = epochs.iter().map(|e| e.seconds).sum();
    let samples_per_sec = (train_set.len() * epochs.len()) as f64 / train_seconds.max(1e-9);
    println!(
        "trained {} epochs in {seconds:.2} s ({samples_per_sec:.0} samples/s)",
        epochs.len()
    );

    if let Some(path) = &args.history {
        atomic::write(path, history_csv(&epochs).as_bytes())?;
    }
    if let Some(path) = &args.plot {
        let train_curve: Vec<(f64, f64)> = epochs
            .iter()
            .map(|e| (e.epoch as f64, e.train_loss))
            .collect();
        let valid_curve: Vec<(f64, f64)> = epochs
            .iter()
            .filter_map(|e| e.valid_loss.map(|l| (e.epoch as f64, l)))
            .collect();
        let mut series = vec![plot::Series {
            name: "train",
            points: &train_curve,
        }];
        if !valid_curve.is_empty() {
            series.push(plot::Series {
                name: "validation",
                points: &valid_curve,
            });
        }
        let title = format!("{} loss, {} on {}", spec.loss, config.optimizer, args.data);
        plot::write(path, &title, "epoch", "loss per sample", &series)?;
    }
    if let Some(path) = &args.save {
        checkpoint::save_model(path, &spec, &varmap)?;
        println!("saved the model to {}", path.display());
    }
    if let Some(path) = &args.metrics_json {
        let metrics = serde_json::json!({
            "epochs": epochs.len(),
            "train_loss": last.train_loss,
            "valid_loss": last.valid_loss,
            "valid_accuracy": last.valid_accuracy,
            "train_samples": train_set.len(),
            "valid_samples": valid_set.len(),
            "seconds": seconds,
            "samples_per_sec": samples_per_sec,
            "device": device::name(&dev),
            "dtype": dtype.as_str(),
        });
        atomic::write(path, format!("{metrics:#}\n").as_bytes())?;
    }
    Ok(())
}

/// A new model shaped by the flags and the data.
fn fresh(args: &TrainArgs, dtype: DType, dev: &Device) -> Result<Prepared> {
    let loss = args.loss.unwrap_or(Loss::CrossEntropy);
    let samples = load_for(&args.data, Part::Train, loss)?;
    let outputs = match (loss, samples.classes()) {
        (Loss::Bce, Some(2)) => 1,
        (Loss::Bce, classes) => bail!(
            "--loss bce needs two classes, the data has {}: use --loss cross-entropy",
            classes.unwrap_or(0)
        ),
        _ => samples.n_outputs(),
    };
    let (mut train_set, mut valid_set) = samples.split(args.valid_fraction, args.seed)?;
    let normalization = args.normalize.then(|| Normalization::fit(&train_set));
    if let Some(norm) = &normalization {
        norm.apply(&mut train_set)?;
        norm.apply(&mut valid_set)?;
    }
    let mut sizes = vec![train_set.n_features()];
    sizes.extend(
        args.hidden
            .as_deref()
            .unwrap_or(&[64, 32])
            .iter()
            .map(|&n| n as usize),
    );
    sizes.push(outputs);
    let spec = ModelSpec {
        sizes,
        activation: args.activation.unwrap_or(Activation::Relu),
        bias: !args.no_bias,
        loss,
        classes: train_set.classes(),
        normalization,
        training: None,
    };
    let (mlp, varmap) = Mlp::seeded(spec.config(), args.seed, dtype, dev)?;
    let config = FitConfig {
        loss,
        optimizer: args.optimizer,
        lr: args.lr,
        momentum: args.momentum,
        nesterov: args.nesterov,
        weight_decay: args.weight_decay,
        schedule: args.schedule.with_epochs(args.epochs as usize),
        batch_size: args.batch_size as usize,
        epochs: args.epochs as usize,
        start_epoch: 0,
        seed: args.seed,
        progress: true,
        kernels: args.kernels,
    };
    Ok(Prepared {
        spec,
        mlp,
        varmap,
        train_set,
        valid_set,
        config,
    })
}

/// A saved model, trained on from where it stopped with the settings it was trained with.
fn resumed(args: &TrainArgs, path: &Path, dtype: DType, dev: &Device) -> Result<Prepared> {
    let (spec, mlp, varmap) = checkpoint::load_trainable(path, dtype, dev)?;
    let Some(done) = spec.training.clone() else {
        bail!("the model records no training settings to resume with: train a new one")
    };
    let hidden = &spec.sizes[1..spec.sizes.len() - 1];
    if let Some(asked) = &args.hidden {
        if asked.iter().map(|&n| n as usize).ne(hidden.iter().copied()) {
            bail!("the saved network's hidden layers are {hidden:?}, not --hidden {asked:?}: drop --hidden to resume it, or train a new model")
        }
    }
    if args.activation.is_some_and(|a| a != spec.activation)
        || args.loss.is_some_and(|l| l != spec.loss)
    {
        bail!(
            "the saved network uses {} with {}: drop --activation/--loss to resume it, or train a new model",
            spec.activation,
            spec.loss
        )
    }
    if args.epochs as usize <= done.epochs {
        bail!(
            "the model has already trained {} epochs: pass --epochs above that to train on",
            done.epochs
        )
    }
    let mut samples = load_for(&args.data, Part::Train, spec.loss)?;
    if samples.n_features() != spec.sizes[0] {
        bail!(
            "--data {} has {} features but the saved network takes {}",
            args.data,
            samples.n_features(),
            spec.sizes[0]
        )
    }
    if let Some(norm) = &spec.normalization {
        norm.apply(&mut samples)?;
    }
    let (train_set, valid_set) = samples.split(done.valid_fraction, done.seed)?;
    let optimizer: OptimizerKind = done.optimizer.parse().map_err(anyhow::Error::msg)?;
    let schedule: Schedule = done.schedule.parse().map_err(anyhow::Error::msg)?;
    let config = FitConfig {
        loss: spec.loss,
        optimizer,
        lr: done.lr,
        momentum: done.momentum,
        nesterov: done.nesterov,
        weight_decay: done.weight_decay,
        schedule: schedule.with_epochs(args.epochs as usize),
        batch_size: done.batch_size,
        epochs: args.epochs as usize,
        start_epoch: done.epochs,
        seed: done.seed,
        progress: true,
        kernels: args.kernels,
    };
    Ok(Prepared {
        spec,
        mlp,
        varmap,
        train_set,
        valid_set,
        config,
    })
}

/// Loads a part of `data` with the targets `loss` needs.
fn load_for(data: &Source, part: Part, loss: Loss) -> Result<Samples> {
    let kind = if loss.is_classification() {
        TargetKind::Classes
    } else {
        TargetKind::Values
    };
    let samples = data
        .load(part, kind)
        .with_context(|| format!("--data {data}"))?;
    Ok(if loss.is_classification() {
        samples
    } else {
        samples.into_values()
    })
}

fn epoch_line(e: &Epoch, epochs: usize) -> String {
    let mut line = format!(
        "epoch {:>3}/{epochs}  lr {:.3e}  train loss {:.5}",
        e.epoch, e.lr, e.train_loss
    );
    if let Some(loss) = e.valid_loss {
        line += &format!("  valid loss {loss:.5}");
    }
    if let Some(accuracy) = e.valid_accuracy {
        line += &format!("  valid accuracy {:.2}%", accuracy * 100.0);
    }
    line + &format!("  {:.3} s", e.seconds)
}

fn history_csv(epochs: &[Epoch]) -> String {
    let cell = |v: Option<f64>| v.map(|v| format!("{v:e}")).unwrap_or_default();
    let mut csv = String::from("epoch,lr,train_loss,valid_loss,valid_accuracy,seconds\n");
    for e in epochs {
        csv += &format!(
            "{},{:e},{:e},{},{},{:e}\n",
            e.epoch,
            e.lr,
            e.train_loss,
            cell(e.valid_loss),
            cell(e.valid_accuracy),
            e.seconds
        );
    }
    csv
}

/// Loads a model and the data it is to run on, prepared the way the model was trained.
fn model_and_data(
    model: &Path,
    data: &Source,
    run_on: &RunOn,
) -> Result<(ModelSpec, Mlp, Samples, Device)> {
    let dev = run_on.open()?;
    let (spec, mlp) = checkpoint::load_model(model, run_on.dtype, &dev)?;
    let mut samples = load_for(data, Part::Test, spec.loss)?;
    if samples.n_features() != spec.sizes[0] {
        bail!(
            "--data {data} has {} features but the model takes {}: give it data shaped like its training data",
            samples.n_features(),
            spec.sizes[0]
        )
    }
    if let (Some(model_classes), Some(data_classes)) = (spec.classes, samples.classes()) {
        if data_classes > model_classes {
            bail!(
                "--data {data} has labels up to {} but the model knows {model_classes} classes",
                data_classes - 1
            )
        }
    }
    if let Some(norm) = &spec.normalization {
        norm.apply(&mut samples)?;
    }
    Ok((spec, mlp, samples, dev))
}

fn eval(args: EvalArgs) -> Result<()> {
    if let Some(path) = &args.metrics_json {
        atomic::check_writable(path)?;
    }
    let (spec, mlp, samples, dev) = model_and_data(&args.model, &args.data, &args.run_on)?;
    let scored = fit::evaluate(&mlp, spec.loss, &samples, args.run_on.dtype, &dev)?;
    match scored.accuracy {
        Some(accuracy) => println!(
            "{} samples: accuracy {:.2}%, {} loss {:.5}",
            scored.samples,
            accuracy * 100.0,
            spec.loss,
            scored.loss
        ),
        None => println!(
            "{} samples: {} loss {:.5}",
            scored.samples, spec.loss, scored.loss
        ),
    }
    if let Some(path) = &args.metrics_json {
        let metrics = serde_json::json!({
            "accuracy": scored.accuracy,
            "loss": scored.loss,
            "samples": scored.samples,
        });
        atomic::write(path, format!("{metrics:#}\n").as_bytes())?;
    }
    Ok(())
}

fn predict(args: PredictArgs) -> Result<()> {
    if let Some(path) = &args.output {
        atomic::check_writable(path)?;
    }
    let (spec, mlp, samples, dev) = model_and_data(&args.model, &args.data, &args.run_on)?;
    let outputs = *spec.sizes.last().context("a model has layers")?;
    let mut csv = match (spec.loss, spec.classes) {
        (Loss::CrossEntropy, Some(k)) => {
            let probabilities: Vec<String> = (0..k).map(|c| format!("p{c}")).collect();
            format!("predicted,{}\n", probabilities.join(","))
        }
        (Loss::Bce, _) => "predicted,p0,p1\n".to_string(),
        _ => {
            let names: Vec<String> = (0..outputs).map(|o| format!("output{o}")).collect();
            names.join(",") + "\n"
        }
    };
    let indices: Vec<usize> = (0..samples.len()).collect();
    for chunk in indices.chunks(1024) {
        let (xs, _) = samples.batch(chunk, args.run_on.dtype, &dev)?;
        let predictions = spec.loss.predictions(&mlp.forward(&xs)?)?;
        let rows = predictions.to_dtype(DType::F64)?.to_vec2::<f64>()?;
        for row in rows {
            csv += &prediction_row(spec.loss, &row);
        }
    }
    match &args.output {
        Some(path) => atomic::write(path, csv.as_bytes())?,
        None => {
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(csv.as_bytes()) {
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

fn prediction_row(loss: Loss, row: &[f64]) -> String {
    let cells = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.6}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    match loss {
        Loss::CrossEntropy => {
            let best = row
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            format!("{best},{}\n", cells(row))
        }
        Loss::Bce => {
            let p1 = row.first().copied().unwrap_or(0.0);
            format!("{},{}\n", u8::from(p1 > 0.5), cells(&[1.0 - p1, p1]))
        }
        Loss::Mse | Loss::HalfSse => cells(row) + "\n",
    }
}

fn bench(args: BenchArgs) -> Result<()> {
    if let Some(path) = &args.metrics_json {
        atomic::check_writable(path)?;
    }
    let dev = args.run_on.open()?;
    let dtype = args.run_on.dtype;
    let (inputs, classes, batch) = (
        args.inputs as usize,
        args.classes as usize,
        args.batch_size as usize,
    );
    let mut sizes = vec![inputs];
    sizes.extend(args.hidden.iter().map(|&n| n as usize));
    sizes.push(classes);
    let config = MlpConfig {
        sizes: sizes.clone(),
        activation: Activation::Relu,
        bias: true,
        head: Loss::CrossEntropy.head(),
    };
    let (mlp, varmap) = Mlp::seeded(config, 0, dtype, &dev)?;
    let xs = Tensor::randn(0f32, 1.0, (batch, inputs), &Device::Cpu)?
        .to_dtype(dtype)?
        .to_device(&dev)?;
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % classes as u32).collect();
    let ys = Tensor::from_vec(labels, batch, &dev)?;
    let mut stock_sgd = candle_nn::SGD::new(varmap.all_vars(), args.lr)?;
    let mut fused_sgd = FusedSgd::new(varmap.all_vars(), args.lr)?;
    let kernels = args.kernels;
    let forward_loss = || -> candle_core::Result<Tensor> {
        let output = mlp.forward_with(&xs, kernels)?;
        Loss::CrossEntropy.compute_with(&output, &ys, kernels)
    };
    let mut update = |grads: &GradStore| -> candle_core::Result<()> {
        match kernels {
            Kernels::Stock => stock_sgd.step(grads),
            Kernels::Fused => fused_sgd.step(grads),
        }
    };
    let mut step = || -> Result<()> { Ok(update(&forward_loss()?.backward()?)?) };
    for _ in 0..3 {
        step()?;
    }
    dev.synchronize()?;
    let start = Instant::now();
    for _ in 0..args.steps {
        step()?;
    }
    dev.synchronize()?;
    let seconds = start.elapsed().as_secs_f64();
    let ms_per_step = seconds * 1e3 / args.steps as f64;
    let samples_per_sec = (batch * args.steps as usize) as f64 / seconds;
    println!(
        "mlp bench: {sizes:?} relu, batch {batch}, {} steps, {kernels} kernels, {} on {}, {} threads: {ms_per_step:.3} ms/step, {samples_per_sec:.0} samples/s",
        args.steps,
        dtype.as_str(),
        device::name(&dev),
        simple_nn::threads::current(),
    );
    if args.phases {
        // The same steps again, timed phase by phase; the synchronisation costs a little.
        let mut seconds = [0f64; 3];
        for _ in 0..args.steps {
            let mut start = Instant::now();
            let mut lap = |slot: &mut f64| -> Result<()> {
                dev.synchronize()?;
                *slot += start.elapsed().as_secs_f64();
                start = Instant::now();
                Ok(())
            };
            let loss = forward_loss()?;
            lap(&mut seconds[0])?;
            let grads = loss.backward()?;
            lap(&mut seconds[1])?;
            update(&grads)?;
            lap(&mut seconds[2])?;
        }
        let ms = seconds.map(|s| s * 1e3 / args.steps as f64);
        println!(
            "phases: forward+loss {:.3} ms, backward {:.3} ms, update {:.3} ms",
            ms[0], ms[1], ms[2]
        );
    }
    if let Some(path) = &args.metrics_json {
        let metrics = serde_json::json!({
            "samples_per_sec": samples_per_sec,
            "ms_per_step": ms_per_step,
            "batch_size": batch,
            "kernels": kernels.to_string(),
            "steps": args.steps,
            "device": device::name(&dev),
            "dtype": dtype.as_str(),
        });
        atomic::write(path, format!("{metrics:#}\n").as_bytes())?;
    }
    Ok(())
}
