//! The transformer's fused ops (layer norm, GELU, causal attention, AdamW's in-place step, the
//! sum of squares) compute what candle's stock ops compute: values and gradients, in f64 and
//! f32, on odd shapes, on one thread and on two; and a whole GPT on the fused kernels trains as
//! it does on the stock ones.
//!
//! Expected values come from the stock compositions of each op (every one of them an op with a
//! backward in candle: means, broadcasts, `erf`, a `-∞` mask and a softmax built from `max`,
//! `exp` and `sum`), and from central finite differences in f64. Tolerances are relative to the
//! largest stock value: both sides round the same sums in another order.

mod common;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use common::{max_abs_diff, random_in, relative_diff, values};
use simple_nn::kernels::{self, adamw, attention, gelu, layer_norm, linear, threads, Precision};
use simple_nn::nn::{Gpt, GptConfig, Model};
use simple_nn::Kernels;

/// The tolerance of a comparison with the stock ops in `dtype`.
fn tolerance(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => 1e-12,
        _ => 1e-5,
    }
}

/// `op`'s output for `inputs` (made variables), and the gradients of `Σ out·probe` for each input.
fn run(
    inputs: &[Tensor],
    op: &dyn Fn(&[&Tensor]) -> Tensor,
    probe_seed: u64,
) -> (Tensor, Vec<Tensor>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).unwrap())
        .collect();
    let tensors: Vec<&Tensor> = vars.iter().map(|v| v.as_tensor()).collect();
    let out = op(&tensors);
    let probe = random_in(out.dims(), probe_seed, 1.0, out.dtype());
    let grads = (&out * probe)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let grads = vars
        .iter()
        .map(|v| grads.get(v).expect("every input gets a gradient").clone())
        .collect();
    (out, grads)
}

/// The fused op and the stock one agree in values and every input's gradient, in f64 and f32,
/// and the fused op gives the same bits on one thread and on two. `threads::exactly` runs the
/// fused op's split work on that many threads whatever the machine's load, and says how many
/// ran: returned for the two-thread runs (the fewest over the dtypes), 2 where the op split its
/// work, 1 where the shapes are too small to split, so that a caller can check that the
/// comparison of one thread with two compared something.
fn assert_fused_equals_stock(
    what: &str,
    inputs: &dyn Fn(DType) -> Vec<Tensor>,
    fused: &dyn Fn(&[&Tensor]) -> Tensor,
    stock: &dyn Fn(&[&Tensor]) -> Tensor,
) -> usize {
    let mut two_ran = usize::MAX;
    for dtype in [DType::F64, DType::F32] {
        let xs = inputs(dtype);
        let (stock_out, stock_grads) = run(&xs, stock, 77);
        let mut per_threads = Vec::new();
        for n in [1, 2] {
            let ((out, grads), ran) = threads::exactly(n, || run(&xs, fused, 77));
            let case = format!("{what} {dtype:?} on {n} thread(s)");
            // 0 where no work was split at all (one thread runs a gemm whole).
            assert!(ran <= n, "{case}: {ran} threads ran");
            if n == 2 {
                two_ran = two_ran.min(ran);
            }
            assert_eq!(out.dims(), stock_out.dims(), "{case}");
            assert_eq!(out.dtype(), dtype, "{case}");
            let diff = relative_diff(&out, &stock_out);
            assert!(diff <= tolerance(dtype), "{case} values: {diff:e}");
            for (i, (f, s)) in grads.iter().zip(&stock_grads).enumerate() {
                let diff = relative_diff(f, s);
                assert!(diff <= tolerance(dtype), "{case} ∂/∂input {i}: {diff:e}");
            }
            per_threads.push((values(&out), grads.iter().map(values).collect::<Vec<_>>()));
        }
        assert!(
            per_threads[0] == per_threads[1],
            "{what} {dtype:?}: one and two threads differ"
        );
    }
    two_ran
}

/// Checks that the largest case of an op, `what`, ran on the two threads asked for (`ran`, from
/// [`assert_fused_equals_stock`]): its work split, so one thread and two were compared.
fn assert_two_threads_ran(what: &str, ran: usize) {
    assert_eq!(ran, 2, "{what}: the threads that ran");
}

