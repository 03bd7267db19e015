//! Benchmarks: the timed training workload of `nn bench`, and helpers shared by the side-by-side
//! benchmark examples (`bench_tutorial`, `bench_mlp`).
//!
//! The peers are the reference scripts in `shared/peers`, run as child
//! processes in a Python environment that their `setup.sh` creates.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use candle_core::{DType, Device, Error, ModuleT, Result, Tensor};

use crate::kernels::{Kernels, Precision};
use crate::nn::{
    footprint, AnyOptimizer, Layers, Loss, Model, Net, NetConfig, OptimizerConfig, OptimizerKind,
};

/// SGD steps of a model in training mode on one fixed random batch with cycling class labels:
/// the workload of `torch_mlp.py` and `torch_cnn.py`.
#[derive(Debug, Clone)]
pub struct Workload {
    /// The model (its loss and kernels included); its seed is 0.
    pub config: NetConfig,
    /// Rows per batch.
    pub batch: usize,
    /// SGD's learning rate.
    pub lr: f64,
}

/// The network of `nn bench`: a classifier of `classes` over samples of `input`, with biases and
/// softmax cross-entropy, as `torch_mlp.py` and `torch_cnn.py` build theirs.
pub fn classifier(
    input: Vec<usize>,
    layers: Layers,
    classes: usize,
    kernels: Kernels,
) -> NetConfig {
    NetConfig {
        input,
        layers,
        outputs: classes,
        bias: true,
        loss: Loss::CrossEntropy,
        kernels,
    }
}

/// How fast a workload ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Rows trained per second.
    pub samples_per_sec: f64,
    /// Milliseconds per step in forward and loss, backward, and update, when asked for.
    pub phases_ms: Option<[f64; 3]>,
}

/// What `nn bench --metrics-json` writes: the timing and what it timed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// Rows trained per second.
    pub samples_per_sec: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Rows per batch.
    pub batch_size: usize,
    /// `fused` or `stock`.
    pub kernels: String,
    /// Timed steps.
    pub steps: usize,
    /// Where it ran.
    pub device: String,
    /// In what precision.
    pub dtype: &'static str,
}

impl Workload {
    /// The report of `timing`, `steps` steps of this workload in `dtype` on `dev`.
    pub fn report(&self, timing: &Timing, steps: usize, dtype: DType, dev: &Device) -> Report {
        Report {
            samples_per_sec: timing.samples_per_sec,
            ms_per_step: timing.ms_per_step,
            batch_size: self.batch,
            kernels: self.config.kernels.to_string(),
            steps,
            device: crate::device::name(dev),
            dtype: dtype.as_str(),
        }
    }

    /// What `nn bench` prints of `timing`: one line, and a second with the phases where timed.
    pub fn lines(&self, timing: &Timing, steps: usize, dtype: DType, dev: &Device) -> String {
        let c = &self.config;
        let mut text = format!(
            "nn bench: {:?} {} → {}, batch {}, {steps} steps, {} kernels, {} on {}, {} threads: {:.3} ms/step, {:.0} samples/s",
            c.input,
            c.layers,
            c.outputs,
            self.batch,
            c.kernels,
            dtype.as_str(),
            crate::device::name(dev),
            crate::kernels::threads::current(),
            timing.ms_per_step,
            timing.samples_per_sec,
        );
        if let Some([forward, backward, update]) = timing.phases_ms {
            text += &format!("\nphases: forward+loss {forward:.3} ms, backward {backward:.3} ms, update {update:.3} ms");
        }
        text
    }

