//! `nn bench`: training steps timed, on one fixed random batch (an MLP or conv net: the
//! workload of `torch_mlp.py`, the default, or `torch_cnn.py`) or on a text's windows (a GPT:
//! the workload of `torch_gpt.py --bench`); refused before anything is allocated where it
//! would take more than the model's memory budget.

use std::path::PathBuf;

use anyhow::{bail, Result};
use candle_core::DType;
use clap::Args;
use simple_nn::data::text::{Corpus, TextOptions};
use simple_nn::data::{memory, Source};
use simple_nn::io::{atomic, report};
use simple_nn::nn::{Activation, GptConfig, Layers};
use simple_nn::run::TEXT_DEFAULTS;
use simple_nn::{bench, cli, Kernels};

use super::RunOn;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct BenchArgs {
    /// text:PATH: time a GPT's training steps on the text's windows (its vocabulary sizes the model).
    #[arg(long)]
    data: Option<Source>,
    /// The shape of a sample: N features, or C,H,W for images [default: 784].
    #[arg(long, value_delimiter = ',', value_parser = cli::size)]
    inputs: Option<Vec<usize>>,
    /// Hidden layer sizes, comma-separated (ReLU after each) [default: 512,512].
    #[arg(long, value_delimiter = ',', value_parser = cli::size, conflicts_with = "layers")]
    hidden: Option<Vec<usize>>,
    /// The hidden layers in order, as `train --layers` takes them (in place of --hidden); with text, gpt:N_LAYER:N_HEAD:N_EMBD [default: gpt:4:4:128].
    #[arg(long)]
    layers: Option<Layers>,
    /// Classes (outputs) [default: 10].
    #[arg(long, value_parser = cli::size)]
    classes: Option<usize>,
    /// Rows per batch (windows, with text) [default: 256; with text 12].
    #[arg(long, value_parser = cli::size)]
    batch_size: Option<usize>,
    /// A GPT's context in characters (with text) [default: 64].
    #[arg(long, value_parser = cli::size)]
    block_size: Option<usize>,
    /// Timed steps (after 3 warm-up steps).
    #[arg(long, default_value_t = 50, value_parser = cli::size)]
    steps: usize,
    /// SGD learning rate [default: 0.01] (a GPT trains as `nn train` does, with nanoGPT's AdamW and warm-up).
    #[arg(long, value_parser = cli::positive)]
    lr: Option<f64>,
    /// `fused` (one op per dense layer, per conv with its ReLU and max-pool, and for the loss; in-place SGD) or `stock` (candle's own ops and SGD).
    #[arg(long, default_value = "fused")]
    kernels: Kernels,
    #[command(flatten)]
    pub(super) run_on: RunOn,
    /// Also time the phases of a step apart (synchronised between them).
    #[arg(long)]
    phases: bool,
    /// Refuse a network and batch whose steps would take more memory than this (512M, 2G, …) [default: half the available memory].
    #[arg(long, value_parser = cli::bytes)]
    max_model_memory: Option<u64>,
    /// Write samples_per_sec (tokens_per_sec, with text) and ms_per_step as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

pub(super) fn bench(args: BenchArgs) -> Result<()> {
    atomic::check_all_writable([&args.metrics_json])?;
    (args.max_model_memory.into_iter()).for_each(memory::set_model_budget);
    let (dtype, steps) = (args.run_on.dtype.unwrap_or(DType::F32), args.steps);
    let dev = args.run_on.device.open_for(dtype)?;
    match &args.data {
        Some(Source::Text(path)) => return bench_text(&args, path, dtype, &dev),
        Some(other) => bail!("--data {other}: nn bench times a GPT on text:PATH, or a network on one random batch (without --data)"),
        None => {}
    }
    if let Some(block) = args.block_size {
        bail!("--block-size {block} is a setting of a GPT's bench (--data text:PATH): drop it")
    }
    let inputs = args.inputs.clone().unwrap_or(vec![784]);
    let hidden = args.hidden.clone().unwrap_or(vec![512, 512]);
    let layers = (args.layers.clone()).unwrap_or(Layers::dense(&hidden, Activation::Relu));
    let classes = args.classes.unwrap_or(10);
    let config = bench::classifier(inputs, layers, classes, args.kernels);
    let (batch, lr) = (args.batch_size.unwrap_or(256), args.lr.unwrap_or(0.01));
    let workload = bench::Workload { config, batch, lr };
    let timing = workload.time(steps, args.phases, dtype, &dev)?;
    println!("{}", workload.lines(&timing, steps, dtype, &dev));
    if let Some(path) = &args.metrics_json {
        report::write_metrics(path, &workload.report(&timing, steps, dtype, &dev))?;
    }
    Ok(())
}

/// `nn bench --data text:PATH`: a GPT's full training steps on the text's windows.
fn bench_text(
    args: &BenchArgs,
    path: &std::path::Path,
    dtype: DType,
    dev: &simple_nn::candle::Device,
) -> Result<()> {
    let given = [
        ("--inputs", args.inputs.is_some()),
        ("--hidden", args.hidden.is_some()),
        ("--classes", args.classes.is_some()),
        ("--lr", args.lr.is_some()),
        ("--kernels stock", args.kernels == Kernels::Stock),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        bail!(
            "{flag} is a setting of a network's bench, not of a GPT's on --data text:PATH: drop it"
        )
    }
    let t = TEXT_DEFAULTS;
    let (n_layer, n_head, n_embd) = match &args.layers {
        Some(layers) => match layers.gpt() {
            Some(shape) => shape,
            None => bail!(
                "--layers {layers}: a text trains a GPT: use --layers gpt:N_LAYER:N_HEAD:N_EMBD"
            ),
        },
        None => t.shape,
    };
    let block_size = args.block_size.unwrap_or(t.block_size);
    let corpus = Corpus::read(path, TextOptions::new(block_size))?;
    let config = GptConfig {
        vocab: corpus.vocabulary().len(),
        block_size,
        n_layer,
        n_head,
        n_embd,
        ..Default::default()
    };
    let workload = bench::GptWorkload {
        config,
        batch: args.batch_size.unwrap_or(t.batch_size),
        text: Some(corpus),
        ..Default::default()
    };
    let timing = workload.time(args.steps, args.phases, dtype, dev)?;
    println!("{}", workload.lines(&timing, args.steps, dtype, dev));
    if let Some(path) = &args.metrics_json {
        report::write_metrics(path, &workload.report(&timing, args.steps, dtype, dev))?;
    }
    Ok(())
}
