//! `nn train`: a model from data, by epochs or steps, with every flag applied or refused,
//! checkpoints after every epoch (or evaluation), and Ctrl-C that saves. Started by `mpirun -np
//! N` (built with `--features mpi`), N ranks train one model, rank 0 printing and writing.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use candle_core::DType;
use clap::Args;
#[cfg(unix)]
use signal_hook::consts::{SIGINT, SIGTERM};
use simple_nn::data::memory;
use simple_nn::dist::{Ranks, Session, Shared};
use simple_nn::io::{self, atomic, report};
use simple_nn::nn::{Activation, Layers, Loss, OptimizerKind, Schedule};
use simple_nn::run::{Asked, Run};
use simple_nn::{cli, device, plot, Kernels};

use super::{DataArgs, RunOn};

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// A table's target column (eval, predict and --resume read the model's) [default: label].
    #[arg(long)]
    target: Option<String>,
    /// Hidden layer sizes, comma-separated: `dense:A,<activation>,dense:B,<activation>` [default: 64,32].
    #[arg(long, value_delimiter = ',', value_parser = cli::size, conflicts_with = "layers")]
    hidden: Option<Vec<usize>>,
    /// Hidden layers: dense:N, conv:OUT:K[:STRIDE:PAD], maxpool:K, avgpool:K, dropout:P, flatten, batchnorm, relu, …; for text data gpt:N_LAYER:N_HEAD:N_EMBD [default: gpt:4:4:128].
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
    /// --lr, --schedule, --momentum, --nesterov, --weight-decay, --beta2, --grad-clip, --patience, --batch-size, --epochs or --steps and --eval-every change them (first lines say how); flags that would change the model, its split or its optimizer are refused.
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
    /// Weight decay (AdamW's decoupled decay, a GPT's on its matrices only; L2 for momentum SGD) [default: 0; a GPT: 0.1].
    #[arg(long, value_parser = cli::non_negative)]
    weight_decay: Option<f64>,
    /// Learning-rate schedule: constant, step:EVERY:GAMMA, cosine[:MIN_LR] over the run's epochs (or steps), or warmup-cosine:WARMUP:MIN_LR per step [default: constant; a GPT: warmup-cosine:100:1e-4].
    #[arg(long)]
    schedule: Option<Schedule>,
    /// Rows per minibatch (windows, for text) [default: 32; a GPT: 12].
    #[arg(long, value_parser = cli::size)]
    batch_size: Option<usize>,
    /// Passes over the training data, in all [default: 20; --resume: the saved run's].
    #[arg(long, value_parser = cli::size)]
    epochs: Option<usize>,
    /// Train this many steps (minibatches) in all, in place of --epochs [a GPT's default: 2000; --resume: the saved run's].
    #[arg(long, value_parser = cli::size)]
    steps: Option<usize>,
    /// In a run by --steps, print the train and validation loss (and save) every N steps, and after the last [default: 250].
    #[arg(long, value_parser = cli::size)]
    eval_every: Option<usize>,
    /// Clip the gradients to this global L2 norm before each update, as PyTorch's clip_grad_norm_ [a GPT's default: 1.0].
    #[arg(long, value_parser = cli::positive)]
    grad_clip: Option<f64>,
    /// A GPT's context, in characters (text data) [default: 64].
    #[arg(long, value_parser = cli::size)]
    block_size: Option<usize>,
    /// AdamW's β₂, for a GPT (text data) [default: 0.99].
    #[arg(long, value_parser = cli::fraction)]
    beta2: Option<f64>,
    /// A GPT's dropout on its embeddings and on each attention and MLP output (text data), in [0, 1) [default: 0].
    #[arg(long, value_parser = cli::fraction)]
    dropout: Option<f64>,
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
    pub(super) run_on: RunOn,
    /// Save the trained model (.safetensors, with everything needed to rebuild it and resume), after every epoch (or --eval-every steps).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Stop when the validation loss has not improved for N epochs (or evaluations, in a run by --steps).
    #[arg(long, value_parser = cli::size)]
    patience: Option<usize>,
    /// Keep the best epoch's (or evaluation's) model at --save (the last one, to resume, beside it as NAME.last.safetensors).
    #[arg(long, requires = "save")]
    keep_best: bool,
    /// Write one CSV row per epoch (or evaluation): epoch or step,lr,train_loss,valid_loss,valid_accuracy,seconds.
    #[arg(long)]
    history: Option<PathBuf>,
    /// Draw the loss curves to PATH.svg.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Write the final numbers as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

