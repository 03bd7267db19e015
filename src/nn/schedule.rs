//! Learning-rate schedules: the rate of each epoch, or of each step.
//!
//! A run counts its schedule in its own unit: an epoch run (`--epochs`) in epochs, a step run
//! (`--steps`) in steps, so that `cosine` decays over the run's length either way and
//! `step:EVERY:GAMMA` decays every EVERY epochs or steps. `warmup-cosine:WARMUP:MIN_LR`,
//! nanoGPT's `get_lr` ([`WarmupCosine`]), always counts steps: an epoch run's length in steps is
//! its epochs times its batches per epoch.

use candle_core::Result;

use super::warmup_cosine::WarmupCosine;

/// How the learning rate changes over a run.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Schedule {
    /// The base rate throughout (`constant`).
    #[default]
    Constant,
    /// The base rate times `gamma` after each `every` epochs or steps (`step:EVERY:GAMMA`); `every` 0 never decays.
    Step {
        /// Epochs (or steps) between two decays.
        every: usize,
        /// The factor applied at each decay.
        gamma: f64,
    },
    /// Half a cosine from the base rate down to `min_lr` over `epochs` epochs (or steps, in a
    /// step run), then `min_lr` (`cosine[:MIN_LR]`).
    Cosine {
        /// The units the decay lasts; [`Schedule::with_length`] fills it in (0: `min_lr` from the start).
        epochs: usize,
        /// The rate at the end of the decay and after it.
        min_lr: f64,
    },
    /// A linear warm-up, then half a cosine down to a floor, per step (`warmup-cosine:WARMUP:MIN_LR`).
    WarmupCosine(WarmupCosine),
}

impl Schedule {
    /// The learning rate for a base rate `base_lr` at `unit` (the epoch, or in a step run the
    /// step, counted from 0) and at `step`, the steps taken before this one.
    pub fn lr(&self, base_lr: f64, unit: usize, step: usize) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            Schedule::Step { every, gamma } => {
                let decays = unit.checked_div(every).unwrap_or(0);
                base_lr * gamma.powi(i32::try_from(decays).unwrap_or(i32::MAX))
            }
            Schedule::Cosine { epochs, min_lr } => {
                if unit >= epochs {
                    return min_lr;
                }
                let progress = unit as f64 / epochs as f64;
                min_lr + (base_lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
            Schedule::WarmupCosine(w) => w.lr(base_lr, step),
        }
    }

    /// Whether the rate can change within an epoch (a per-step schedule).
    pub fn is_per_step(&self) -> bool {
        matches!(self, Schedule::WarmupCosine(_))
    }

    /// Checks, before any work, that the schedule can run: a cosine needs its length, which
    /// [`with_length`](Self::with_length) sets (parsed without one it would train at `min_lr`
    /// from the first epoch, 0 for `cosine`).
    pub fn validate(&self) -> Result<()> {
        match self {
            Schedule::Cosine { epochs: 0, .. } => fail!("the cosine schedule has no length: set it with Schedule::with_length (the command line sets it from --epochs or --steps)"),
            Schedule::WarmupCosine(w) if w.steps == 0 => fail!("the warmup-cosine schedule has no length: set it with Schedule::with_length (the command line sets it from the run's steps)"),
            _ => Ok(()),
        }
    }

    /// The same schedule for a run of `units` epochs (or steps, in a step run) and `steps`
    /// steps in all: sets the length of a cosine decay, and of a warm-up cosine's.
    pub fn with_length(self, units: usize, steps: usize) -> Self {
        match self {
            Schedule::Cosine { min_lr, .. } => Schedule::Cosine {
                epochs: units,
                min_lr,
            },
            Schedule::WarmupCosine(w) => Schedule::WarmupCosine(w.with_steps(steps)),
            other => other,
        }
    }
}

const SCHEDULES: &str = "constant, step:EVERY:GAMMA (e.g. step:10:0.5), cosine, cosine:MIN_LR or warmup-cosine:WARMUP:MIN_LR";

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split(':').collect();
        match parts[..] {
            ["constant"] => Ok(Schedule::Constant),
            ["step", every, gamma] => {
                let bad = |what: &str| format!("bad schedule '{s}': {what}, as in step:10:0.5");
                let every = every
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("EVERY must be a whole number of epochs (or steps) ≥ 1"))?;
                let gamma = gamma
                    .parse::<f64>()
                    .ok()
                    .filter(|g| g.is_finite() && *g > 0.0)
                    .ok_or_else(|| bad("GAMMA must be a finite number > 0"))?;
                Ok(Schedule::Step { every, gamma })
            }
            ["cosine"] => Ok(Schedule::Cosine {
                epochs: 0,
                min_lr: 0.0,
            }),
            ["cosine", min_lr] => match min_lr.parse::<f64>() {
                Ok(m) if m.is_finite() && m >= 0.0 => Ok(Schedule::Cosine {
                    epochs: 0,
                    min_lr: m,
                }),
                _ => Err(format!(
                    "bad schedule '{s}': MIN_LR must be a finite number ≥ 0, as in cosine:0.001"
                )),
            },
            ["warmup-cosine", ..] => s.parse().map(Schedule::WarmupCosine),
            _ => Err(format!("unknown schedule '{s}': use {SCHEDULES}")),
        }
    }
}

/// Prints the form [`FromStr`](std::str::FromStr) reads; a decay's length is not part of it.
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
            Schedule::Cosine { min_lr, .. } if *min_lr == 0.0 => f.write_str("cosine"),
            Schedule::Cosine { min_lr, .. } => write!(f, "cosine:{min_lr}"),
            Schedule::WarmupCosine(w) => write!(f, "{w}"),
        }
    }
}
