//! Optimizers.
//!
//! [`OptimizerConfig`] names an optimizer with its own settings (saved with a
//! model, so that training resumes with them); [`AnyOptimizer`] is the running
//! one. [`SgdMomentum`] takes the steps of `torch.optim.SGD(params, lr, momentum,
//! nesterov=…, weight_decay=…)` with dampening 0, which candle-nn lacks; the
//! tests check it against numbers printed by PyTorch. With momentum 0 it takes
//! candle-nn's `SGD` steps bit for bit. The learning rate of each step comes from
//! a [`super::Schedule`].

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW, VarMap, SGD};

use super::grouped_adamw::{self, GroupedAdamW};
use crate::kernels::{flush_subnormals, FusedSgd, Kernels};

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
    /// nanoGPT's AdamW ([`GroupedAdamW`]): weight decay only on tensors of two or more
    /// dimensions, β₂ settable, updated in place on the CPU.
    #[serde(rename = "adamw-groups")]
    AdamWGroups {
        /// Decoupled weight decay of the tensors of two or more dimensions.
        weight_decay: f64,
        /// The second moment's decay (nanoGPT's `shakespeare_char`: 0.99).
        beta2: f64,
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
            OptimizerConfig::AdamW { .. } | OptimizerConfig::AdamWGroups { .. } => {
                OptimizerKind::AdamW
            }
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
            OptimizerConfig::AdamWGroups {
                weight_decay,
                beta2,
            } => grouped_adamw::validate(&ParamsAdamW {
                lr,
                weight_decay,
                beta2,
                ..Default::default()
            }),
        }
    }
}

fn check_weight_decay(weight_decay: f64) -> Result<()> {
    if !(weight_decay.is_finite() && weight_decay >= 0.0) {
        fail!("weight decay {weight_decay} is not a non-negative number: use e.g. 0.01")
    }
    Ok(())
}

/// What an optimizer carries from one step to the next, to save with a model and restore on
/// resume: the steps taken, and tensors named `SLOT.PARAMETER` (`velocity.layers.0.weight`,
/// `m.layers.0.weight`, …).
#[derive(Debug, Clone, Default)]
pub struct OptimizerState {
    /// Steps taken (AdamW's bias correction depends on it).
    pub steps: u64,
    /// The running tensors, by name.
    pub tensors: Vec<(String, Tensor)>,
}

/// The variables of `varmap` with their names, sorted by name: an order that is the same in every
/// run (the `VarMap`'s own is not), so that optimizer state can be saved and found again by name.
pub fn named_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let vars = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("the VarMap's lock is poisoned".into()))?;
    let mut named: Vec<(String, Var)> = vars.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(named)
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
    /// nanoGPT's AdamW.
    GroupedAdamW(GroupedAdamW),
}

impl AnyOptimizer {
    /// The optimizer `config` over the named `vars` at learning rate `lr`; plain SGD runs in place
    /// on the fused kernels.
    pub fn new(
        vars: Vec<(String, Var)>,
        config: &OptimizerConfig,
        lr: f64,
        kernels: Kernels,
    ) -> Result<Self> {
        config.validate(lr)?;
        let (names, vars): (Vec<String>, Vec<Var>) = vars.into_iter().unzip();
        Ok(match *config {
            OptimizerConfig::Sgd if kernels == Kernels::Fused => {
                AnyOptimizer::FusedSgd(FusedSgd::new(vars, lr)?)
            }
            OptimizerConfig::Sgd => AnyOptimizer::Sgd(SGD::new(vars, lr)?),
            OptimizerConfig::Momentum {
                momentum,
                nesterov,
                weight_decay,
            } => AnyOptimizer::Momentum(SgdMomentum::named(
                names,
                vars,
                MomentumConfig {
                    lr,
                    momentum,
                    nesterov,
                    weight_decay,
                },
            )?),
            OptimizerConfig::AdamW { weight_decay } => AnyOptimizer::AdamW(AdamW::named(
                names,
                vars,
                ParamsAdamW {
                    lr,
                    weight_decay,
                    ..Default::default()
                },
            )?),
            OptimizerConfig::AdamWGroups {
                weight_decay,
                beta2,
            } => AnyOptimizer::GroupedAdamW(GroupedAdamW::new(
                names.into_iter().zip(vars).collect(),
                ParamsAdamW {
                    lr,
                    weight_decay,
                    beta2,
                    ..Default::default()
                },
            )?),
        })
    }

