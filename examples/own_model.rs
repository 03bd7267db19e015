//! Your own model, as the README shows it: a program over the library alone, compiled by
//! `cargo build --examples` and run by the tests, so that the README's copy always works.

use simple_nn::candle::{DType, Device, Result};
use simple_nn::data::{Part, Source, TargetKind};
use simple_nn::nn::{self, FitConfig, Mlp, MlpConfig};

fn main() -> Result<()> {
    let data = Source::Spirals(300).load(Part::Train, TargetKind::Classes)?;
    let (train, valid) = data.split(0.1, 0)?;
    let config = MlpConfig {
        sizes: vec![2, 64, 64, 2],
        ..Default::default()
    };
    let (mlp, varmap) = Mlp::seeded(config, 0, DType::F32, &Device::Cpu)?;
    let settings = FitConfig {
        lr: 0.01,
        epochs: 40,
        ..Default::default()
    };
    let epochs = nn::fit(&mlp, &varmap, &train, &valid, settings, |epoch| {
        println!(
            "epoch {}: validation accuracy {:?}",
            epoch.epoch, epoch.valid_accuracy
        );
        Ok(())
    })?;
    let seconds: f64 = epochs.iter().map(|e| e.seconds).sum();
    let samples_per_sec = (train.len() * epochs.len()) as f64 / seconds;
    println!("{samples_per_sec:.0} samples/s");
    Ok(())
}
