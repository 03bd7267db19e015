//! `SgdMomentum` takes PyTorch's steps; `Schedule` gives the rates it documents.
//!
//! The expected weights were printed by PyTorch 2 (float64) running this script:
//!
//! ```python
//! import torch
//! xs = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-1.0, 2.0, 1.0], [0.0, -0.75, 1.25]], dtype=torch.float64)
//! ys = torch.tensor([[1.0], [-0.5], [2.0], [0.25]], dtype=torch.float64)
//! for momentum, nesterov, weight_decay in [(0.9, False, 0.0), (0.9, True, 0.0), (0.9, False, 0.1), (0.5, True, 0.05)]:
//!     w = torch.tensor([[0.1, -0.2, 0.3]], dtype=torch.float64, requires_grad=True)
//!     b = torch.tensor([0.05], dtype=torch.float64, requires_grad=True)
//!     sgd = torch.optim.SGD([w, b], lr=0.05, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
//!     for _ in range(10):
//!         sgd.zero_grad()
//!         loss = ((xs @ w.t() + b - ys) ** 2).mean()
//!         loss.backward()
//!         sgd.step()
//!     print(momentum, nesterov, weight_decay, [repr(v) for v in w.flatten().tolist()], repr(b.item()))
//! ```
//!
//! which printed
//!
//! ```text
//! 0.9 False 0.0 ['-0.38605761451841086', '0.6184090293837228', '0.6373805554897122'] 0.09472348455050685
//! 0.9 True 0.0 ['-0.29197876203372464', '0.5072385174154309', '0.6466039454874966'] 0.08362969965027421
//! 0.9 False 0.1 ['-0.3642279839030783', '0.5730559400734203', '0.6054958109016881'] 0.10269169014353355
//! 0.5 True 0.05 ['-0.3073935834150359', '0.4481005286270424', '0.5899604998909345'] 0.17909030515683108
//! ```

use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::{Optimizer, SGD};
use simple_nn::nn::optim::{MomentumConfig, SgdMomentum};
use simple_nn::nn::Schedule;

const XS: [[f64; 3]; 4] = [
    [0.5, -1.0, 2.0],
    [1.5, 0.25, -0.5],
    [-1.0, 2.0, 1.0],
    [0.0, -0.75, 1.25],
];
const YS: [f64; 4] = [1.0, -0.5, 2.0, 0.25];

/// The script's linear model and data: `(w, b, xs, ys)`.
fn model(dev: &Device) -> Result<(Var, Var, Tensor, Tensor)> {
    let w = Var::from_tensor(&Tensor::new(&[[0.1f64, -0.2, 0.3]], dev)?)?;
    let b = Var::from_tensor(&Tensor::new(&[0.05f64], dev)?)?;
    let xs = Tensor::new(&XS, dev)?;
    let ys = Tensor::new(&YS, dev)?.reshape((4, 1))?;
    Ok((w, b, xs, ys))
}

/// The script's mean squared error of `xs·wᵀ + b` against `ys`.
fn loss(w: &Var, b: &Var, xs: &Tensor, ys: &Tensor) -> Result<Tensor> {
    let prediction = xs.matmul(&w.t()?)?.broadcast_add(b)?;
    (prediction - ys)?.sqr()?.mean_all()
}

/// Runs the script's ten steps with `opt` and returns `w` then `b`, flattened.
fn fit<O: Optimizer>(config: O::Config) -> Result<Vec<f64>> {
    let (w, b, xs, ys) = model(&Device::Cpu)?;
    let mut opt = O::new(vec![w.clone(), b.clone()], config)?;
    for _ in 0..10 {
        opt.backward_step(&loss(&w, &b, &xs, &ys)?)?;
    }
    let mut out = w.flatten_all()?.to_vec1::<f64>()?;
    out.extend(b.to_vec1::<f64>()?);
    Ok(out)
}

fn assert_close(ours: &[f64], torch: &[f64], what: &str) {
    assert_eq!(ours.len(), torch.len());
    for (o, t) in ours.iter().zip(torch) {
        assert!(
            (o - t).abs() <= 1e-12,
            "{what}: ours {ours:?}, PyTorch {torch:?}"
        );
    }
}

fn config(momentum: f64, nesterov: bool, weight_decay: f64) -> MomentumConfig {
    MomentumConfig {
        lr: 0.05,
        momentum,
        nesterov,
        weight_decay,
    }
}

#[test]
fn momentum_matches_pytorch() -> Result<()> {
    let ours = fit::<SgdMomentum>(config(0.9, false, 0.0))?;
    let torch = [
        -0.38605761451841086,
        0.6184090293837228,
        0.6373805554897122,
        0.09472348455050685,
    ];
    assert_close(&ours, &torch, "momentum 0.9");
    Ok(())
}

