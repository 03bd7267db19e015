//! Optimizers and learning-rate schedules.
//!
//! [`OptimizerConfig`] names an optimizer with its own settings (saved with a
//! model, so that training resumes with them); [`AnyOptimizer`] is the running
//! one. [`SgdMomentum`] takes the steps of `torch.optim.SGD(params, lr, momentum,
//! nesterov=…, weight_decay=…)` with dampening 0, which candle-nn lacks; the
//! tests check it against numbers printed by PyTorch. With momentum 0 it takes
//! candle-nn's `SGD` steps bit for bit. [`Schedule`] gives the learning rate of
//! each epoch.

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, SGD};

use crate::kernels::{FusedSgd, Kernels};

named_enum! {
    /// The optimizers by name, as `--optimizer` takes them.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OptimizerKind("optimizer") {
        /// Plain SGD.
        Sgd = "sgd",
        /// SGD with momentum ([`SgdMomentum`]).
        Momentum = "momentum",
        /// AdamW (candle-nn's).
        AdamW = "adamw",
    }
}

/// An optimizer and its settings (the learning rate is the training's, see [`super::FitConfig`]).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum OptimizerConfig {
    /// Plain SGD: `w −= lr·∂loss/∂w` (candle-nn's, or the fused in-place one).
    Sgd,
    /// SGD with momentum, as PyTorch's.
    Momentum {
        /// How much of the previous update each step keeps, in [0, 1) (0.9 is usual).
        momentum: f64,
        /// Look ahead along the velocity (Nesterov momentum).
        nesterov: bool,
        /// L2 penalty: `weight_decay·w` is added to each gradient.
        weight_decay: f64,
    },
    /// AdamW with PyTorch's betas (0.9, 0.999) and epsilon 1e-8.
    #[serde(rename = "adamw")]
    AdamW {
        /// Decoupled weight decay.
        weight_decay: f64,
    },
}

impl Default for OptimizerConfig {
    /// AdamW without weight decay.
    fn default() -> Self {
        OptimizerConfig::AdamW { weight_decay: 0.0 }
    }
}

impl OptimizerConfig {
    /// The optimizer `kind` with these settings; those it has no use for are left out.
    pub fn new(kind: OptimizerKind, momentum: f64, nesterov: bool, weight_decay: f64) -> Self {
        match kind {
            OptimizerKind::Sgd => OptimizerConfig::Sgd,
            OptimizerKind::Momentum => OptimizerConfig::Momentum {
                momentum,
                nesterov,
                weight_decay,
            },
            OptimizerKind::AdamW => OptimizerConfig::AdamW { weight_decay },
        }
    }

    /// Which optimizer this is.
    pub fn kind(&self) -> OptimizerKind {
        match self {
            OptimizerConfig::Sgd => OptimizerKind::Sgd,
            OptimizerConfig::Momentum { .. } => OptimizerKind::Momentum,
            OptimizerConfig::AdamW { .. } => OptimizerKind::AdamW,
        }
    }

    /// Checks the settings with learning rate `lr`, before any work is done.
    pub fn validate(&self, lr: f64) -> Result<()> {
        if !(lr.is_finite() && lr > 0.0) {
            fail!("learning rate {lr} is not a positive finite number: use e.g. 0.001 for adamw, 0.1 for sgd")
        }
        match *self {
            OptimizerConfig::Sgd => Ok(()),
            OptimizerConfig::Momentum {
                momentum,
                nesterov,
                weight_decay,
            } => MomentumConfig {
                lr,
                momentum,
                nesterov,
                weight_decay,
            }
            .validate(),
            OptimizerConfig::AdamW { weight_decay } => check_weight_decay(weight_decay),
        }
    }
}

fn check_weight_decay(weight_decay: f64) -> Result<()> {
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        fail!("weight decay {weight_decay} is not a non-negative number: use e.g. 0.01")
    }
    Ok(())
}

/// The running optimizer of a training: any of [`OptimizerConfig`]'s, on the model's kernels.
#[derive(Debug)]
pub enum AnyOptimizer {
    /// candle-nn's SGD (stock kernels).
    Sgd(SGD),
    /// The in-place SGD of the fused kernels: the same steps, bit for bit.
    FusedSgd(FusedSgd),
    /// SGD with momentum.
    Momentum(SgdMomentum),
    /// candle-nn's AdamW.
    AdamW(AdamW),
}