    /// Times `steps` steps after 3 warm-up steps; with `phases`, the same steps again with the
    /// device synchronised between the phases of each (which costs a little).
    ///
    /// A workload over the model's memory budget is refused before anything is allocated.
    pub fn time(&self, steps: usize, phases: bool, dtype: DType, dev: &Device) -> Result<Timing> {
        let budget = crate::data::memory::model_budget();
        footprint::check(&self.config, OptimizerKind::Sgd, self.batch, dtype, budget)?;
        let inputs: usize = self.config.input.iter().product();
        let classes = self.config.outputs.max(1);
        let (net, varmap) = Net::seeded(self.config.clone(), 0, dtype, dev)?;
        let xs = Tensor::randn(0f32, 1.0, (self.batch, inputs), &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(dev)?;
        let labels: Vec<u32> = (0..self.batch).map(|i| (i % classes) as u32).collect();
        let ys = Tensor::from_vec(labels, self.batch, dev)?;
        let mut optimizer = AnyOptimizer::new(
            crate::nn::optim::named_vars(&varmap)?,
            &OptimizerConfig::Sgd,
            self.lr,
            self.config.kernels,
        )?;
        let forward_loss = || net.loss(&net.forward_t(&xs, true)?, &ys);
        for _ in 0..3 {
            optimizer.step(&forward_loss()?.backward()?)?;
        }
        dev.synchronize()?;
        let start = Instant::now();
        for _ in 0..steps {
            optimizer.step(&forward_loss()?.backward()?)?;
        }
        dev.synchronize()?;
        let seconds = start.elapsed().as_secs_f64();
        let phases_ms = phases
            .then(|| -> Result<[f64; 3]> {
                let mut seconds = [0f64; 3];
                for _ in 0..steps {
                    let mut start = Instant::now();
                    let mut lap = |slot: &mut f64| -> Result<()> {
                        dev.synchronize()?;
                        *slot += start.elapsed().as_secs_f64();
                        start = Instant::now();
                        Ok(())
                    };
                    let loss = forward_loss()?;
                    lap(&mut seconds[0])?;
                    let grads = loss.backward()?;
                    lap(&mut seconds[1])?;
                    optimizer.step(&grads)?;
                    lap(&mut seconds[2])?;
                }
                Ok(seconds.map(|s| s * 1e3 / steps.max(1) as f64))
            })
            .transpose()?;
        Ok(Timing {
            ms_per_step: seconds * 1e3 / steps.max(1) as f64,
            samples_per_sec: self.batch as f64 * steps as f64 / seconds,
            phases_ms,
        })
    }
}

/// The median of `samples` (the mean of the middle two for an even count; NaN for none).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[mid],
        _ => (sorted[mid - 1] + sorted[mid]) / 2.0,
    }
}