/// `nn train` as one of the ranks MPI started (or as the only process). An error every rank
/// shares is printed by rank 0; one of a rank's own is printed with its rank, and ends every rank
/// (`MPI_Abort`), which would otherwise wait for it in the next collective.
pub(super) fn train(args: TrainArgs) -> Result<ExitCode> {
    let session = Session::start()?;
    let ranks = session.ranks();
    match train_on(args, ranks) {
        Err(e) if ranks.is_parallel() => {
            let shared = Shared::raised();
            let line = simple_nn::error::one_line(e.as_ref());
            match (shared, ranks.is_root()) {
                (true, true) => eprintln!("error: {line}"),
                (true, false) => {}
                (false, _) => eprintln!("error: rank {} of {}: {line}", ranks.rank(), ranks.size()),
            }
            if !shared {
                ranks.abort(1)
            }
            // Every rank knows: each ends as it would (the session closes MPI on the way out).
            Ok(ExitCode::FAILURE)
        }
        result => result,
    }
}

fn train_on(args: TrainArgs, ranks: Ranks) -> Result<ExitCode> {
    // Rank 0 alone prints.
    let say = |line: &dyn std::fmt::Display| {
        if ranks.is_root() {
            println!("{line}")
        }
    };
    args.max_model_memory
        .into_iter()
        .for_each(memory::set_model_budget);
    atomic::check_all_writable([&args.history, &args.plot, &args.metrics_json])?;
    args.save.as_deref().map(io::check_model_path).transpose()?;
    args.plot.as_deref().map(plot::check_path).transpose()?;
    let resume = args.resume.as_deref();
    let dtype = (args.run_on.dtype.or(resume.and_then(io::resumed_dtype))).unwrap_or(DType::F32);
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
        steps: a.steps,
        eval_every: a.eval_every,
        grad_clip: a.grad_clip,
        block_size: a.block_size,
        beta2: a.beta2,
        dropout: a.dropout,
    };
    let data = &args.data.source(args.target.as_deref())?;
    let mut run = match resume {
        Some(path) => Run::resume(path, data, &asked, args.kernels, dtype, &dev)?,
        None => Run::new(data, &asked, args.kernels, dtype, &dev)?,
    };
    run.on_ranks(ranks)?;
    // On GPUs the ranks sum their gradients through NCCL.
    #[cfg(feature = "nccl")]
    if ranks.is_parallel() && dev.is_cuda() {
        simple_nn::dist::nccl::join(ranks, &dev)?;
    }
    run.training.fit.progress = ranks.is_root();
    let on = device::name(&dev);
    let numbers = match run.spec.bf16_products() {
        true => "bf16 products of f32 weights",
        false => dtype.as_str(),
    };
    let many = (ranks.is_parallel()).then(|| format!(", {} ranks", ranks.size()));
    let on = format!("{on}{}", many.unwrap_or_default());
    say(&format!(
        "simple-nn nn: {run}, on {data}, {numbers} on {on}"
    ));
    let nothing = args.save.is_none().then(|| run.keeps_nothing_line(resume));
    run.notes.iter().chain(&nothing).for_each(|note| say(note));
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
    let unit = run.unit();
    let fitted = run.fit(last.as_deref(), best, stop, |e| {
        say(&report::epoch_line(e, unit));
        Ok(())
    })?;
    if fitted.stopped {
        say(&run.stopped_line(last.as_deref(), best, data));
        // A rank stopped by another's signal ends as that one does.
        let code = match signal.load(Ordering::Relaxed) {
            0 => 130,
            code => code,
        };
        return Ok(ExitCode::from(code as u8));
    }
    (run.early_lines(&fitted, best, last.as_deref()).iter()).for_each(|l| say(l));
    let epochs = fitted.epochs;
    let summary = run.summary(&epochs, start.elapsed().as_secs_f64())?;
    say(&summary);
    if !ranks.is_root() {
        return Ok(ExitCode::SUCCESS);
    }

    let history = report::history_csv(&epochs, unit);
    (args.history.iter()).try_for_each(|path| atomic::write(path, history.as_bytes()))?;
    (args.plot.iter()).try_for_each(|p| plot::loss_curves(p, &run.title(data), &epochs, unit))?;
    (args.save.iter()).for_each(|path| println!("saved the model to {}", path.display()));
    (args.metrics_json.iter()).try_for_each(|path| report::write_metrics(path, &summary))?;
    Ok(ExitCode::SUCCESS)
}