impl AnyOptimizer {
    /// The optimizer `config` over `vars` at learning rate `lr`; plain SGD runs in place on the fused kernels.
    pub fn new(
        vars: Vec<Var>,
        config: &OptimizerConfig,
        lr: f64,
        kernels: Kernels,
    ) -> Result<Self> {
        config.validate(lr)?;
        Ok(match *config {
            OptimizerConfig::Sgd if kernels == Kernels::Fused => {
                AnyOptimizer::FusedSgd(FusedSgd::new(vars, lr)?)
            }
            OptimizerConfig::Sgd => AnyOptimizer::Sgd(SGD::new(vars, lr)?),
            OptimizerConfig::Momentum {
                momentum,
                nesterov,
                weight_decay,
            } => AnyOptimizer::Momentum(SgdMomentum::new(
                vars,
                MomentumConfig {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                },
            )?),
            OptimizerConfig::AdamW { weight_decay } => AnyOptimizer::AdamW(AdamW::new(
                vars,
                ParamsAdamW {
                    lr,
                    weight_decay,
                    ..Default::default()
                },
            )?),
        })
    }

    /// Applies the gradients in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(o) => o.step(grads),
            AnyOptimizer::FusedSgd(o) => o.step(grads),
            AnyOptimizer::Momentum(o) => o.step(grads),
            AnyOptimizer::AdamW(o) => o.step(grads),
        }
    }

    /// Back-propagates `loss` and applies its gradients.
    pub fn backward_step(&mut self, loss: &Tensor) -> Result<()> {
        self.step(&loss.backward()?)
    }

    /// The learning rate now.
    pub fn learning_rate(&self) -> f64 {
        match self {
            AnyOptimizer::Sgd(o) => o.learning_rate(),
            AnyOptimizer::FusedSgd(o) => o.learning_rate(),
            AnyOptimizer::Momentum(o) => o.learning_rate(),
            AnyOptimizer::AdamW(o) => o.learning_rate(),
        }
    }

    /// Sets the learning rate of the next steps.
    pub fn set_learning_rate(&mut self, lr: f64) {
        match self {
            AnyOptimizer::Sgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::FusedSgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::Momentum(o) => o.set_learning_rate(lr),
            AnyOptimizer::AdamW(o) => o.set_learning_rate(lr),
        }
    }
}

/// Settings of [`SgdMomentum`], with PyTorch's meanings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MomentumConfig {
    /// The learning rate: each step moves a weight by `-lr` times its update.
    pub lr: f64,
    /// How much of the previous update each step keeps (0 is plain SGD, 0.9 is usual).
    pub momentum: f64,
    /// Look ahead along the velocity (Nesterov momentum); needs `momentum > 0`.
    pub nesterov: bool,
    /// L2 penalty: `weight_decay·w` is added to each gradient.
    pub weight_decay: f64,
}

impl MomentumConfig {
    /// Plain momentum with these `lr` and `momentum`, no Nesterov, no weight decay.
    pub fn new(lr: f64, momentum: f64) -> Self {
        Self {
            lr,
            momentum,
            nesterov: false,
            weight_decay: 0.0,
        }
    }

    /// Checks that the settings are finite, not negative, and the momentum below 1.
    ///
    /// PyTorch also accepts a momentum of 1 or more, but then the velocity never
    /// forgets a gradient and training diverges; the only range that trains is [0, 1).
    pub fn validate(&self) -> Result<()> {
        for (name, value) in [
            ("learning rate", self.lr),
            ("weight decay", self.weight_decay),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                fail!("invalid {name} {value}: use a finite number ≥ 0");
            }
        }
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            fail!(
                "invalid momentum {}: use a number in [0, 1), e.g. 0.9",
                self.momentum
            );
        }
        if self.nesterov && self.momentum == 0.0 {
            fail!("Nesterov momentum needs momentum > 0: set a momentum (e.g. 0.9) or turn Nesterov off");
        }
        Ok(())
    }
}

/// SGD with momentum, as torch.optim.SGD(lr, momentum, nesterov, weight_decay) with dampening 0.
///
/// Per weight `p` with gradient `grad`:
/// `g = grad + weight_decay·p`; the velocity `buf = g` on the first step,
/// else `buf = momentum·buf + g`; then `g = g + momentum·buf` with Nesterov,
/// else `g = buf`; and `p −= lr·g`.
#[derive(Debug)]
pub struct SgdMomentum {
    vars: Vec<Var>,
    config: MomentumConfig,
    velocity: Vec<Option<Tensor>>,
}