#[test]
fn fused_layer_norm_equals_the_stock_ops() {
    // (rows…, features): one feature (variance 0), odd sizes, more rows than one task takes.
    let shapes: [&[usize]; 5] = [&[5, 7], &[2, 3, 33], &[1, 1], &[70, 128], &[3, 1, 16]];
    for (i, shape) in shapes.into_iter().enumerate() {
        let c = *shape.last().unwrap();
        for bias in [false, true] {
            let seed = 10 * i as u64;
            let inputs = |dtype| {
                let mut t = vec![
                    // An offset far from 0, as residual streams drift.
                    (random_in(shape, seed, 2.0, dtype) + 3.0).unwrap(),
                    random_in(&[c], seed + 1, 1.5, dtype),
                ];
                if bias {
                    t.push(random_in(&[c], seed + 2, 1.0, dtype));
                }
                t
            };
            let with =
                |f: fn(&Tensor, &Tensor, Option<&Tensor>, f64) -> candle_core::Result<Tensor>| {
                    move |t: &[&Tensor]| f(t[0], t[1], t.get(2).copied(), 1e-5).unwrap()
                };
            let what = format!("layer norm {shape:?} bias {bias}");
            let ran = assert_fused_equals_stock(
                &what,
                &inputs,
                &with(layer_norm::layer_norm),
                &with(layer_norm::layer_norm_stock),
            );
            // 70 rows: more than one task's 32, so two threads share them.
            if shape[0] == 70 {
                assert_two_threads_ran(&what, ran);
            }
        }
    }
}

#[test]
fn fused_gelu_equals_the_stock_ops() {
    for (i, n) in [1usize, 17, 40_000].into_iter().enumerate() {
        // Values out to ±9: the tails, where Φ is tiny or all but 1.
        let inputs = |dtype| vec![random_in(&[n], i as u64, 9.0, dtype)];
        let what = format!("gelu of {n}");
        let ran = assert_fused_equals_stock(&what, &inputs, &|t| gelu::gelu(t[0]).unwrap(), &|t| {
            gelu::gelu_stock(t[0]).unwrap()
        });
        if n == 40_000 {
            assert_two_threads_ran(&what, ran);
        }
    }
}

#[test]
fn fused_linear_equals_the_stock_ops() {
    // (leading dimensions, in, out): one row, odd sizes, a (b, t, c) input, and nanoGPT's c_fc
    // at a batch of 12 × 64 positions.
    let cases: [(&[usize], usize, usize); 4] = [
        (&[1], 3, 5),
        (&[37], 11, 19),
        (&[3, 5], 7, 9),
        (&[768], 128, 512),
    ];
    for (i, (lead, n_in, n_out)) in cases.into_iter().enumerate() {
        for (bias, gelu) in [(false, false), (true, false), (false, true), (true, true)] {
            let seed = 20 * i as u64;
            let inputs = |dtype| {
                let mut shape = lead.to_vec();
                shape.push(n_in);
                let mut t = vec![
                    random_in(&shape, seed, 1.0, dtype),
                    random_in(&[n_out, n_in], seed + 1, 3.0 / (n_in as f64).sqrt(), dtype),
                ];
                if bias {
                    t.push(random_in(&[n_out], seed + 2, 1.0, dtype));
                }
                t
            };
            let stock = |t: &[&Tensor]| {
                let z = t[0].broadcast_matmul(&t[1].t().unwrap()).unwrap();
                let z = match t.get(2) {
                    Some(b) => z.broadcast_add(b).unwrap(),
                    None => z,
                };
                match gelu {
                    true => gelu::gelu_stock(&z).unwrap(),
                    false => z,
                }
            };
            let what = format!("linear {lead:?}×{n_in}→{n_out} bias {bias} gelu {gelu}");
            let ran = assert_fused_equals_stock(
                &what,
                &inputs,
                &|t| linear::linear(t[0], t[1], t.get(2).copied(), gelu, Precision::Full).unwrap(),
                &stock,
            );
            if lead == [768] {
                assert_two_threads_ran(&what, ran);
            }
        }
    }
    // Data needs no gradient: none is computed for it.
    let x = random_in(&[4, 3], 1, 1.0, DType::F32);
    let w = Var::from_tensor(&random_in(&[2, 3], 2, 1.0, DType::F32)).unwrap();
    let y = linear::linear(&x, &w, None, true, Precision::Full).unwrap();
    let grads = y.sum_all().unwrap().backward().unwrap();
    assert!(grads.get(&x).is_none() && grads.get(&w).is_some());
}

