//! What a command line asks of a training run, settled once: the defaults for a new run, the
//! saved settings (with what may change, said in one line each) for a resumed one, and a
//! refusal for what would make another model or another data split.
//!
//! A GPT (text data, `--layers gpt:…`) trains by steps with the defaults of nanoGPT's
//! `shakespeare_char` run on the CPU, as `torch_gpt.py` has them ([`TEXT_DEFAULTS`]); a
//! network of layers trains by epochs unless `--steps` is given.

use candle_core::Result;

use crate::io::{ModelSpec, Training};
use crate::nn::{
    Activation, FitConfig, Layers, Loss, OptimizerConfig, OptimizerKind, Schedule, WarmupCosine,
};

/// The fraction of the training data a new run holds out for validation unless asked otherwise.
pub const VALID_FRACTION: f64 = 0.1;

/// What a command line asks of a training run. `None` (or `false`) is "not given": a new model
/// takes the default, a resumed one its saved value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Asked {
    /// The hidden layers, and the flag that gave them (for messages) [default: dense:64,relu,dense:32,relu].
    pub layers: Option<(Layers, String)>,
    /// The activation of the `--hidden` shorthand [default: relu].
    pub activation: Option<Activation>,
    /// The data's samples are images of this shape (`--image-shape C,H,W` for a CSV file).
    pub image_shape: Option<[usize; 3]>,
    /// The loss [default: cross-entropy].
    pub loss: Option<Loss>,
    /// Layers without bias.
    pub no_bias: bool,
    /// Standardise features with the training part's mean and spread.
    pub normalize: bool,
    /// A table's target column, where `--target` named one (the source reads it).
    pub target: Option<String>,
    /// The optimizer [default: adamw].
    pub optimizer: Option<OptimizerKind>,
    /// The base learning rate [default: 0.001].
    pub lr: Option<f64>,
    /// Momentum, for the momentum optimizer [default: 0.9].
    pub momentum: Option<f64>,
    /// Nesterov momentum, for the momentum optimizer.
    pub nesterov: bool,
    /// Weight decay, for momentum (L2) and AdamW (decoupled) [default: 0].
    pub weight_decay: Option<f64>,
    /// The learning-rate schedule [default: constant]; a cosine's length is set from `epochs`.
    pub schedule: Option<Schedule>,
    /// Rows per minibatch [default: 32].
    pub batch_size: Option<usize>,
    /// Epochs in all, those already done included [default: 20; resumed: the saved run's].
    pub epochs: Option<usize>,
    /// Seed of the initial weights, the validation split and the batch order [default: 0].
    pub seed: Option<u64>,
    /// Fraction of the training data held out for validation [default: [`VALID_FRACTION`]].
    pub valid_fraction: Option<f64>,
    /// Stop when the validation loss has not improved for this many epochs (or evaluations).
    pub patience: Option<usize>,
    /// Train this many steps in all, in place of epochs [a GPT's default: 2000].
    pub steps: Option<usize>,
    /// In a step run, score and save every this many steps [default: 250].
    pub eval_every: Option<usize>,
    /// Clip the gradients to this global L2 norm [a GPT's default: 1.0].
    pub grad_clip: Option<f64>,
    /// A GPT's context in characters [default: 64].
    pub block_size: Option<usize>,
    /// AdamW's β₂, for a GPT [default: 0.99].
    pub beta2: Option<f64>,
    /// A GPT's dropout on embeddings, attention and MLP outputs [default: 0].
    pub dropout: Option<f64>,
}

/// The settings a GPT trains with unless asked otherwise: `torch_gpt.py`'s, nanoGPT's
/// `shakespeare_char` run on the CPU (its README's command).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextDefaults {
    /// `--layers gpt:4:4:128`: layers, heads, features.
    pub shape: (usize, usize, usize),
    /// `--block-size 64`.
    pub block_size: usize,
    /// `--batch-size 12`.
    pub batch_size: usize,
    /// `--steps 2000`.
    pub steps: usize,
    /// `--lr 1e-3`.
    pub lr: f64,
    /// `--schedule warmup-cosine:100:1e-4`.
    pub schedule: WarmupCosine,
    /// `--beta2 0.99`.
    pub beta2: f64,
    /// `--weight-decay 0.1` (on tensors of two or more dimensions only).
    pub weight_decay: f64,
    /// `--grad-clip 1.0`.
    pub grad_clip: f64,
}

