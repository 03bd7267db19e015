//! Generated data sets: N-bit parity (XOR of all bits) and two interleaved spirals.
//!
//! Both are small classification problems that a linear model cannot solve
//! and a hidden layer can, which makes them good first tests of a network.

use std::f64::consts::PI;

use candle_core::Result;

use super::{Samples, Targets};
use crate::rng::{self, Purpose, SplitMix64};

/// The most bits [`parity`] takes: 2^20 rows of 20 features is 80 MiB.
pub const MAX_PARITY_BITS: usize = 20;
/// The most points per spiral [`spirals`] makes.
pub const MAX_SPIRAL_POINTS: usize = 1_000_000;
/// The standard deviation of the noise added to each spiral coordinate.
pub const SPIRAL_NOISE: f64 = 0.02;

/// All 2^bits rows of 0/1 features (row r is r in binary, most significant bit first), labelled with the XOR of the bits.
pub fn parity(bits: usize) -> Result<Samples> {
    if !(1..=MAX_PARITY_BITS).contains(&bits) {
        fail!(
            "parity needs 1 to {MAX_PARITY_BITS} bits, got {bits}: pick a bit count in that range"
        );
    }
    let rows = 1usize << bits;
    let mut features = Vec::with_capacity(rows * bits);
    let mut labels = Vec::with_capacity(rows);
    for r in 0..rows {
        for j in (0..bits).rev() {
            features.push(((r >> j) & 1) as f32);
        }
        labels.push(r.count_ones() & 1);
    }
    Samples::new(features, bits, Targets::Classes { labels, classes: 2 })
}

/// Two interleaved spirals (classes 0 and 1) of `points_per_spiral` points each, 2 features in about [-1, 1].
///
/// Point i of class c: `t` uniform in [0, 1), radius `t`, angle
/// `3.5π·t + c·π`, plus noise of std [`SPIRAL_NOISE`] on each coordinate.
/// Rows alternate between the classes. The same seed gives the same points.
pub fn spirals(points_per_spiral: usize, seed: u64) -> Result<Samples> {
    if !(1..=MAX_SPIRAL_POINTS).contains(&points_per_spiral) {
        fail!(
            "spirals needs 1 to {MAX_SPIRAL_POINTS} points per spiral, got {points_per_spiral}: pick a count in that range"
        );
    }
    let mut rng = rng::stream(seed, Purpose::Synthetic, 0);
    let mut features = Vec::with_capacity(4 * points_per_spiral);
    let mut labels = Vec::with_capacity(2 * points_per_spiral);
    for _ in 0..points_per_spiral {
        for class in 0..2u32 {
            let t = rng.next_f64();
            let angle = 3.5 * PI * t + f64::from(class) * PI;
            let x = t * angle.cos() + SPIRAL_NOISE * normal(&mut rng);
            let y = t * angle.sin() + SPIRAL_NOISE * normal(&mut rng);
            features.push(x as f32);
            features.push(y as f32);
            labels.push(class);
        }
    }
    Samples::new(features, 2, Targets::Classes { labels, classes: 2 })
}

/// An approximately standard normal draw: the sum of 12 uniforms, less 6 (mean 0, variance 1).
fn normal(rng: &mut SplitMix64) -> f64 {
    (0..12).map(|_| rng.next_f64()).sum::<f64>() - 6.0
}