#[test]
fn nesterov_matches_pytorch() -> Result<()> {
    let ours = fit::<SgdMomentum>(config(0.9, true, 0.0))?;
    let torch = [
        -0.29197876203372464,
        0.5072385174154309,
        0.6466039454874966,
        0.08362969965027421,
    ];
    assert_close(&ours, &torch, "nesterov 0.9");
    Ok(())
}

#[test]
fn weight_decay_matches_pytorch() -> Result<()> {
    let ours = fit::<SgdMomentum>(config(0.9, false, 0.1))?;
    let torch = [
        -0.3642279839030783,
        0.5730559400734203,
        0.6054958109016881,
        0.10269169014353355,
    ];
    assert_close(&ours, &torch, "momentum 0.9, weight decay 0.1");
    let ours = fit::<SgdMomentum>(config(0.5, true, 0.05))?;
    let torch = [
        -0.3073935834150359,
        0.4481005286270424,
        0.5899604998909345,
        0.17909030515683108,
    ];
    assert_close(&ours, &torch, "nesterov 0.5, weight decay 0.05");
    Ok(())
}

#[test]
fn momentum_zero_is_candle_sgd_bit_for_bit() -> Result<()> {
    let ours = fit::<SgdMomentum>(config(0.0, false, 0.0))?;
    let candle = fit::<SGD>(0.05)?;
    assert_eq!(ours, candle);
    Ok(())
}

#[test]
fn velocity_is_per_variable_and_skips_missing_gradients() -> Result<()> {
    // b gets no gradient in the first steps: its velocity must start at its own first step.
    let (w, b, xs, ys) = model(&Device::Cpu)?;
    let mut opt = SgdMomentum::new(vec![w.clone(), b.clone()], config(0.9, false, 0.0))?;
    let b0 = b.to_vec1::<f64>()?;
    for _ in 0..3 {
        let loss_w = xs.matmul(&w.t()?)?.sub(&ys)?.sqr()?.mean_all()?;
        opt.backward_step(&loss_w)?;
    }
    assert_eq!(b.to_vec1::<f64>()?, b0, "b moved without a gradient");
    // One step with a gradient for b: a first step moves it by exactly lr·grad.
    let full = loss(&w, &b, &xs, &ys)?;
    let grads = full.backward()?;
    let gb = grads.get(&b).unwrap().to_vec1::<f64>()?[0];
    opt.step(&grads)?;
    assert_eq!(b.to_vec1::<f64>()?[0], b0[0] - gb * 0.05);
    Ok(())
}

#[test]
fn learning_rate_can_be_changed_between_steps() -> Result<()> {
    let mut opt = SgdMomentum::new(vec![], config(0.9, true, 0.0))?;
    assert_eq!(opt.learning_rate(), 0.05);
    opt.set_learning_rate(0.01);
    assert_eq!(opt.learning_rate(), 0.01);
    assert_eq!(opt.config().lr, 0.01);
    Ok(())
}

#[test]
fn integer_variables_are_left_alone() -> Result<()> {
    let ids = Var::from_tensor(&Tensor::new(&[1u32, 2], &Device::Cpu)?)?;
    let w = Var::from_tensor(&Tensor::new(&[1.0f32], &Device::Cpu)?)?;
    let opt = SgdMomentum::new(vec![ids, w], MomentumConfig::new(0.1, 0.9))?;
    assert_eq!(opt.vars().len(), 1);
    assert_eq!(opt.vars()[0].dtype(), DType::F32);
    Ok(())
}

#[test]
fn bad_configs_are_refused_with_the_fix() {
    let cases = [
        (config(-0.1, false, 0.0), "invalid momentum"),
        (config(0.9, false, -1.0), "invalid weight decay"),
        (config(f64::NAN, false, 0.0), "invalid momentum"),
        // At 1 or more the velocity never forgets a gradient: [0, 1) is the one range, everywhere.
        (config(1.0, false, 0.0), "invalid momentum"),
        (config(1.5, true, 0.0), "invalid momentum"),
        (
            config(0.0, true, 0.0),
            "Nesterov momentum needs momentum > 0",
        ),
    ];
    for (config, expected) in cases {
        let err = SgdMomentum::new(vec![], config).unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
        assert!(!err.contains('\n'), "{err}");
    }
    for lr in [-0.5, f64::INFINITY, f64::NAN] {
        let err = SgdMomentum::new(vec![], MomentumConfig::new(lr, 0.9))
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid learning rate"), "{err}");
        assert!(err.contains("use a finite number ≥ 0"), "{err}");
    }
}