/// See [`TextDefaults`].
pub const TEXT_DEFAULTS: TextDefaults = TextDefaults {
    shape: (4, 4, 128),
    block_size: 64,
    batch_size: 12,
    steps: 2000,
    lr: 1e-3,
    schedule: WarmupCosine {
        warmup: 100,
        min_lr: 1e-4,
        steps: 0,
    },
    beta2: 0.99,
    weight_decay: 0.1,
    grad_clip: 1.0,
};

impl Asked {
    /// The layers a command line asks for: `--layers`, or `--hidden` with its `activation` (relu
    /// by default) as `dense:A,<activation>,…`; with the flag that asked, for messages.
    pub fn asked_layers(
        layers: Option<&Layers>,
        hidden: Option<&[usize]>,
        activation: Option<Activation>,
    ) -> Option<(Layers, String)> {
        match (layers, hidden) {
            (Some(layers), _) => Some((layers.clone(), format!("--layers {layers}"))),
            (None, Some(h)) => Some((
                Layers::dense(h, activation.unwrap_or(Activation::Relu)),
                format!("--hidden {h:?}"),
            )),
            (None, None) => None,
        }
    }

    /// The optimizer `kind` with the settings asked for over `base` (the saved ones, or the
    /// defaults); a setting `kind` has no use for is refused rather than dropped. A GPT's
    /// AdamW is nanoGPT's (`base` is then [`OptimizerConfig::AdamWGroups`]).
    fn optimizer_config(
        &self,
        kind: OptimizerKind,
        base: OptimizerConfig,
    ) -> Result<OptimizerConfig> {
        if let OptimizerConfig::AdamWGroups {
            weight_decay,
            beta2,
        } = base
        {
            if kind != OptimizerKind::AdamW || self.momentum.is_some() || self.nesterov {
                fail!("a GPT trains with AdamW (nanoGPT's, weight decay on its matrices only): drop --optimizer {kind}, --momentum and --nesterov")
            }
            return Ok(OptimizerConfig::AdamWGroups {
                weight_decay: self.weight_decay.unwrap_or(weight_decay),
                beta2: self.beta2.unwrap_or(beta2),
            });
        }
        if let Some(beta2) = self.beta2 {
            fail!("--beta2 {beta2} is a setting of a GPT's AdamW (text data): drop it")
        }
        let (momentum, nesterov, weight_decay) = match base {
            OptimizerConfig::Momentum {
                momentum,
                nesterov,
                weight_decay,
            } => (momentum, nesterov, weight_decay),
            OptimizerConfig::AdamW { weight_decay }
            | OptimizerConfig::AdamWGroups { weight_decay, .. } => (0.9, false, weight_decay),
            OptimizerConfig::Sgd => (0.9, false, 0.0),
        };
        if kind != OptimizerKind::Momentum && (self.momentum.is_some() || self.nesterov) {
            fail!("--momentum and --nesterov are settings of --optimizer momentum, not of {kind}: drop them, or use --optimizer momentum")
        }
        if kind == OptimizerKind::Sgd && self.weight_decay.is_some() {
            fail!("plain sgd has no weight decay: use --optimizer momentum --momentum 0 for SGD with an L2 penalty, or --optimizer adamw")
        }
        Ok(OptimizerConfig::new(
            kind,
            self.momentum.unwrap_or(momentum),
            nesterov || self.nesterov,
            self.weight_decay.unwrap_or(weight_decay),
        ))
    }

