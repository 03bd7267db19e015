//! `nn generate`: text from a trained GPT, written to standard output as it is drawn.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use candle_core::DType;
use clap::Args;
use simple_nn::nn::{self, Sampling};
use simple_nn::run::load_gpt;
use simple_nn::{cli, DeviceSpec};

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub(super) struct GenerateArgs {
    /// A GPT saved by `train --data text:PATH --save`.
    #[arg(long)]
    model: PathBuf,
    /// The text to go on from, in the model's characters [default: a newline, as nanoGPT's sample.py].
    #[arg(long, default_value = "\n")]
    prompt: String,
    /// Characters to draw after the prompt.
    #[arg(long, default_value_t = 500, value_parser = cli::size)]
    tokens: usize,
    /// Divides the logits: below 1 more conservative, above 1 more random.
    #[arg(long, default_value_t = 0.8, value_parser = cli::positive)]
    temperature: f64,
    /// Draw only from the K most likely characters.
    #[arg(long, value_parser = cli::size)]
    top_k: Option<usize>,
    /// Seed of the draws: the same seed gives the same text.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// cpu, cuda, cuda:N, metal or auto.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// CPU threads for candle (default: RAYON_NUM_THREADS if set, else the cores not busy with other processes at start-up).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(super) threads: Option<u32>,
}

pub(super) fn generate(args: GenerateArgs) -> Result<()> {
    let (spec, gpt, dev) = load_gpt(&args.model, args.device, DType::F32)?;
    let Some(text) = &spec.gpt else {
        anyhow::bail!("model '{}' describes no vocabulary", args.model.display())
    };
    let vocabulary = &text.vocabulary;
    let prompt = vocabulary.encode(&args.prompt, "the prompt")?;
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        seed: args.seed,
    };
    let mut out = std::io::stdout().lock();
    out.write_all(args.prompt.as_bytes())?;
    out.flush()?;
    nn::generate(&gpt, &prompt, args.tokens, &sampling, &dev, |id| {
        let c = vocabulary.decode(&[id])?;
        let written = out.write_all(c.as_bytes()).and_then(|()| out.flush());
        written.map_err(|e| simple_nn::candle::Error::Msg(format!("cannot write the text: {e}")))
    })?;
    writeln!(out)?;
    Ok(())
}