/// The training settings check the momentum through the same rule as the optimizer itself.
#[test]
fn training_settings_and_the_optimizer_agree_on_the_momentum_range() {
    use simple_nn::nn::{FitConfig, OptimizerConfig};
    for (momentum, ok) in [
        (0.0, true),
        (0.9, true),
        (0.999, true),
        (1.0, false),
        (-0.1, false),
    ] {
        let optimizer = OptimizerConfig::Momentum {
            momentum,
            nesterov: false,
            weight_decay: 0.0,
        };
        let settings = FitConfig {
            optimizer,
            ..FitConfig::default()
        };
        let direct = SgdMomentum::new(vec![], MomentumConfig::new(0.1, momentum));
        assert_eq!(settings.validate().is_ok(), ok, "momentum {momentum}");
        assert_eq!(direct.is_ok(), ok, "momentum {momentum}");
    }
}

#[test]
fn constant_and_step_schedules() {
    assert_eq!(Schedule::Constant.lr(0.1, 0, 0), 0.1);
    assert_eq!(Schedule::Constant.lr(0.1, 1000, 0), 0.1);
    let step = Schedule::Step {
        every: 10,
        gamma: 0.5,
    };
    // 0.8·0.5^(epoch/10), integer division.
    for (epoch, lr) in [
        (0, 0.8),
        (9, 0.8),
        (10, 0.4),
        (19, 0.4),
        (20, 0.2),
        (35, 0.1),
    ] {
        assert_eq!(step.lr(0.8, epoch, 0), lr, "epoch {epoch}");
    }
    // every 0 cannot divide; it means never.
    let never = Schedule::Step {
        every: 0,
        gamma: 0.5,
    };
    assert_eq!(never.lr(0.8, 100, 0), 0.8);
}

#[test]
fn cosine_schedule() {
    let cosine = Schedule::Cosine {
        epochs: 4,
        min_lr: 0.1,
    };
    // 0.1 + (1.1 − 0.1)·(1 + cos(π·e/4))/2: 1.1, 0.1 + 0.5·(1 + √½), 0.6, 0.1 + 0.5·(1 − √½), then 0.1.
    let half_sqrt2 = std::f64::consts::FRAC_1_SQRT_2;
    let expected = [
        1.1,
        0.1 + 0.5 * (1.0 + half_sqrt2),
        0.6,
        0.1 + 0.5 * (1.0 - half_sqrt2),
        0.1,
        0.1,
    ];
    for (epoch, lr) in expected.into_iter().enumerate() {
        let got = cosine.lr(1.1, epoch, 0);
        assert!((got - lr).abs() < 1e-15, "epoch {epoch}: {got} ≠ {lr}");
    }
    // Parsed without a length, a cosine is past its end: with_length sets it.
    let parsed: Schedule = "cosine".parse().unwrap();
    assert_eq!(parsed.lr(1.0, 0, 0), 0.0);
    let run = parsed.with_length(10, 0);
    assert_eq!(
        run,
        Schedule::Cosine {
            epochs: 10,
            min_lr: 0.0
        }
    );
    assert_eq!(run.lr(1.0, 0, 0), 1.0);
    assert!((run.lr(1.0, 5, 0) - 0.5).abs() < 1e-15);
    assert_eq!(Schedule::Constant.with_length(10, 0), Schedule::Constant);
}

#[test]
fn schedules_parse_and_print_round_trip() {
    for (text, schedule) in [
        ("constant", Schedule::Constant),
        (
            "step:10:0.5",
            Schedule::Step {
                every: 10,
                gamma: 0.5,
            },
        ),
        (
            "step:3:0.1",
            Schedule::Step {
                every: 3,
                gamma: 0.1,
            },
        ),
        (
            "cosine",
            Schedule::Cosine {
                epochs: 0,
                min_lr: 0.0,
            },
        ),
        (
            "cosine:0.001",
            Schedule::Cosine {
                epochs: 0,
                min_lr: 0.001,
            },
        ),
    ] {
        assert_eq!(text.parse::<Schedule>().unwrap(), schedule, "{text}");
        assert_eq!(schedule.to_string(), text);
    }
    // Other spellings of the same numbers print canonically.
    let s: Schedule = "step:10:5e-1".parse().unwrap();
    assert_eq!(s.to_string(), "step:10:0.5");
}