    /// The settings of a new run: what is asked, the defaults for the rest (a GPT's, for
    /// `text` data). A schedule's length is set once the data says how many batches an epoch has.
    pub(super) fn new_training(&self, text: bool) -> Result<Training> {
        let defaults = FitConfig::default();
        let kind = self.optimizer.unwrap_or(defaults.optimizer.kind());
        let fit = match text {
            false => {
                for (flag, given) in [
                    ("--block-size", self.block_size.is_some()),
                    ("--dropout", self.dropout.is_some()),
                ] {
                    if given {
                        fail!("{flag} is a setting of a GPT (text data): drop it (a network's dropout is a layer, dropout:P)")
                    }
                }
                FitConfig {
                    optimizer: self
                        .optimizer_config(kind, OptimizerConfig::new(kind, 0.9, false, 0.0))?,
                    lr: self.lr.unwrap_or(defaults.lr),
                    schedule: self.schedule.unwrap_or_default(),
                    batch_size: self.batch_size.unwrap_or(defaults.batch_size),
                    epochs: self.epochs.unwrap_or(defaults.epochs),
                    ..defaults
                }
            }
            true => {
                if let Some(epochs) = self.epochs {
                    fail!("--epochs {epochs}: a GPT trains by steps, not epochs: use --steps N")
                }
                let t = TEXT_DEFAULTS;
                let base = OptimizerConfig::AdamWGroups {
                    weight_decay: t.weight_decay,
                    beta2: t.beta2,
                };
                FitConfig {
                    optimizer: self.optimizer_config(kind, base)?,
                    lr: self.lr.unwrap_or(t.lr),
                    schedule: self.schedule.unwrap_or(Schedule::WarmupCosine(t.schedule)),
                    batch_size: self.batch_size.unwrap_or(t.batch_size),
                    steps: Some(self.steps.unwrap_or(t.steps)),
                    grad_clip: Some(self.grad_clip.unwrap_or(t.grad_clip)),
                    ..defaults
                }
            }
        };
        let fit = FitConfig {
            seed: self.seed.unwrap_or(defaults.seed),
            patience: self.patience,
            grad_clip: self.grad_clip.or(fit.grad_clip),
            steps: self.steps.or(fit.steps),
            eval_every: self.eval_every,
            ..fit
        };
        if fit.steps.is_none() && self.eval_every.is_some() {
            fail!("--eval-every scores a run by steps: add --steps N, or drop it (a run by epochs scores after each)")
        }
        if let (Some(steps), Some(epochs)) = (self.steps, self.epochs) {
            fail!("--steps {steps} and --epochs {epochs}: a run is as long as one of them says: give one")
        }
        let valid_fraction = self.valid_fraction.unwrap_or(VALID_FRACTION);
        Ok(Training::new(fit, valid_fraction))
    }