#[test]
fn fused_attention_equals_the_stock_ops() {
    // (sequences, positions, features, heads): one position, one head, 3-feature heads, more
    // positions than features, and nanoGPT's CPU shape at a smaller batch.
    let cases = [
        (2, 5, 12, 2),
        (3, 8, 16, 4),
        (1, 1, 6, 1),
        (2, 17, 9, 3),
        (1, 33, 8, 1),
        (2, 64, 128, 4),
    ];
    for (i, (b, t, c, h)) in cases.into_iter().enumerate() {
        let inputs = |dtype| vec![random_in(&[b, t, 3 * c], i as u64, 2.0, dtype)];
        let what = format!("attention {b}×{t}×{c}, {h} heads");
        let ran = assert_fused_equals_stock(
            &what,
            &inputs,
            &|x| attention::causal_attention(x[0], h).unwrap(),
            &|x| attention::causal_attention_stock(x[0], h).unwrap(),
        );
        if (b, t) == (2, 64) {
            assert_two_threads_ran(&what, ran);
        }
    }
}

/// Central differences in f64 of `Σ out·probe` for some inputs of each fused op.
#[test]
fn fused_op_gradients_pass_central_differences() {
    type Op = Box<dyn Fn(&[&Tensor]) -> Tensor>;
    let ops: Vec<(&str, Vec<Tensor>, Op)> = vec![
        (
            "layer norm",
            vec![
                random_in(&[4, 6], 1, 2.0, DType::F64),
                random_in(&[6], 2, 1.0, DType::F64),
                random_in(&[6], 3, 1.0, DType::F64),
            ],
            Box::new(|t| layer_norm::layer_norm(t[0], t[1], Some(t[2]), 1e-5).unwrap()),
        ),
        (
            "gelu",
            vec![random_in(&[30], 4, 4.0, DType::F64)],
            Box::new(|t| gelu::gelu(t[0]).unwrap()),
        ),
        (
            "attention",
            vec![random_in(&[2, 5, 18], 5, 1.5, DType::F64)],
            Box::new(|t| attention::causal_attention(t[0], 3).unwrap()),
        ),
    ];
    for (name, inputs, op) in ops {
        let (out, grads) = run(&inputs, &*op, 9);
        let probe = random_in(out.dims(), 9, 1.0, DType::F64);
        let loss = |xs: &[Tensor]| -> f64 {
            let refs: Vec<&Tensor> = xs.iter().collect();
            (op(&refs) * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar()
                .unwrap()
        };
        let h = 1e-6;
        for (k, input) in inputs.iter().enumerate() {
            let analytic = values(&grads[k]);
            for at in (0..input.elem_count()).step_by(7) {
                let nudged = |by: f64| {
                    let mut xs = inputs.clone();
                    let mut v = values(input);
                    v[at] += by;
                    xs[k] = Tensor::from_vec(v, input.dims(), &Device::Cpu).unwrap();
                    loss(&xs)
                };
                let numeric = (nudged(h) - nudged(-h)) / (2.0 * h);
                assert!(
                    (analytic[at] - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()),
                    "{name} input {k}[{at}]: {} vs {numeric}",
                    analytic[at]
                );
            }
        }
    }
}

/// The in-place AdamW step and its tensor-op form take the same steps (f64, ten steps, with
/// and without weight decay).
#[test]
fn in_place_adamw_equals_its_tensor_op_form() {
    for weight_decay in [0.0, 0.1] {
        let start = random_in(&[3, 5], 1, 1.0, DType::F64);
        let (fused, stock) = (
            Var::from_tensor(&start).unwrap(),
            Var::from_tensor(&start).unwrap(),
        );
        let zeros = || (start.zeros_like().unwrap(), start.zeros_like().unwrap());
        let (mut fused_m, mut stock_m) = (zeros(), zeros());
        for step in 1..=10 {
            let g = random_in(&[3, 5], 100 + step, 0.5, DType::F64);
            let s = adamw::AdamWStep {
                lr: 0.01,
                beta1: 0.9,
                beta2: 0.99,
                eps: 1e-8,
                weight_decay,
                step,
            };
            fused_m = adamw::step(&fused, &g, (&fused_m.0, &fused_m.1), &s).unwrap();
            stock_m = adamw::step_stock(&stock, &g, (&stock_m.0, &stock_m.1), &s).unwrap();
        }
        let diff = max_abs_diff(fused.as_tensor(), stock.as_tensor()).unwrap();
        assert!(diff <= 1e-15, "weight decay {weight_decay}: {diff:e}");
        assert!(max_abs_diff(&fused_m.1, &stock_m.1).unwrap() <= 1e-17);
    }
}

#[test]
fn the_sum_of_squares_is_the_stock_one() {
    for dtype in [DType::F64, DType::F32] {
        let x = random_in(&[1001, 3], 4, 2.0, dtype);
        let ours = kernels::norm::sum_squares(&x).unwrap();
        let stock = x
            .to_dtype(DType::F64)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f64>()
            .unwrap();
        assert!(
            (ours - stock).abs() <= 1e-12 * stock,
            "{dtype:?}: {ours} vs {stock}"
        );
    }
}

/// A small GPT's loss and every parameter's gradient, for the same weights, on the fused kernels
/// and on the stock ones, f64 and f32, with biases, and on one and two threads for the fused
/// (`threads::exactly` runs them so, whatever the machine's load, and says that they ran).
#[test]
fn a_gpt_on_the_fused_kernels_equals_the_gpt_on_the_stock_ops() {
    for dtype in [DType::F64, DType::F32] {
        let config = |kernels| GptConfig {
            vocab: 11,
            block_size: 9,
            n_layer: 2,
            n_head: 3,
            n_embd: 12,
            bias: true,
            kernels,
            ..Default::default()
        };
        let ids = Tensor::from_vec(
            (0..3 * 9).map(|i| (i * 7 % 11) as u32).collect::<Vec<_>>(),
            (3, 9),
            &Device::Cpu,
        )
        .unwrap();
        let targets = Tensor::from_vec(
            (0..3 * 9).map(|i| (i * 5 % 11) as u32).collect::<Vec<_>>(),
            (3, 9),
            &Device::Cpu,
        )
        .unwrap();
        let gradients = |kernels: Kernels| {
            let (gpt, varmap) = Gpt::seeded(config(kernels), 3, dtype, &Device::Cpu).unwrap();
            let loss = gpt
                .loss(&gpt.forward_t(&ids, true).unwrap(), &targets)
                .unwrap();
            let grads = loss.backward().unwrap();
            let mut named = simple_nn::nn::named_vars(&varmap).unwrap();
            named.sort_by(|a, b| a.0.cmp(&b.0));
            let grads: Vec<(String, Tensor)> = named
                .into_iter()
                .map(|(n, v)| {
                    let g = grads
                        .get(&v)
                        .unwrap_or_else(|| panic!("{n} has no gradient"));
                    (n, g.clone())
                })
                .collect();
            (values(&loss)[0], grads)
        };
        let (stock_loss, stock) = gradients(Kernels::Stock);
        let mut fused_runs = Vec::new();
        for n in [1, 2] {
            let ((loss, fused), ran) = threads::exactly(n, || gradients(Kernels::Fused));
            assert_eq!(ran, n, "{dtype:?}: the threads that ran");
            assert!(
                (loss - stock_loss).abs() <= tolerance(dtype) * stock_loss,
                "{dtype:?} loss {loss} vs {stock_loss}"
            );
            for ((name, f), (_, s)) in fused.iter().zip(&stock) {
                let diff = relative_diff(f, s);
                assert!(
                    diff <= 10.0 * tolerance(dtype),
                    "{dtype:?} ∂/∂{name}: {diff:e}"
                );
            }
            fused_runs.push(fused.iter().map(|(_, g)| values(g)).collect::<Vec<_>>());
        }
        assert!(
            fused_runs[0] == fused_runs[1],
            "{dtype:?}: one and two threads differ"
        );
    }
}