#[test]
fn bad_schedules_are_refused_with_the_fix() {
    for (text, expected) in [
        ("", "unknown schedule '': use constant, step:EVERY:GAMMA"),
        ("linear", "unknown schedule 'linear'"),
        ("step", "unknown schedule 'step'"),
        ("step:10", "unknown schedule 'step:10'"),
        ("step:10:0.5:1", "unknown schedule"),
        ("constant:1", "unknown schedule"),
        (
            "step:0:0.5",
            "EVERY must be a whole number of epochs (or steps) ≥ 1",
        ),
        ("warmup-cosine:100", "write it warmup-cosine:WARMUP:MIN_LR"),
        (
            "warmup-cosine:x:1e-4",
            "WARMUP must be a whole number of steps",
        ),
        ("warmup-cosine:100:-1", "MIN_LR must be a finite number ≥ 0"),
        ("step:-1:0.5", "EVERY must be"),
        ("step:x:0.5", "EVERY must be"),
        ("step:10:0", "GAMMA must be a finite number > 0"),
        ("step:10:nan", "GAMMA must be"),
        ("step:10:inf", "GAMMA must be"),
        ("cosine:-1", "MIN_LR must be a finite number ≥ 0"),
        ("cosine:abc", "MIN_LR must be"),
        ("Cosine", "unknown schedule"),
    ] {
        let err = text.parse::<Schedule>().unwrap_err();
        assert!(err.contains(expected), "{text}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

/// The crate's AdamW (whose state can be saved) takes candle-nn's AdamW steps bit for bit, with
/// and without weight decay, and a copy restored from its state after 4 steps goes on identically.
#[test]
fn adamw_equals_candle_nn_bit_for_bit_and_resumes_from_its_state() -> Result<()> {
    use candle_nn::ParamsAdamW;
    use simple_nn::nn::AdamW;
    for weight_decay in [0.0, 0.1] {
        let params = ParamsAdamW {
            lr: 0.05,
            weight_decay,
            ..Default::default()
        };
        let vars = || -> Result<[Var; 2]> {
            Ok([
                Var::from_tensor(&Tensor::new(&XS, &Device::Cpu)?)?,
                Var::from_tensor(&Tensor::new(&[0.3f64, -0.2, 0.1], &Device::Cpu)?)?,
            ])
        };
        let loss = |[w, b]: &[Var; 2]| -> Result<Tensor> {
            w.as_tensor()
                .broadcast_add(b.as_tensor())?
                .sqr()?
                .sum_all()?
                * 0.5
        };
        let (ours_vars, theirs_vars, resumed_vars) = (vars()?, vars()?, vars()?);
        let mut ours = AdamW::new(ours_vars.to_vec(), params.clone())?;
        let mut theirs = candle_nn::AdamW::new(theirs_vars.to_vec(), params.clone())?;
        let mut resumed = AdamW::new(resumed_vars.to_vec(), params.clone())?;
        for step in 0..10 {
            if step == 4 {
                for (r, o) in resumed_vars.iter().zip(&ours_vars) {
                    r.set(o.as_tensor())?;
                }
                resumed.restore(&ours.state())?;
            }
            ours.backward_step(&loss(&ours_vars)?)?;
            theirs.backward_step(&loss(&theirs_vars)?)?;
            if step >= 4 {
                resumed.backward_step(&loss(&resumed_vars)?)?;
            }
        }
        for ((o, t), r) in ours_vars.iter().zip(&theirs_vars).zip(&resumed_vars) {
            let (o, t, r) = (
                o.flatten_all()?.to_vec1::<f64>()?,
                t.flatten_all()?.to_vec1::<f64>()?,
                r.flatten_all()?.to_vec1::<f64>()?,
            );
            assert_eq!(o, t, "weight decay {weight_decay}: ours vs candle-nn");
            assert_eq!(o, r, "weight decay {weight_decay}: resumed from the state");
        }
    }
    Ok(())
}

/// The state of every optimizer, for a weight whose gradient is `g` at the first step and 0 at
/// every step after, shrinks as the exact geometric sequence until it would be subnormal, and is
/// then exactly 0: never subnormal, the range where x86 arithmetic takes ~100× longer and where
/// `m·0.9` rounds back to `m` for ever (4·2⁻¹⁴⁹ in f32; before the flush an AdamW run of an MLP
/// slowed to a third of its speed this way). The expected values are the closed forms
/// `(1 − β)·g·βᵏ⁻¹` (AdamW's moments) and `g·μᵏ⁻¹` (the momentum's velocity), in f64.
#[test]
fn optimizer_state_that_decays_to_the_subnormal_range_becomes_zero() -> Result<()> {
    use candle_nn::ParamsAdamW;
    use simple_nn::kernels::adamw::{self, AdamWStep};
    use simple_nn::nn::{AdamW, OptimizerState};

    const G: f64 = 1e-3;
    const BETA: f64 = 0.9;

    /// Checks one state value against the closed form `exact` in `dtype`.
    fn check(what: &str, dtype: DType, step: usize, got: f64, exact: f64) {
        let smallest_normal = match dtype {
            DType::F32 => f32::MIN_POSITIVE as f64,
            _ => f64::MIN_POSITIVE,
        };
        assert!(
            got == 0.0 || got.abs() >= smallest_normal,
            "{what} {dtype:?} step {step}: {got:e} is subnormal"
        );
        if exact >= 2.0 * smallest_normal {
            // Each step rounds once or twice: ~1e-3 relative after thousands of steps in f32.
            let tolerance = if dtype == DType::F32 { 1e-3 } else { 1e-9 };
            assert!(
                (got - exact).abs() <= tolerance * exact,
                "{what} {dtype:?} step {step}: {got:e}, exact {exact:e}"
            );
        } else if exact < 0.5 * smallest_normal {
            assert_eq!(got, 0.0, "{what} {dtype:?} step {step}: exact {exact:e}");
        }
    }
    let value = |t: &Tensor| -> Result<f64> {
        t.to_dtype(DType::F64)?
            .flatten_all()?
            .to_vec1::<f64>()
            .map(|v| v[0])
    };
    let named = |state: &OptimizerState, name: &str| -> Result<f64> {
        let (_, t) = state.tensors.iter().find(|(n, _)| n == name).expect(name);
        value(t)
    };

    for dtype in [DType::F32, DType::F64] {
        // Steps until the first moment in f64 (6.6k) and the second (6.5k) are flushed.
        let steps = if dtype == DType::F32 { 900 } else { 7000 };
        let grad_at = |step: usize| -> Result<Tensor> {
            Tensor::new(&[if step == 1 { G } else { 0.0 }], &Device::Cpu)?.to_dtype(dtype)
        };
        let weight = || -> Result<Var> {
            Var::from_tensor(&Tensor::new(&[0.5f64], &Device::Cpu)?.to_dtype(dtype)?)
        };
        // The loss w·c has the gradient c.
        let loss = |w: &Var, step: usize| -> Result<Tensor> {
            (w.as_tensor() * grad_at(step)?)?.sum_all()
        };

        let w = weight()?;
        let mut ours = AdamW::new(
            vec![w.clone()],
            ParamsAdamW {
                lr: 1e-3,
                beta1: BETA,
                beta2: BETA,
                ..Default::default()
            },
        )?;
        let momentum_w = weight()?;
        let mut momentum = SgdMomentum::new(vec![momentum_w.clone()], config(BETA, false, 0.0))?;
        // nanoGPT's AdamW: the in-place kernel and the tensor ops it falls back to.
        let (fused_w, stock_w) = (weight()?, weight()?);
        let zeros =
            || -> Result<(Tensor, Tensor)> { Ok((fused_w.zeros_like()?, fused_w.zeros_like()?)) };
        let (mut fused, mut stock) = (zeros()?, zeros()?);

        for step in 1..=steps {
            ours.backward_step(&loss(&w, step)?)?;
            momentum.backward_step(&loss(&momentum_w, step)?)?;
            let s = AdamWStep {
                lr: 1e-3,
                beta1: BETA,
                beta2: BETA,
                eps: 1e-8,
                weight_decay: 0.0,
                step: step as u64,
            };
            fused = adamw::step(&fused_w, &grad_at(step)?, (&fused.0, &fused.1), &s)?;
            stock = adamw::step_stock(&stock_w, &grad_at(step)?, (&stock.0, &stock.1), &s)?;

            let decay = BETA.powi(step as i32 - 1);
            let (m, v, velocity) = (
                (1.0 - BETA) * G * decay,
                (1.0 - BETA) * G * G * decay,
                G * decay,
            );
            let state = ours.state();
            check("adamw m", dtype, step, named(&state, "m.0")?, m);
            check("adamw v", dtype, step, named(&state, "v.0")?, v);
            check(
                "momentum velocity",
                dtype,
                step,
                named(&momentum.state(), "velocity.0")?,
                velocity,
            );
            check("in-place adamw m", dtype, step, value(&fused.0)?, m);
            check("in-place adamw v", dtype, step, value(&fused.1)?, v);
            check("stock adamw m", dtype, step, value(&stock.0)?, m);
            check("stock adamw v", dtype, step, value(&stock.1)?, v);
        }
    }
    Ok(())
}