    /// What the optimizer carries between steps (nothing for plain SGD).
    pub fn state(&self) -> OptimizerState {
        match self {
            AnyOptimizer::Sgd(_) | AnyOptimizer::FusedSgd(_) => OptimizerState::default(),
            AnyOptimizer::Momentum(o) => o.state(),
            AnyOptimizer::AdamW(o) => o.state(),
            AnyOptimizer::GroupedAdamW(o) => {
                let (steps, tensors) = o.state();
                OptimizerState { steps, tensors }
            }
        }
    }

    /// Takes up `state`, as [`state`](Self::state) gave it; an error names a tensor that does not fit.
    pub fn restore(&mut self, state: &OptimizerState) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(_) | AnyOptimizer::FusedSgd(_) => Ok(()),
            AnyOptimizer::Momentum(o) => o.restore(state),
            AnyOptimizer::AdamW(o) => o.restore(state),
            AnyOptimizer::GroupedAdamW(o) => o.restore(state.steps, &state.tensors),
        }
    }

    /// Applies the gradients in `grads`.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        match self {
            AnyOptimizer::Sgd(o) => o.step(grads),
            AnyOptimizer::FusedSgd(o) => o.step(grads),
            AnyOptimizer::Momentum(o) => o.step(grads),
            AnyOptimizer::AdamW(o) => o.step(grads),
            AnyOptimizer::GroupedAdamW(o) => o.step(grads),
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
            AnyOptimizer::GroupedAdamW(o) => o.learning_rate(),
        }
    }

    /// Sets the learning rate of the next steps.
    pub fn set_learning_rate(&mut self, lr: f64) {
        match self {
            AnyOptimizer::Sgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::FusedSgd(o) => o.set_learning_rate(lr),
            AnyOptimizer::Momentum(o) => o.set_learning_rate(lr),
            AnyOptimizer::AdamW(o) => o.set_learning_rate(lr),
            AnyOptimizer::GroupedAdamW(o) => o.set_learning_rate(lr),
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
/// else `g = buf`; and `p −= lr·g`. A velocity that goes subnormal becomes 0
/// ([`flush_subnormals`]).
#[derive(Debug)]
pub struct SgdMomentum {
    vars: Vec<Var>,
    names: Vec<String>,
    config: MomentumConfig,
    velocity: Vec<Option<Tensor>>,
}

impl SgdMomentum {
    /// The optimizer over `vars`, called `names` in its saved state.
    pub fn named(names: Vec<String>, vars: Vec<Var>, config: MomentumConfig) -> Result<Self> {
        config.validate()?;
        let (names, vars): (Vec<String>, Vec<Var>) = names
            .into_iter()
            .zip(vars)
            .filter(|(_, v)| v.dtype().is_float())
            .unzip();
        let velocity = vec![None; vars.len()];
        Ok(Self {
            vars,
            names,
            config,
            velocity,
        })
    }

    /// The velocities so far, as `velocity.NAME`.
    pub fn state(&self) -> OptimizerState {
        let tensors = self
            .names
            .iter()
            .zip(&self.velocity)
            .filter_map(|(name, v)| Some((format!("velocity.{name}"), v.clone()?)))
            .collect();
        OptimizerState { steps: 0, tensors }
    }

    /// Takes up the velocities of `state`.
    pub fn restore(&mut self, state: &OptimizerState) -> Result<()> {
        for (i, name) in self.names.iter().enumerate() {
            self.velocity[i] = find(state, &format!("velocity.{name}"), &self.vars[i])?;
        }
        Ok(())
    }

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
        let names = (0..vars.len()).map(|i| i.to_string()).collect();
        Self::named(names, vars, config)
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
                    Some(prev) => {
                        let next = ((prev * momentum)? + &g)?;
                        flush_subnormals(&next)?;
                        next
                    }
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

/// The tensor `name` of `state`, checked against `var`'s shape and moved to its device and dtype.
fn find(state: &OptimizerState, name: &str, var: &Var) -> Result<Option<Tensor>> {
    let Some((_, t)) = state.tensors.iter().find(|(n, _)| n == name) else {
        return Ok(None);
    };
    if t.dims() != var.dims() {
        fail!(
            "optimizer state '{name}' has shape {:?}, its parameter {:?}: the state belongs to another model",
            t.dims(),
            var.dims()
        )
    }
    Ok(Some(t.to_dtype(var.dtype())?.to_device(var.device())?))
}

/// AdamW as candle-nn's and PyTorch's (β₁ 0.9, β₂ 0.999, ε 1e-8 by default), whose moments and
/// step count can be saved and restored, so that a resumed run takes the same steps.
///
/// The arithmetic is candle-nn's `AdamW::step` operation for operation (the tests check the two
/// bit for bit), except that a moment that goes subnormal becomes 0, which keeps a long run as
/// fast as its first steps ([`flush_subnormals`]); candle-nn keeps its state private.
#[derive(Debug)]
pub struct AdamW {
    vars: Vec<Var>,
    names: Vec<String>,
    moments: Vec<(Tensor, Tensor)>,
    params: ParamsAdamW,
    steps: u64,
}

impl AdamW {
    /// The optimizer over `vars`, called `names` in its saved state.
    pub fn named(names: Vec<String>, vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let (names, vars): (Vec<String>, Vec<Var>) = names
            .into_iter()
            .zip(vars)
            .filter(|(_, v)| v.dtype().is_float())
            .unzip();
        let moments = vars
            .iter()
            .map(|v| Ok((v.zeros_like()?, v.zeros_like()?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            vars,
            names,
            moments,
            params,
            steps: 0,
        })
    }

    /// The moments as `m.NAME` and `v.NAME`, and the steps taken.
    pub fn state(&self) -> OptimizerState {
        let tensors = self
            .names
            .iter()
            .zip(&self.moments)
            .flat_map(|(name, (m, v))| {
                [
                    (format!("m.{name}"), m.clone()),
                    (format!("v.{name}"), v.clone()),
                ]
            })
            .collect();
        OptimizerState {
            steps: self.steps,
            tensors,
        }
    }

    /// Takes up the moments and step count of `state`.
    pub fn restore(&mut self, state: &OptimizerState) -> Result<()> {
        for (i, name) in self.names.iter().enumerate() {
            let var = &self.vars[i];
            let (m, v) = &mut self.moments[i];
            if let Some(t) = find(state, &format!("m.{name}"), var)? {
                *m = t;
            }
            if let Some(t) = find(state, &format!("v.{name}"), var)? {
                *v = t;
            }
        }
        self.steps = state.steps;
        Ok(())
    }
}

impl Optimizer for AdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let names = (0..vars.len()).map(|i| i.to_string()).collect();
        Self::named(names, vars, params)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.steps += 1;
        let ParamsAdamW {
            lr,
            beta1,
            beta2,
            eps,
            weight_decay,
        } = self.params;
        let step = i32::try_from(self.steps).unwrap_or(i32::MAX);
        let scale_m = 1f64 / (1f64 - beta1.powi(step));
        let scale_v = 1f64 / (1f64 - beta2.powi(step));
        for (theta, (m, v)) in self.vars.iter().zip(&mut self.moments) {
            if let Some(g) = grads.get(theta) {
                let next_m = ((&*m * beta1)? + (g * (1.0 - beta1))?)?;
                let next_v = ((&*v * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
                flush_subnormals(&next_m)?;
                flush_subnormals(&next_v)?;
                let m_hat = (&next_m * scale_m)?;
                let v_hat = (&next_v * scale_v)?;
                let next_theta = (theta.as_tensor() * (1f64 - lr * weight_decay))?;
                let adjusted_grad = (m_hat / (v_hat.sqrt()? + eps)?)?;
                theta.set(&(next_theta - (adjusted_grad * lr)?)?)?;
                (*m, *v) = (next_m, next_v);
            }
        }
        Ok(())
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }
}
