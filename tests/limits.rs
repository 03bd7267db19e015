//! Sizes that cannot be allocated are refused before anything is: a network's parameters, the
//! optimizer's state and a batch are counted from the spec, with arithmetic that never wraps,
//! and held to the memory budget in one line; never an allocator abort.

mod common;

use std::process::{Command, Output};

use common::nn::refusal;
use simple_nn::candle::DType;
use simple_nn::data::memory;
use simple_nn::nn::{footprint, Footprint, Layers, Loss, NetConfig, OptimizerKind};

/// `nn ARGS`, its address space capped at 8 GiB: an allocation the checks miss then fails at
/// once (the allocator aborts the process) instead of taking the machine's memory.
fn run_capped(args: &[&str]) -> Output {
    let mut command = Command::new(common::example("nn"));
    command.args(args);
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else.
        unsafe {
            command.pre_exec(|| {
                let cap = libc::rlimit {
                    rlim_cur: 8 << 30,
                    rlim_max: 8 << 30,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    command.output().unwrap()
}

fn net(input: &[usize], layers: &str, outputs: usize, bias: bool) -> NetConfig {
    NetConfig {
        input: input.to_vec(),
        layers: layers.parse().unwrap(),
        outputs,
        bias,
        loss: Loss::CrossEntropy,
        kernels: Default::default(),
    }
}

/// The MLP of the README's spirals run, 2 → 64 → 32 → 2.
fn mlp() -> NetConfig {
    net(&[2], "dense:64,relu,dense:32,relu", 2, true)
}

/// A small conv net with batch norm and a padded convolution, on 1×28×28 images.
fn conv_net(bias: bool) -> NetConfig {
    let layers =
        "conv:8:5,relu,maxpool:2,batchnorm,conv:16:5:1:2,relu,maxpool:2,flatten,dense:64,relu";
    net(&[1, 28, 28], layers, 10, bias)
}

// The counts below are written out by hand, layer by layer (weight `out·in` or `out·c·k·k`, bias
// `out`, batch norm 4 per channel: weight, bias, running mean and variance). PyTorch agrees:
//
//   import torch.nn as nn
//   m = nn.Sequential(nn.Conv2d(1, 8, 5), nn.ReLU(), nn.MaxPool2d(2), nn.BatchNorm2d(8),
//       nn.Conv2d(8, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
//       nn.Linear(576, 64), nn.ReLU(), nn.Linear(64, 10))
//   sum(v.numel() for k, v in m.state_dict().items() if "num_batches" not in k)  # 41034
//   nn.Sequential(nn.Linear(2, 64), nn.Linear(64, 32), nn.Linear(32, 2)) -> 2338

#[test]
fn parameters_are_counted_by_hand_for_an_mlp_and_a_conv_net() {
    let mlp_count = (2 * 64 + 64) + (64 * 32 + 32) + (32 * 2 + 2);
    assert_eq!(mlp_count, 2338);
    assert_eq!(mlp().parameter_count().unwrap(), mlp_count);

    // 28 −5+1 = 24, pooled 12; padded 12+4 −5+1 = 12, pooled 6: 16·6·6 = 576 into the dense layer.
    let conv = (8 * 5 * 5 + 8) + 4 * 8 + (16 * 8 * 5 * 5 + 16) + (64 * 576 + 64) + (10 * 64 + 10);
    assert_eq!(conv, 41034);
    assert_eq!(conv_net(true).parameter_count().unwrap(), conv);
    // Without biases batch norm keeps its shift: only the dense and conv biases go.
    let no_bias = conv - 8 - 16 - 64 - 10;
    assert_eq!(conv_net(false).parameter_count().unwrap(), no_bias);
}

#[test]
fn the_footprint_counts_gradients_the_optimizer_state_and_a_batch() {
    // Each optimizer's copies of every parameter: weights and gradients, momentum's velocity,
    // AdamW's two moments.
    for (kind, copies) in [
        (OptimizerKind::Sgd, 2),
        (OptimizerKind::Momentum, 3),
        (OptimizerKind::AdamW, 4),
    ] {
        let f = Footprint::of(&mlp(), kind, 32, DType::F32).unwrap();
        assert_eq!((f.parameters, f.copies, f.dtype_bytes), (2338, copies, 4));
    }
    // One batch: the input of every layer with weights (kept for its gradient) and the output.
    let f = Footprint::of(&mlp(), OptimizerKind::AdamW, 32, DType::F64).unwrap();
    assert_eq!(f.activations, 32 * (2 + 64 + 32 + 2));
    assert_eq!(f.bytes(), (2338 * 4 + 32 * 100) * 8);

    // The conv net: the image, batch norm's and the second conv's 8×12×12 inputs, the dense
    // layer's 576, the output layer's 64 and the 10 outputs.
    let f = Footprint::of(&conv_net(true), OptimizerKind::Sgd, 64, DType::F32).unwrap();
    assert_eq!(f.activations, 64 * (784 + 1152 + 1152 + 576 + 64 + 10));
}

#[test]
fn a_network_over_the_budget_is_refused_in_one_line_naming_parameters_bytes_and_budget() {
    let bytes = ((2338 * 4 + 32 * 100) * 4) as u64;
    let check = |budget| footprint::check(&mlp(), OptimizerKind::AdamW, 32, DType::F32, budget);
    assert_eq!(check(bytes).unwrap().bytes(), u128::from(bytes));
    let err = check(bytes - 1).unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
    for part in [
        "2338 parameters",
        "adamw in f32",
        &memory::size(bytes),
        &format!("budget of {}", memory::size(bytes - 1)),
        "--max-model-memory",
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
}

#[test]
fn shape_arithmetic_that_would_wrap_is_an_error_naming_the_layer() {
    let shapes = |input: &[usize], layers: &str| {
        let layers: Layers = layers.parse().unwrap();
        layers.shapes(input).map_err(|e| e.to_string())
    };
    // h + 2·pad past usize::MAX wrapped to 26 and gave a 24×24 output.
    let pad = format!("conv:8:3:1:{}", usize::MAX / 2);
    let err = shapes(&[1, 28, 28], &pad).unwrap_err();
    assert!(err.contains(&format!("layer '{pad}'")), "{err}");
    // 2^32 channels of 2^16×2^16 hold 2^64 values: the flatten after it wrapped to 0 features.
    let err = shapes(&[1, 1 << 16, 1 << 16], "conv:4294967296:1,flatten").unwrap_err();
    assert!(err.contains("layer 'conv:4294967296:1'"), "{err}");
    let err = shapes(&[1 << 32, 1 << 32, 2], "flatten").unwrap_err();
    assert!(err.contains("input of 4294967296×4294967296×2"), "{err}");
    // A dense layer of 2^32 units after one of 2^32 has 2^64 weights.
    let wide = net(&[2], "dense:4294967296,relu,dense:4294967296", 2, true);
    let err = wide.parameters().unwrap_err().to_string();
    assert!(err.contains("layer 'dense:4294967296'"), "{err}");
    // Two layers of 2^63 weights each: every tensor can be counted, their sum cannot.
    let huge = net(&[1 << 32], "dense:2147483648,dense:4294967296", 1, false);
    assert!(huge.parameters().is_ok());
    let err = huge.parameter_count().unwrap_err().to_string();
    assert!(err.contains("more than can be counted"), "{err}");
    // A batch whose layer outputs cannot be counted.
    let err = Footprint::of(&mlp(), OptimizerKind::Sgd, usize::MAX, DType::F32).unwrap_err();
    assert!(err.to_string().contains("smaller batch"), "{err}");
}

#[test]
fn train_refuses_a_layer_too_large_to_allocate_in_one_line() {
    // The command: the allocator aborted the process (exit 134) with a backtrace.
    let args = [
        "train",
        "--data",
        "spirals:50",
        "--layers",
        "dense:100000000000,relu",
        "--epochs",
        "1",
    ];
    let err = refusal(&run_capped(&args));
    // 2·10^11 + 10^11 (bias) weights and biases, then 10^11·2 + 2 for the output layer.
    assert!(err.contains("500000000002 parameters"), "{err}");
    assert!(err.contains("memory budget of"), "{err}");

    let mut capped = args.to_vec();
    capped.extend(["--max-model-memory", "1G", "--optimizer", "sgd"]);
    let err = refusal(&run_capped(&capped));
    assert!(
        err.contains("sgd in f32") && err.contains("budget of 1.0 GB"),
        "{err}"
    );
}

#[test]
fn max_model_memory_sets_the_model_budget_to_the_byte_new_and_resumed() {
    // 2 → 256 → 256 → 2 with AdamW in f32: 67074 parameters, 4 copies of 4 bytes, and a batch
    // of 32 rows (90 of spirals:50's 100 train) through 2 + 256 + 256 + 2 values, 4 bytes each.
    let parameters = (2 * 256 + 256) + (256 * 256 + 256) + (256 * 2 + 2);
    let bytes = parameters * 4 * 4 + 32 * (2 + 256 + 256 + 2) * 4;
    assert_eq!(bytes, 1_139_232);
    let dir = common::scratch("limits-model-budget");
    let model = dir.join("m.safetensors");
    let m = model.to_str().unwrap();
    let train = |budget: usize, epochs: &str, resume: bool| {
        let budget = budget.to_string();
        let mut args = vec!["train", "--data", "spirals:50", "--epochs", epochs];
        args.extend(["--max-model-memory", &budget, "--save", m]);
        args.extend(if resume {
            ["--resume", m]
        } else {
            ["--hidden", "256,256"]
        });
        run_capped(&args)
    };
    let err = refusal(&train(bytes - 1, "1", false));
    assert!(err.contains("67074 parameters"), "{err}");
    assert!(!model.exists());
    let out = train(bytes, "1", false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On --resume the flag holds too: the gradients and batches are still to be allocated.
    let err = refusal(&train(bytes - 1, "2", true));
    assert!(err.contains("67074 parameters"), "{err}");
    let out = train(bytes, "2", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_data_budget_streams_the_data_and_leaves_the_model_its_own() {
    // 96 images of 8×8 over a 2 KB data budget are read from disk; the model (6570 parameters,
    // about 113 KB to train) is held to its own budget, not to the data's.
    let dir = common::scratch("limits-data-budget");
    common::write_quadrants(&dir, 96, 8, 8);
    let data = format!("mnist:{}", dir.display());
    let args = [
        "train",
        "--data",
        &data,
        "--epochs",
        "1",
        "--max-memory",
        "2K",
    ];
    let out = run_capped(&args);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("read from disk"), "{text}");
    let mut tight = args.to_vec();
    tight.extend(["--max-model-memory", "100K"]);
    let err = refusal(&run_capped(&tight));
    assert!(
        err.contains("6570 parameters") && err.contains("budget of 100.0 KB"),
        "{err}"
    );
}

#[test]
fn bench_refuses_huge_layers_and_batches_in_one_line() {
    let err = refusal(&run_capped(&[
        "bench",
        "--hidden",
        "100000000000",
        "--steps",
        "1",
    ]));
    assert!(
        err.contains("parameters") && err.contains("budget"),
        "{err}"
    );
    let err = refusal(&run_capped(&[
        "bench",
        "--batch-size",
        "100000000000",
        "--steps",
        "1",
    ]));
    assert!(err.contains("for a batch of 100000000000"), "{err}");
    let err = refusal(&run_capped(&[
        "bench",
        "--batch-size",
        "10000000000000000000",
        "--steps",
        "1",
    ]));
    assert!(err.contains("smaller batch"), "{err}");
    let pad = format!("conv:8:3:1:{}", usize::MAX / 2);
    let err = refusal(&run_capped(&[
        "bench", "--inputs", "1,28,28", "--layers", &pad, "--steps", "1",
    ]));
    assert!(err.contains(&format!("layer '{pad}'")), "{err}");
    // --max-model-memory holds bench's network and batch: the default workload takes about 7 MB
    // (669706 parameters and their gradients, and a batch of 256 rows through 784 + 512 + 512 + 10).
    let err = refusal(&run_capped(&[
        "bench",
        "--steps",
        "1",
        "--max-model-memory",
        "4M",
    ]));
    assert!(err.contains("budget of 4.0 MB"), "{err}");
}

/// `nn bench --data text:PATH` holds a GPT to the model's budget, as `nn train` does: to the
/// byte, in one line naming the parameters and the budget, before anything is allocated (a GPT
/// of trillions of parameters is refused, not aborted by the allocator).
#[test]
fn bench_holds_a_gpt_to_the_model_budget() {
    // nanoGPT's parameters of gpt:1:2:16 over 11 characters, block 16, no biases: wte 11·16,
    // wpe 16·16; the block's ln_1 16, c_attn 48·16, attn.c_proj 16·16, ln_2 16, c_fc 64·16,
    // mlp.c_proj 16·64; ln_f 16 (lm_head is wte). PyTorch agrees: on this text
    //   torch_gpt.py --data t.txt --n-layer 1 --n-head 2 --n-embd 16 --block-size 16 --bench 1
    // prints "params": 3552, the sum of numel() over its nanoGPT module's parameters.
    let parameters = 11 * 16 + 16 * 16 + (16 + 48 * 16 + 16 * 16 + 16 + 64 * 16 + 16 * 64) + 16;
    assert_eq!(parameters, 3552);
    // AdamW in f32: weights, gradients and two moments, 4 bytes each; a batch of 4 windows of
    // 16 positions keeps, per position, 16 numbers per feature of the one block and the 11
    // logits with their gradient.
    let bytes = parameters * 4 * 4 + 4 * 16 * (16 * 16 + 2 * 11) * 4;
    assert_eq!(bytes, 128_000);
    let dir = common::scratch("limits-gpt-bench");
    let text = dir.join("t.txt");
    std::fs::write(&text, "abcd efgh.\n".repeat(300)).unwrap();
    let data = format!("text:{}", text.display());
    let bench = |layers: &str, budget: Option<usize>| {
        let budget = budget.map(|b| b.to_string());
        let mut args = vec!["bench", "--data", &data, "--layers", layers, "--steps", "1"];
        if layers == "gpt:1:2:16" {
            args.extend(["--block-size", "16", "--batch-size", "4"]);
        }
        if let Some(budget) = &budget {
            args.extend(["--max-model-memory", budget]);
        }
        run_capped(&args)
    };
    let err = refusal(&bench("gpt:1:2:16", Some(bytes - 1)));
    for part in [
        "gpt:1:2:16",
        "3552 parameters",
        "adamw in f32",
        &format!("budget of {}", memory::size(bytes as u64 - 1)),
    ] {
        assert!(err.contains(part), "{part:?} not in: {err}");
    }
    let out = bench("gpt:1:2:16", Some(bytes));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 64 blocks of 65536 features: 12·64·65536² ≈ 3.3·10¹² parameters, over any budget.
    let err = refusal(&bench("gpt:64:16:65536", None));
    assert!(
        err.contains("parameters") && err.contains("memory budget"),
        "{err}"
    );
}