impl SgdMomentum {
    /// The settings in use, with the learning rate as last set.
    pub fn config(&self) -> MomentumConfig {
        self.config
    }

    /// The variables being optimised, in order.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }
}

impl Optimizer for SgdMomentum {
    type Config = MomentumConfig;

    fn new(vars: Vec<Var>, config: MomentumConfig) -> Result<Self> {
        config.validate()?;
        let vars: Vec<Var> = vars.into_iter().filter(|v| v.dtype().is_float()).collect();
        let velocity = vec![None; vars.len()];
        Ok(Self {
            vars,
            config,
            velocity,
        })
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        let MomentumConfig {
            lr,
            momentum,
            nesterov,
            weight_decay,
        } = self.config;
        for (var, buf) in self.vars.iter().zip(&mut self.velocity) {
            let Some(grad) = grads.get(var) else {
                continue;
            };
            // Detached, so that the velocity kept between steps holds no autograd graph.
            let p = var.as_tensor().detach();
            let mut g = grad.detach();
            if weight_decay != 0.0 {
                g = (g + (&p * weight_decay)?)?;
            }
            if momentum != 0.0 {
                let next = match buf.take() {
                    None => g.clone(),
                    Some(prev) => ((prev * momentum)? + &g)?,
                };
                g = if nesterov {
                    (g + (&next * momentum)?)?
                } else {
                    next.clone()
                };
                *buf = Some(next);
            }
            var.set(&p.sub(&(g * lr)?)?)?;
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.config.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.config.lr = lr
    }
}

/// How the learning rate changes over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
#[serde(tag = "name", rename_all = "kebab-case")]
pub enum Schedule {
    /// The base rate throughout (`constant`).
    #[default]
    Constant,
    /// The base rate times `gamma` after each `every` epochs (`step:EVERY:GAMMA`); `every` 0 never decays.
    Step {
        /// Epochs between two decays.
        every: usize,
        /// The factor applied at each decay.
        gamma: f64,
    },
    /// Half a cosine from the base rate down to `min_lr` over `epochs` epochs, then `min_lr` (`cosine[:MIN_LR]`).
    Cosine {
        /// Epochs the decay lasts; [`Schedule::with_epochs`] fills it in (0: `min_lr` from the start).
        epochs: usize,
        /// The rate at the end of the decay and after it.
        min_lr: f64,
    },
}

impl Schedule {
    /// The learning rate of `epoch` (counted from 0) for a base rate `base_lr`.
    pub fn lr(&self, base_lr: f64, epoch: usize) -> f64 {
        match *self {
            Schedule::Constant => base_lr,
            Schedule::Step { every, gamma } => {
                let decays = epoch.checked_div(every).unwrap_or(0);
                base_lr * gamma.powi(i32::try_from(decays).unwrap_or(i32::MAX))
            }
            Schedule::Cosine { epochs, min_lr } => {
                if epoch >= epochs {
                    return min_lr;
                }
                let progress = epoch as f64 / epochs as f64;
                min_lr + (base_lr - min_lr) * (1.0 + (std::f64::consts::PI * progress).cos()) / 2.0
            }
        }
    }

    /// The same schedule for a run of `epochs` epochs: sets the length of a cosine decay.
    pub fn with_epochs(self, epochs: usize) -> Self {
        match self {
            Schedule::Cosine { min_lr, .. } => Schedule::Cosine { epochs, min_lr },
            other => other,
        }
    }
}

const SCHEDULES: &str = "constant, step:EVERY:GAMMA (e.g. step:10:0.5), cosine or cosine:MIN_LR";

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
                    .ok_or_else(|| bad("EVERY must be a whole number of epochs ≥ 1"))?;
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
            _ => Err(format!("unknown schedule '{s}': use {SCHEDULES}")),
        }
    }
}

/// Prints the form [`FromStr`](std::str::FromStr) reads; a cosine's `epochs` is not part of it.
impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Constant => f.write_str("constant"),
            Schedule::Step { every, gamma } => write!(f, "step:{every}:{gamma}"),
            Schedule::Cosine { min_lr, .. } if *min_lr == 0.0 => f.write_str("cosine"),
            Schedule::Cosine { min_lr, .. } => write!(f, "cosine:{min_lr}"),
        }
    }
}