/// What `command` printed on standard output; a failure is an error carrying its standard error.
pub fn stdout_of(command: &mut Command) -> Result<String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .output()
        .map_err(|e| Error::Msg(format!("cannot run {program}: {e}")))?;
    if !out.status.success() {
        fail!(
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The python of the peers' virtual environment, created by `<peers>/setup.sh` if missing.
///
/// `numpy_only` installs numpy alone (small); otherwise PyTorch too (large).
pub fn peers_python(peers: &Path, numpy_only: bool) -> Result<PathBuf> {
    let setup = peers.join("setup.sh");
    let mut command = Command::new("bash");
    command.arg(&setup);
    if numpy_only {
        command.env("PEERS", "numpy");
    }
    let text = stdout_of(&mut command).map_err(|e| {
        Error::Msg(format!(
            "{} ({}): pass --peers DIR or --python PATH",
            setup.display(),
            crate::error::message(&e)
        ))
    })?;
    Ok(PathBuf::from(
        text.lines().last().unwrap_or_default().trim(),
    ))
}

/// The samples/s that one run of `command` printed (`"… 1234 samples/s"`): `nn bench` and the
/// peers' `torch_*.py` scripts both end so.
pub fn samples_per_sec(command: &mut Command) -> Result<f64> {
    let text = stdout_of(command)?;
    match number_before(&text, " samples/s") {
        Some(n) => Ok(n),
        None => fail!("no samples/s in: {}", text.trim()),
    }
}

/// The number just before `marker` in `text` (`"… 12345 samples/s"` → 12345).
pub fn number_before(text: &str, marker: &str) -> Option<f64> {
    let head = &text[..text.find(marker)?];
    head.rsplit(|c: char| c.is_whitespace() || c == ',' || c == '=')
        .next()?
        .parse()
        .ok()
}

/// The machine's load averages over 1, 5 and 15 minutes, as `/proc/loadavg` gives them
/// (`"1.08 1.26 1.14"`), for a benchmark to print beside its numbers; `"unknown"` elsewhere.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|fields| !fields.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// Full training steps of a GPT, the workload of `torch_gpt.py --bench`: forward, loss,
/// backward, gradient clipping and nanoGPT's AdamW at the warm-up's learning rate, on windows of
/// random tokens (the tokens do not change the work).
#[derive(Debug, Clone)]
pub struct GptWorkload {
    /// The model; its seed is 0.
    pub config: crate::nn::GptConfig,
    /// Windows per batch.
    pub batch: usize,
    /// The base learning rate, warmed up and decayed by `schedule`.
    pub lr: f64,
    /// The per-step schedule (nanoGPT's: 100 steps of warm-up, a floor of 1e-4).
    pub schedule: crate::nn::warmup_cosine::WarmupCosine,
    /// AdamW's β₂.
    pub beta2: f64,
    /// The decoupled weight decay of the tensors of two or more dimensions.
    pub weight_decay: f64,
    /// The global norm the gradients are clipped to.
    pub grad_clip: f64,
    /// The text whose training windows the steps take (as `torch_gpt.py --bench`'s); without
    /// one, windows of random ids of the vocabulary (the ids do not change the work).
    pub text: Option<crate::data::text::Corpus>,
}

impl Default for GptWorkload {
    /// nanoGPT's `shakespeare_char` run on the CPU, as `nn train` trains a GPT by default
    /// ([`crate::run::TEXT_DEFAULTS`]): 4 layers, 4 heads, 128 features, a block of 64,
    /// batches of 12, lr 1e-3 warmed up over 100 steps, β₂ 0.99, weight decay 0.1, clipping at 1.
    fn default() -> Self {
        let t = crate::run::TEXT_DEFAULTS;
        let (n_layer, n_head, n_embd) = t.shape;
        Self {
            config: crate::nn::GptConfig {
                block_size: t.block_size,
                n_layer,
                n_head,
                n_embd,
                ..Default::default()
            },
            batch: t.batch_size,
            lr: t.lr,
            schedule: t.schedule.with_steps(t.steps),
            beta2: t.beta2,
            weight_decay: t.weight_decay,
            grad_clip: t.grad_clip,
            text: None,
        }
    }
}

/// How fast a GPT workload ran.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GptTiming {
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Tokens trained per second (windows × block size per step).
    pub tokens_per_sec: f64,
    /// Milliseconds per step in forward and loss, backward, clipping, and the update, when asked for.
    pub phases_ms: Option<[f64; 4]>,
}

impl GptWorkload {
    /// Times `steps` steps after 3 warm-up steps (as `torch_gpt.py --bench`); with `phases`, the
    /// same steps again with the device synchronised between the phases of each.
    ///
    /// A workload over the model's memory budget is refused before anything is allocated, as
    /// `nn train` refuses the GPT.
    pub fn time(
        &self,
        steps: usize,
        phases: bool,
        dtype: DType,
        dev: &Device,
    ) -> Result<GptTiming> {
        use crate::nn::{clip::clip_grad_norm, grouped_adamw::GroupedAdamW, Gpt};
        use candle_nn::Optimizer;
        if self.batch == 0 {
            fail!("a batch of 0 windows holds no tokens: use e.g. 12")
        }
        // bf16 on the CPU is f32 weights and bf16 products, as `nn train` runs it.
        let (dtype, precision) = Precision::for_dtype(dtype, dev, self.config.kernels);
        let c = &crate::nn::GptConfig {
            precision: match precision {
                Precision::Bf16 => precision,
                Precision::Full => self.config.precision,
            },
            ..self.config.clone()
        };
        let budget = crate::data::memory::model_budget();
        footprint::check_gpt(c, self.batch, dtype, budget)?;
        let (gpt, varmap) = Gpt::seeded(c.clone(), 0, dtype, dev)?;
        let named = crate::nn::optim::named_vars(&varmap)?;
        let vars: Vec<_> = named.iter().map(|(_, v)| v.clone()).collect();
        let mut optimizer = GroupedAdamW::new(
            named,
            candle_nn::ParamsAdamW {
                lr: self.lr,
                beta2: self.beta2,
                weight_decay: self.weight_decay,
                ..Default::default()
            },
        )?;
        let (b, t) = (self.batch, c.block_size);
        if let Some(text) = &self.text {
            let (vocab, block) = (text.vocabulary().len(), text.options().block_size);
            if (vocab, block) != (c.vocab, t) {
                fail!("the workload's GPT takes {} characters in blocks of {t}, its text has {vocab} in blocks of {block}", c.vocab)
            }
        }
        let windows = |step: usize| -> Result<(Tensor, Tensor)> {
            if let Some(text) = &self.text {
                return text.train_batch(0, step as u64, b)?.tensors(dev);
            }
            let mut rng = crate::rng::stream(0, crate::rng::Purpose::Windows, step as u64);
            let ids: Vec<u32> = (0..b * (t + 1))
                .map(|_| (rng.next_u64() % c.vocab as u64) as u32)
                .collect();
            let ids = Tensor::from_vec(ids, (b, t + 1), dev)?;
            Ok((ids.narrow(1, 0, t)?, ids.narrow(1, 1, t)?.contiguous()?))
        };
        let mut it = 0;
        let mut train_step = |laps: Option<&mut [f64; 4]>| -> Result<()> {
            optimizer.set_learning_rate(self.schedule.lr(self.lr, it));
            let (xs, ys) = windows(it)?;
            it += 1;
            let mut start = Instant::now();
            let mut laps = laps;
            let mut lap = |slot: usize| -> Result<()> {
                if let Some(laps) = laps.as_deref_mut() {
                    dev.synchronize()?;
                    laps[slot] += start.elapsed().as_secs_f64();
                    start = Instant::now();
                }
                Ok(())
            };
            let loss = gpt.loss(&gpt.forward_t(&xs.contiguous()?, true)?, &ys)?;
            lap(0)?;
            let mut grads = loss.backward()?;
            lap(1)?;
            clip_grad_norm(&mut grads, &vars, self.grad_clip)?;
            lap(2)?;
            optimizer.step(&grads)?;
            lap(3)
        };
        for _ in 0..3 {
            train_step(None)?;
        }
        dev.synchronize()?;
        let start = Instant::now();
        for _ in 0..steps {
            train_step(None)?;
        }
        dev.synchronize()?;
        let seconds = start.elapsed().as_secs_f64();
        let phases_ms = phases
            .then(|| -> Result<[f64; 4]> {
                let mut laps = [0f64; 4];
                for _ in 0..steps {
                    train_step(Some(&mut laps))?;
                }
                Ok(laps.map(|s| s * 1e3 / steps.max(1) as f64))
            })
            .transpose()?;
        Ok(GptTiming {
            ms_per_step: seconds * 1e3 / steps.max(1) as f64,
            tokens_per_sec: (b * t) as f64 * steps as f64 / seconds,
            phases_ms,
        })
    }
}

/// What `nn bench --data text:PATH` writes with `--metrics-json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct GptReport {
    /// Characters (tokens) trained per second: windows × block size per step.
    pub tokens_per_sec: f64,
    /// Milliseconds per step.
    pub ms_per_step: f64,
    /// Timed steps.
    pub steps: usize,
    /// Windows per batch.
    pub batch_size: usize,
    /// Characters per window.
    pub block_size: usize,
    /// The model, `gpt:N_LAYER:N_HEAD:N_EMBD`.
    pub layers: String,
    /// Threads the kernels ran on.
    pub threads: usize,
    /// Where it ran.
    pub device: String,
    /// In what precision.
    pub dtype: &'static str,
}

