//! `nn bench`: SGD steps of a network on one fixed random batch, timed; the workload of
//! `torch_mlp.py` (the default) or `torch_cnn.py`, refused before anything is allocated where it
//! would take more than the model's memory budget.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use simple_nn::data::memory;
use simple_nn::io::{atomic, report};
use simple_nn::nn::{Activation, Layers};
use simple_nn::{bench, cli, Kernels};

use super::RunOn;

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct BenchArgs {
    /// The shape of a sample: N features, or C,H,W for images.
    #[arg(long, default_value = "784", value_delimiter = ',', value_parser = cli::size)]
    inputs: Vec<usize>,
    /// Hidden layer sizes, comma-separated (ReLU after each).
    #[arg(long, default_value = "512,512", value_delimiter = ',', value_parser = cli::size)]
    hidden: Vec<usize>,
    /// The hidden layers in order, as `train --layers` takes them (in place of --hidden).
    #[arg(long)]
    layers: Option<Layers>,
    /// Classes (outputs).
    #[arg(long, default_value_t = 10, value_parser = cli::size)]
    classes: usize,
    /// Rows per batch.
    #[arg(long, default_value_t = 256, value_parser = cli::size)]
    batch_size: usize,
    /// Timed steps (after 3 warm-up steps).
    #[arg(long, default_value_t = 50, value_parser = cli::size)]
    steps: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.01, value_parser = cli::positive)]
    lr: f64,
    /// `fused` (one op per dense layer, per conv with its ReLU and max-pool, and for the loss; in-place SGD) or `stock` (candle's own ops and SGD).
    #[arg(long, default_value = "fused")]
    kernels: Kernels,
    #[command(flatten)]
    pub(super) run_on: RunOn,
    /// Also time forward and loss, backward, and update apart (synchronised between them).
    #[arg(long)]
    phases: bool,
    /// Refuse a network and batch whose steps would take more memory than this (512M, 2G, …) [default: half the available memory].
    #[arg(long, value_parser = cli::bytes)]
    max_model_memory: Option<u64>,
    /// Write samples_per_sec and ms_per_step as a flat JSON object.
    #[arg(long)]
    metrics_json: Option<PathBuf>,
}

pub(super) fn bench(args: BenchArgs) -> Result<()> {
    atomic::check_all_writable([&args.metrics_json])?;
    (args.max_model_memory.into_iter()).for_each(memory::set_model_budget);
    let (dtype, steps) = (
        args.run_on.dtype.unwrap_or(candle_core::DType::F32),
        args.steps,
    );
    let dev = args.run_on.device.open_for(dtype)?;
    let layers = (args.layers.clone()).unwrap_or(Layers::dense(&args.hidden, Activation::Relu));
    let config = bench::classifier(args.inputs.clone(), layers, args.classes, args.kernels);
    let (batch, lr) = (args.batch_size, args.lr);
    let workload = bench::Workload { config, batch, lr };
    let timing = workload.time(steps, args.phases, dtype, &dev)?;
    println!("{}", workload.lines(&timing, steps, dtype, &dev));
    if let Some(path) = &args.metrics_json {
        report::write_metrics(path, &workload.report(&timing, steps, dtype, &dev))?;
    }
    Ok(())
}
