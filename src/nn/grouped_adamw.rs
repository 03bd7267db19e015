//! AdamW with nanoGPT's two parameter groups: weight decay on the tensors of two or more
//! dimensions (the projections' and embeddings' weights), none on the others (layer norms,
//! biases), and β₂ settable (nanoGPT's `shakespeare_char` uses 0.99).
//!
//! Each step is PyTorch's `torch.optim.AdamW` arithmetic ([`crate::kernels::adamw`]), in place on the
//! CPU. The moments are saved and restored under the names the crate's other AdamW uses
//! (`m.NAME`, `v.NAME`, in the parameter's shape), so a checkpoint resumes the same steps.

use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::backprop::GradStore;
use candle_core::{Result, Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};

use crate::kernels::adamw::{self, AdamWStep};

/// AdamW whose weight decay reaches only the tensors of two or more dimensions.
#[derive(Debug)]
pub struct GroupedAdamW {
    vars: Vec<Var>,
    names: Vec<String>,
    /// Per variable: whether it is in the decayed group.
    decays: Vec<bool>,
    /// Per variable: `m` and `v`, each of its shape.
    moments: Vec<(Tensor, Tensor)>,
    params: ParamsAdamW,
    steps: u64,
    /// Whether [`GroupedAdamW::state`] handed out the moments since the last step: they are
    /// updated in place, so the next step first copies them, leaving the saved state as it was.
    exported: AtomicBool,
}

/// Checks AdamW's settings: β₁ and β₂ in [0, 1), ε and the weight decay finite and ≥ 0.
pub fn validate(params: &ParamsAdamW) -> Result<()> {
    for (name, value) in [("beta1", params.beta1), ("beta2", params.beta2)] {
        if !(0.0..1.0).contains(&value) {
            fail!("AdamW's {name} {value} lies outside [0, 1): use e.g. 0.9 for beta1, 0.99 or 0.999 for beta2")
        }
    }
    for (name, value) in [
        ("epsilon", params.eps),
        ("weight decay", params.weight_decay),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            fail!("AdamW's {name} {value} is not a finite number ≥ 0: use e.g. 1e-8 for epsilon, 0.1 for weight decay")
        }
    }
    Ok(())
}

impl GroupedAdamW {
    /// The optimizer over the named `vars` (integer ones left out) with `params`.
    pub fn new(vars: Vec<(String, Var)>, params: ParamsAdamW) -> Result<Self> {
        validate(&params)?;
        let (names, vars): (Vec<String>, Vec<Var>) = vars
            .into_iter()
            .filter(|(_, v)| v.dtype().is_float())
            .unzip();
        let decays = vars.iter().map(|v| v.rank() >= 2).collect();
        let moments = vars
            .iter()
            .map(|v| Ok((v.zeros_like()?, v.zeros_like()?)))
            .collect::<Result<_>>()?;
        Ok(Self {
            vars,
            names,
            decays,
            moments,
            params,
            steps: 0,
            exported: AtomicBool::new(false),
        })
    }

    /// The names of the decayed group, then of the other, in the optimizer's order.
    pub fn groups(&self) -> (Vec<&str>, Vec<&str>) {
        let (mut decayed, mut other) = (Vec::new(), Vec::new());
        for (name, &decays) in self.names.iter().zip(&self.decays) {
            match decays {
                true => decayed.push(name.as_str()),
                false => other.push(name.as_str()),
            }
        }
        (decayed, other)
    }

    /// The settings, with the learning rate as last set.
    pub fn params(&self) -> &ParamsAdamW {
        &self.params
    }

    /// The steps taken, and the moments as `m.NAME` and `v.NAME` (an `OptimizerState`'s parts).
    pub fn state(&self) -> (u64, Vec<(String, Tensor)>) {
        self.exported.store(true, Ordering::Relaxed);
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
        (self.steps, tensors)
    }

    /// Goes on from `steps` steps with the moments among `tensors` (named as [`state`](Self::state)
    /// names them); an error names a tensor that does not fit.
    pub fn restore(&mut self, steps: u64, tensors: &[(String, Tensor)]) -> Result<()> {
        for ((name, var), (m, v)) in self.names.iter().zip(&self.vars).zip(&mut self.moments) {
            for (slot, moment) in [("m", m), ("v", v)] {
                let key = format!("{slot}.{name}");
                let Some((_, t)) = tensors.iter().find(|(n, _)| *n == key) else {
                    continue;
                };
                if t.dims() != var.dims() {
                    fail!(
                        "optimizer state '{key}' has shape {:?}, its parameter {:?}: the state belongs to another model",
                        t.dims(),
                        var.dims()
                    )
                }
                // A copy of its own: the steps update it in place.
                *moment = t.to_dtype(var.dtype())?.to_device(var.device())?.copy()?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

impl Optimizer for GroupedAdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect();
        GroupedAdamW::new(named, params)
    }

    fn step(&mut self, grads: &GradStore) -> Result<()> {
        if self.exported.swap(false, Ordering::Relaxed) {
            for (m, v) in &mut self.moments {
                (*m, *v) = (m.copy()?, v.copy()?);
            }
        }
        self.steps += 1;
        let p = &self.params;
        for ((var, moments), &decays) in self.vars.iter().zip(&mut self.moments).zip(&self.decays) {
            let Some(grad) = grads.get(var) else {
                continue;
            };
            let step = AdamWStep {
                lr: p.lr,
                beta1: p.beta1,
                beta2: p.beta2,
                eps: p.eps,
                weight_decay: if decays { p.weight_decay } else { 0.0 },
                step: self.steps,
            };
            *moments = adamw::step(var, grad, (&moments.0, &moments.1), &step)?;
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