    /// Refuses the flags of a network of layers for a GPT, which has none of them: a text has no
    /// features to standardise, images or target column, and the model's loss is its own.
    pub(super) fn check_text(&self) -> Result<()> {
        let given = [
            (
                "--hidden or --layers with other layers than gpt:…",
                self.layers.as_ref().is_some_and(|(l, _)| l.gpt().is_none()),
            ),
            ("--activation", self.activation.is_some()),
            ("--loss", self.loss.is_some()),
            ("--no-bias", self.no_bias),
            ("--normalize", self.normalize),
            ("--image-shape", self.image_shape.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
            fail!("{flag}: text data trains a character-level GPT (--layers gpt:N_LAYER:N_HEAD:N_EMBD), which takes none: drop it")
        }
        Ok(())
    }

    /// Refuses what would make the model saved as `spec` another model: its layers, activation,
    /// loss, biases, standardisation, input shape and target are its own (a GPT's block size and
    /// dropout too).
    fn check_model(&self, spec: &ModelSpec) -> Result<()> {
        if let Some(text) = &spec.gpt {
            let c = &text.config;
            if let Some(t) = self.block_size.filter(|t| *t != c.block_size) {
                return Err(refused(
                    &format!("--block-size {t}"),
                    &format!(
                        "reads contexts of {} characters, the rows of its position embedding",
                        c.block_size
                    ),
                ));
            }
            if let Some(p) = self.dropout.filter(|p| *p != c.dropout) {
                return Err(refused(
                    &format!("--dropout {p}"),
                    &format!("trains with dropout {}", c.dropout),
                ));
            }
        }
        let saved = spec.net_config().layers;
        if let Some((asked, flag)) = &self.layers {
            if *asked != saved {
                fail!("the saved network's hidden layers are {saved}, not {flag}: drop --hidden/--layers to resume it, or train a new model")
            }
        }
        if self.activation.is_some_and(|a| a != spec.activation)
            || self.loss.is_some_and(|l| l != spec.loss)
        {
            fail!(
                "the saved network uses {} with {}: drop --activation/--loss to resume it, or train a new model",
                spec.activation,
                spec.loss
            )
        }
        if self.no_bias && spec.bias {
            return Err(refused("--no-bias", "has biases in its layers"));
        }
        if self.normalize && spec.normalization.is_none() {
            return Err(refused(
                "--normalize",
                "was trained on features as they are, not standardised",
            ));
        }
        if let Some(shape) = self
            .image_shape
            .filter(|s| spec.input_shape.as_deref() != Some(&s[..]))
        {
            let reads = match spec.input_shape.as_deref() {
                Some(saved) => format!("reads images of {saved:?}"),
                None => format!("reads flat rows of {} features", spec.sizes[0]),
            };
            return Err(refused(&format!("--image-shape {shape:?}"), &reads));
        }
        match (&self.target, &spec.table) {
            (Some(asked), Some(table)) if *asked != table.target => Err(refused(
                &format!("--target {asked}"),
                &format!("predicts column '{}'", table.target),
            )),
            _ => Ok(()),
        }
    }

    /// The settings of a run resumed from `spec`: the saved ones, with what this run asks applied
    /// where it may change between epochs, each change said in one line; the seed, the split
    /// and the optimizer are the model's own and are refused. A new batch size asked in the
    /// middle of an epoch waits for its end (the epoch's batches were cut at the saved size);
    /// in a step run it applies from the next step (on samples, only between epochs).
    pub(super) fn resumed_training(&self, spec: &ModelSpec) -> Result<Plan> {
        let Some(done) = &spec.training else {
            fail!("the model records no training settings to resume with: train a new one")
        };
        if done.streams != crate::rng::STREAMS {
            fail!("the model was trained by an earlier simple-nn, whose random streams (batch order, dropout masks) this one cannot replay: train a new model (this one still loads for eval and predict)")
        }
        self.check_model(spec)?;
        let (old, mut next) = (&done.fit, done.clone());
        if let Some(seed) = self.seed.filter(|s| *s != old.seed) {
            return Err(refused(&format!("--seed {seed}"), &format!("was trained with seed {}, which drew its weights, its validation split and its batch order", old.seed)));
        }
        if let Some(v) = self.valid_fraction.filter(|v| *v != done.valid_fraction) {
            return Err(refused(
                &format!("--valid-fraction {v}"),
                &format!(
                    "holds out {} of its data for validation",
                    done.valid_fraction
                ),
            ));
        }
        let kind = old.optimizer.kind();
        if let Some(asked) = self.optimizer.filter(|k| *k != kind) {
            return Err(refused(
                &format!("--optimizer {asked}"),
                &format!("trains with {kind}, whose running state is saved with it"),
            ));
        }
        let (epochs, steps) = match old.steps {
            None => {
                if let Some(steps) = self.steps {
                    fail!("--steps {steps}: the saved run trains by epochs: give --epochs N to train on")
                }
                let epochs = self.epochs.unwrap_or(old.epochs);
                if epochs <= done.epochs {
                    match self.epochs {
                        Some(_) => fail!("the model has already trained {} epochs: pass --epochs above that to train on", done.epochs),
                        None => fail!("the model has trained all {} epochs its run asked for: pass --epochs above that to train on", done.epochs),
                    }
                }
                (epochs, None)
            }
            Some(end) => {
                if let Some(epochs) = self.epochs {
                    fail!("--epochs {epochs}: the saved run trains by steps: give --steps N to train on")
                }
                let steps = self.steps.unwrap_or(end);
                if steps as u64 <= done.steps {
                    match self.steps {
                        Some(_) => fail!("the model has already trained {} steps: pass --steps above that to train on", done.steps),
                        None => fail!("the model has trained all {} steps its run asked for: pass --steps above that to train on", done.steps),
                    }
                }
                (old.epochs, Some(steps))
            }
        };
        let units = steps.unwrap_or(epochs);
        next.fit = FitConfig {
            optimizer: self.optimizer_config(kind, old.optimizer)?,
            lr: self.lr.unwrap_or(old.lr),
            schedule: (self.schedule.unwrap_or(old.schedule))
                .with_length(units, steps.unwrap_or(0)),
            epochs,
            steps,
            patience: self.patience.or(old.patience),
            grad_clip: self.grad_clip.or(old.grad_clip),
            eval_every: self.eval_every.or(old.eval_every),
            ..old.clone()
        };
        if next.fit.steps.is_none() && self.eval_every.is_some() {
            fail!("--eval-every scores a run by steps, and the saved run trains by epochs: drop it")
        }
        let from = match (old.steps, done.batch) {
            (Some(_), _) => format!("from step {}", done.steps + 1),
            (None, 0) => format!("from epoch {}", done.epochs + 1),
            (None, b) => format!("from batch {} of epoch {}", b + 1, done.epochs + 1),
        };
        let mut notes = Vec::new();
        let mut change = |what: &str, old: String, new: String| {
            if old != new {
                notes.push(format!("{what} {old} → {new} {from}"));
            }
        };
        change("lr", old.lr.to_string(), next.fit.lr.to_string());
        change(
            "schedule",
            old.schedule.to_string(),
            next.fit.schedule.to_string(),
        );
        match (old.optimizer, next.fit.optimizer) {
            (
                OptimizerConfig::Momentum {
                    momentum: m0,
                    nesterov: n0,
                    weight_decay: w0,
                },
                OptimizerConfig::Momentum {
                    momentum: m1,
                    nesterov: n1,
                    weight_decay: w1,
                },
            ) => {
                change("momentum", m0.to_string(), m1.to_string());
                change("nesterov", n0.to_string(), n1.to_string());
                change("weight decay", w0.to_string(), w1.to_string());
            }
            (
                OptimizerConfig::AdamW { weight_decay: w0 },
                OptimizerConfig::AdamW { weight_decay: w1 },
            ) => change("weight decay", w0.to_string(), w1.to_string()),
            (
                OptimizerConfig::AdamWGroups {
                    weight_decay: w0,
                    beta2: b0,
                },
                OptimizerConfig::AdamWGroups {
                    weight_decay: w1,
                    beta2: b1,
                },
            ) => {
                change("weight decay", w0.to_string(), w1.to_string());
                change("beta2", b0.to_string(), b1.to_string());
            }
            _ => {}
        }
        let clip = |c: Option<f64>| c.map_or("none".to_string(), |c| c.to_string());
        change("grad clip", clip(old.grad_clip), clip(next.fit.grad_clip));
        if next.fit.steps.is_some() {
            change(
                "eval every",
                old.eval_every().to_string(),
                next.fit.eval_every().to_string(),
            );
        }
        let patience = |p: Option<usize>| p.map_or("none".to_string(), |p| p.to_string());
        change(
            "patience",
            patience(old.patience),
            patience(next.fit.patience),
        );
        let unit = match steps {
            Some(_) => "steps",
            None => "epochs",
        };
        if let (Schedule::Cosine { epochs: a, .. }, Schedule::Cosine { epochs: b, .. }) =
            (old.schedule, next.fit.schedule)
        {
            change(
                "cosine schedule's length",
                format!("{a} {unit}"),
                format!("{b} {unit}"),
            );
        }
        if let (Schedule::WarmupCosine(a), Schedule::WarmupCosine(b), Some(_)) =
            (old.schedule, next.fit.schedule, steps)
        {
            change(
                "warmup-cosine schedule's length",
                format!("{} steps", a.steps),
                format!("{} steps", b.steps),
            );
        }
        let mut next_batch_size = None;
        if let Some(size) = self.batch_size.filter(|b| *b != old.batch_size) {
            if old.steps.is_some() {
                // A text's steps draw their windows afresh; samples' epochs were cut at the
                // saved size, so a run by steps changes it only between epochs.
                if spec.gpt.is_none() && done.batch > 0 {
                    return Err(refused(&format!("--batch-size {size}"), &format!("stopped in the middle of an epoch cut into batches of {}, and a run by steps goes on with them: resume without it, and give it once the epoch is done", old.batch_size)));
                }
                next.fit.batch_size = size;
                notes.push(format!("batch size {} → {size} {from}", old.batch_size));
                return Ok(Plan {
                    training: next,
                    notes,
                    next_batch_size,
                });
            }
            match done.batch {
                0 => next.fit.batch_size = size,
                _ => next_batch_size = Some(size),
            }
            notes.push(format!(
                "batch size {} → {size} from epoch {}",
                old.batch_size,
                done.epochs + 1 + usize::from(done.batch > 0)
            ));
        }
        Ok(Plan {
            training: next,
            notes,
            next_batch_size,
        })
    }
}

/// The one-line error that refuses `flag` on resume: the saved model `has`, and how to go on.
fn refused(flag: &str, has: &str) -> candle_core::Error {
    candle_core::Error::Msg(format!("{flag}: the saved model {has}: drop it to resume the model, or leave out --resume to train a new one"))
}

/// A run's settings, before the data and the model are there.
pub(super) struct Plan {
    /// The settings.
    pub(super) training: Training,
    /// Lines to tell the user (what changed on resume).
    pub(super) notes: Vec<String>,
    /// A batch size asked in the middle of an epoch, for the epochs after it.
    pub(super) next_batch_size: Option<usize>,
}
