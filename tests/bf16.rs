//! `--dtype bf16` on the CPU: f32 weights, and the projections' products on their operands'
//! bf16 roundings with f32 sums (PyTorch's CPU autocast for a linear layer).
//!
//! Expected numbers come from float64 loops over the same roundings (rounded here by hand, to
//! nearest, ties to even), from the f32 layer within a stated distance, and from the stock ops
//! given the same roundings by candle's casts; the command-line tests train, save and resume.

mod common;

use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::VarMap;
use common::nn::{json, ok};
use common::text::write_text;
use common::{max_diff, random_in, relative_l2, scratch, values};
use simple_nn::kernels::{attention, linear, threads, Precision};
use simple_nn::nn::{named_vars, Gpt, GptConfig, Model};
use simple_nn::Kernels;

/// `x` rounded to the nearest bf16, ties to even (bf16 is f32's upper half), in float64.
fn bf16(x: f64) -> f64 {
    let bits = (x as f32).to_bits();
    let (upper, rest) = (bits >> 16, bits & 0xffff);
    let up = rest > 0x8000 || (rest == 0x8000 && upper & 1 == 1);
    f32::from_bits((upper + u32::from(up)) << 16) as f64
}

/// The fused linear layer in bf16 — output, ∂x, ∂w and ∂b under a random probe — against
/// float64 loops over the roundings of `x`, `w` and the probe `∂y` (the bias and its gradient
/// are not rounded): they differ by f32's summation alone, ≤ 1e-5 of the largest value. Shapes
/// with edges inside AMX's 16 × 32 tiles, and 768 rows on 1 and 2 threads.
#[test]
fn bf16_linear_equals_float64_sums_of_the_roundings() {
    for (rows, n_in, n_out) in [(5, 3, 2), (33, 47, 17), (768, 64, 40)] {
        let x = Var::from_tensor(&random_in(&[rows, n_in], 1, 1.0, DType::F32)).unwrap();
        let w = Var::from_tensor(&random_in(&[n_out, n_in], 2, 0.5, DType::F32)).unwrap();
        let b = Var::from_tensor(&random_in(&[n_out], 3, 0.5, DType::F32)).unwrap();
        let probe = random_in(&[rows, n_out], 4, 1.0, DType::F32);
        let (xs, ws, bs, ps) = (values(&x), values(&w), values(&b), values(&probe));
        let mut want_y = vec![0f64; rows * n_out];
        let (mut want_dx, mut want_dw) = (vec![0f64; rows * n_in], vec![0f64; n_out * n_in]);
        let mut want_db = vec![0f64; n_out];
        for r in 0..rows {
            for o in 0..n_out {
                let d = ps[r * n_out + o];
                want_db[o] += d;
                want_y[r * n_out + o] = bs[o];
                for i in 0..n_in {
                    let (xv, wv) = (bf16(xs[r * n_in + i]), bf16(ws[o * n_in + i]));
                    want_y[r * n_out + o] += xv * wv;
                    want_dx[r * n_in + i] += bf16(d) * wv;
                    want_dw[o * n_in + i] += bf16(d) * xv;
                }
            }
        }
        for n in [1, 2] {
            let (y, grads) = threads::scoped(n, || {
                let y = linear::linear(&x, &w, Some(&b), false, Precision::Bf16).unwrap();
                let grads = (&y * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                (y, grads)
            });
            let got = [
                values(&y),
                values(grads.get(&x).unwrap()),
                values(grads.get(&w).unwrap()),
                values(grads.get(&b).unwrap()),
            ];
            let want = [&want_y, &want_dx, &want_dw, &want_db];
            for ((name, got), want) in ["y", "∂x", "∂w", "∂b"].iter().zip(&got).zip(want) {
                let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
                let diff = max_diff(got, want);
                assert!(
                    diff <= 1e-5 * scale,
                    "{rows}×{n_in}→{n_out}, {n} threads, {name}: off by {diff} (scale {scale})"
                );
            }
        }
    }
}

/// bf16's products against f32's on the same layer, with and without the GELU: bf16 keeps 8
/// bits of each operand (a relative error of at most 2^-9 each, 2^-8 a product), so every
/// output and gradient lies within 1% of its tensor's largest value of the f32 layer's — and
/// not within 1e-4 (the roundings are really there).
#[test]
fn bf16_linear_stays_within_its_roundings_of_the_f32_layer() {
    let x = Var::from_tensor(&random_in(&[96, 80], 5, 1.0, DType::F32)).unwrap();
    let w = Var::from_tensor(&random_in(&[72, 80], 6, 0.2, DType::F32)).unwrap();
    let b = Var::from_tensor(&random_in(&[72], 7, 0.2, DType::F32)).unwrap();
    let probe = random_in(&[96, 72], 8, 1.0, DType::F32);
    for gelu in [false, true] {
        let run = |precision| {
            let y = linear::linear(&x, &w, Some(&b), gelu, precision).unwrap();
            let grads = (&y * &probe)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            [&y, grads.get(&x).unwrap(), grads.get(&w).unwrap()].map(values)
        };
        let (full, half) = (run(Precision::Full), run(Precision::Bf16));
        for ((name, f), h) in ["y", "∂x", "∂w"].iter().zip(&full).zip(&half) {
            let scale = f.iter().fold(0f64, |m, v| m.max(v.abs()));
            let diff = max_diff(f, h);
            assert!(
                diff <= 1e-2 * scale && diff > 1e-4 * scale,
                "gelu {gelu}, {name}: bf16 off f32 by {diff} (scale {scale})"
            );
        }
    }
}

/// The fused attention with bf16 products against candle's stock ops given the same roundings:
/// output and `∂qkv` within 1e-4 of their norm (f32's summation order, and the rare rounding it
/// moves to its neighbour; measured ≤ 2.3e-5), while the f32 attention lies ≥ 1e-3 away
/// (measured 2.1e-3 to 2.3e-3). Context lengths inside
/// and across AMX's 16-row tiles, 1 and 2 threads.
#[test]
fn bf16_attention_equals_the_stock_ops_on_the_same_roundings() {
    for (b, t, c, heads) in [(2, 5, 12, 3), (3, 40, 32, 2), (2, 64, 64, 4)] {
        let qkv = Var::from_tensor(&random_in(&[b, t, 3 * c], 11, 1.0, DType::F32)).unwrap();
        let probe = random_in(&[b, t, c], 12, 1.0, DType::F32);
        let run = |f: &dyn Fn(&Tensor) -> Tensor, threads: usize| {
            threads::scoped(threads, || {
                let y = f(&qkv);
                let grads = (&y * &probe)
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .backward()
                    .unwrap();
                [values(&y), values(grads.get(&qkv).unwrap())]
            })
        };
        let stock = run(
            &|x| attention::causal_attention_stock_in(x, heads, Precision::Bf16).unwrap(),
            1,
        );
        let full = run(&|x| attention::causal_attention(x, heads).unwrap(), 1);
        for threads in [1, 2] {
            let fused = run(
                &|x| attention::causal_attention_in(x, heads, Precision::Bf16).unwrap(),
                threads,
            );
            for (name, i) in [("y", 0), ("∂qkv", 1)] {
                let what = format!("{b}×{t}×{c}, {heads} heads, {threads} threads, {name}");
                let to_stock = relative_l2(&fused[i], &stock[i]);
                assert!(to_stock <= 1e-4, "{what}: {to_stock}");
                assert!(relative_l2(&fused[i], &full[i]) >= 1e-3, "{what}: as f32's");
            }
        }
    }
}

/// A GPT whose products read bf16 roundings, on the fused kernels, against the stock ops given
/// the same roundings by candle's casts: the loss within 1e-5, every gradient within 1e-4 of
/// its norm (f32's summation order; measured ≤ 7e-6), while the f32 model's gradients lie
/// ≥ 1e-3 away (measured 2.4e-3 to 5e-3). One block: in a deeper model an f32 sum's last bit
/// that moves one rounding to its neighbour (2^-8 of that value) spreads through the layers
/// below it.
#[test]
fn a_bf16_gpt_on_the_fused_kernels_equals_the_stock_ops_on_the_same_roundings() {
    let config = |kernels, precision| GptConfig {
        vocab: 11,
        block_size: 8,
        n_layer: 1,
        n_head: 2,
        n_embd: 32,
        dropout: 0.0,
        bias: true,
        kernels,
        precision,
    };
    let ids: Vec<u32> = (0..4 * 9).map(|i| (i * 7 + i / 5) % 11).collect();
    let ids = Tensor::from_vec(ids, (4, 9), &Device::Cpu).unwrap();
    let (xs, ys) = (ids.narrow(1, 0, 8).unwrap(), ids.narrow(1, 1, 8).unwrap());
    let ys = ys.contiguous().unwrap();
    let run = |kernels, precision| {
        let (gpt, varmap): (Gpt, VarMap) =
            Gpt::seeded(config(kernels, precision), 3, DType::F32, &Device::Cpu).unwrap();
        let loss = gpt.loss(&gpt.forward_t(&xs, true).unwrap(), &ys).unwrap();
        let grads = loss.backward().unwrap();
        let named = named_vars(&varmap).unwrap();
        let grads: Vec<(String, Vec<f64>)> = (named.iter())
            .map(|(name, v)| (name.clone(), values(grads.get(v).unwrap())))
            .collect();
        (loss.to_scalar::<f32>().unwrap() as f64, grads)
    };
    let (fused, fused_grads) = run(Kernels::Fused, Precision::Bf16);
    let (stock, stock_grads) = run(Kernels::Stock, Precision::Bf16);
    let (_, full_grads) = run(Kernels::Fused, Precision::Full);
    assert!((fused - stock).abs() <= 1e-5, "loss {fused} vs {stock}");
    let all = fused_grads.iter().zip(&stock_grads).zip(&full_grads);
    for (((name, fused), (_, stock)), (_, full)) in all {
        let (to_stock, to_full) = (relative_l2(fused, stock), relative_l2(fused, full));
        assert!(
            to_stock <= 1e-4,
            "{name}: {to_stock} of its norm off the stock ops'"
        );
        assert!(to_full >= 1e-3, "{name}: {to_full} of its norm off f32's");
    }
}

/// `nn train --dtype bf16` on a text: the validation loss of every evaluation within 0.05
/// nats of the f32 run's from the same seed (and falling as that one does); the checkpoint
/// keeps f32 weights (the optimizer's master copy; `nn export` writes them as they are) and says
/// its products ran in bf16; 20 steps
/// resumed from it without `--dtype` equal 40 steps in one run, byte for byte; resumed with
/// `--dtype f32` it goes on in f32, and its next checkpoint says so.
#[test]
fn bf16_training_follows_f32_and_resumes_bit_for_bit() {
    let dir = scratch("bf16-train");
    let (data, _) = write_text(&dir, "t.txt", 6000);
    let train = |steps: usize, dtype: &str, save: &std::path::Path| {
        let history = save.with_extension("csv");
        ok(&[
            "train",
            "--data",
            &data,
            "--layers",
            "gpt:2:2:32",
            "--block-size",
            "16",
            "--batch-size",
            "8",
            "--steps",
            &steps.to_string(),
            "--eval-every",
            "10",
            "--lr",
            "3e-3",
            "--schedule",
            "constant",
            "--dtype",
            dtype,
            "--save",
            save.to_str().unwrap(),
            "--history",
            history.to_str().unwrap(),
        ]);
        let csv = std::fs::read_to_string(history).unwrap();
        let losses: Vec<f64> = (csv.lines().skip(1))
            .map(|l| l.split(',').nth(3).unwrap().parse().unwrap())
            .collect();
        losses
    };
    let f32_losses = train(40, "f32", &dir.join("f32.safetensors"));
    let whole = dir.join("bf16.safetensors");
    let bf16_losses = train(40, "bf16", &whole);
    assert_eq!(f32_losses.len(), 4);
    for (step, (a, b)) in f32_losses.iter().zip(&bf16_losses).enumerate() {
        assert!(
            (a - b).abs() <= 0.05,
            "evaluation {step}: f32 {a}, bf16 {b}"
        );
    }
    assert!(bf16_losses[3] < bf16_losses[0] - 0.2, "{bf16_losses:?}");
    assert_ne!(f32_losses, bf16_losses, "the bf16 run took f32's path");

    let header = json_header(&whole);
    assert_eq!(header["transformer.wte.weight"]["dtype"], "F32");
    let exported = dir.join("exported.safetensors");
    ok(&[
        "export",
        "--model",
        whole.to_str().unwrap(),
        "--output",
        exported.to_str().unwrap(),
    ]);
    assert_eq!(
        json_header(&exported)["transformer.wte.weight"]["dtype"],
        "F32"
    );
    let description: serde_json::Value =
        serde_json::from_str(header["__metadata__"]["simple-nn"].as_str().unwrap()).unwrap();
    assert_eq!(
        description["gpt"]["config"]["precision"], "bf16",
        "{description}"
    );

    let part = dir.join("part.safetensors");
    train(20, "bf16", &part);
    let resumed = ok(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--data",
        &data,
        "--steps",
        "40",
        "--save",
        part.to_str().unwrap(),
    ]);
    assert!(
        resumed.contains("bf16 products of f32 weights on cpu"),
        "{resumed}"
    );
    assert!(!resumed.contains('→'), "{resumed}");
    let (a, b) = (
        std::fs::read(&whole).unwrap(),
        std::fs::read(&part).unwrap(),
    );
    assert!(a == b, "20 + 20 bf16 steps wrote another file than 40");
    // Resumed with --dtype f32, the products are f32's, and the checkpoint says so.
    let switched = ok(&[
        "train",
        "--resume",
        part.to_str().unwrap(),
        "--data",
        &data,
        "--steps",
        "50",
        "--dtype",
        "f32",
        "--save",
        part.to_str().unwrap(),
    ]);
    assert!(switched.contains("f32 on cpu"), "{switched}");
    assert!(
        switched.contains("bf16 → f32: the products now multiply"),
        "{switched}"
    );
    let description: serde_json::Value = serde_json::from_str(
        json_header(&part)["__metadata__"]["simple-nn"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        description["gpt"]["config"]["precision"], "full",
        "{description}"
    );
    let metrics = dir.join("m.json");
    ok(&[
        "eval",
        "--model",
        whole.to_str().unwrap(),
        "--data",
        &data,
        "--dtype",
        "bf16",
        "--metrics-json",
        metrics.to_str().unwrap(),
    ]);
    let loss = json(&metrics)["loss"].as_f64();
    assert!(
        loss.is_some_and(|l| (l - bf16_losses[3]).abs() < 0.5),
        "{loss:?}"
    );
}

/// A `.safetensors` file's JSON header.
fn json_header(path: &std::path::Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    serde_json::from_slice(&bytes[8..8 + n]).unwrap()
}