impl GptWorkload {
    /// The report of `timing`, `steps` steps of this workload in `dtype` on `dev`.
    pub fn report(
        &self,
        timing: &GptTiming,
        steps: usize,
        dtype: DType,
        dev: &Device,
    ) -> GptReport {
        let c = &self.config;
        GptReport {
            tokens_per_sec: timing.tokens_per_sec,
            ms_per_step: timing.ms_per_step,
            steps,
            batch_size: self.batch,
            block_size: c.block_size,
            layers: format!("gpt:{}:{}:{}", c.n_layer, c.n_head, c.n_embd),
            threads: crate::kernels::threads::current(),
            device: crate::device::name(dev),
            dtype: dtype.as_str(),
        }
    }

    /// What `nn bench --data text:PATH` prints of `timing`: one line, and the phases where timed.
    pub fn lines(&self, timing: &GptTiming, steps: usize, dtype: DType, dev: &Device) -> String {
        let r = self.report(timing, steps, dtype, dev);
        let mut text = format!(
            "nn bench: {} over {} characters, block {}, batch {}, {steps} steps, {} on {}, {} threads: {:.3} ms/step, {:.0} tokens/s",
            r.layers,
            self.config.vocab,
            r.block_size,
            r.batch_size,
            r.dtype,
            r.device,
            r.threads,
            r.ms_per_step,
            r.tokens_per_sec
        );
        if let Some([forward, backward, clip, update]) = timing.phases_ms {
            text += &format!("\nphases: forward+loss {forward:.2} ms, backward {backward:.2} ms, clip {clip:.2} ms, update {update:.2} ms");
        }
        text
    }
}
