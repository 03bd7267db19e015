//! Neural networks on candle: layers and models built from a `VarBuilder`, losses, optimizers,
//! learning-rate schedules, and the minibatch training loop.
//!
//! A model's kernels are chosen once, in its config ([`MlpConfig::kernels`]);
//! everything after that (`forward`, [`Mlp::loss`], [`fit()`]) runs on them.

pub mod attention;
pub mod block;
pub mod clip;
pub mod dropout;
pub mod embedding;
pub mod evaluate;
pub mod feed_forward;
pub mod fit;
pub mod footprint;
pub mod generate;
pub mod gpt;
pub mod gpt_config;
pub mod grouped_adamw;
pub mod init;
pub mod layer_norm;
pub mod loss;
pub mod mlp;
pub mod model;
pub mod net;
pub mod network;
pub mod optim;
pub mod projection;
pub mod schedule;
pub mod spec;
pub mod warmup_cosine;

pub use evaluate::{evaluate, evaluate_text, predict, Evaluation};
pub use fit::{fit, Epoch, FitConfig, Learner, StepData, Unit};
pub use footprint::Footprint;
pub use generate::{generate, Sampling};
pub use gpt::Gpt;
pub use gpt_config::GptConfig;
pub use loss::{Head, Loss};
pub use mlp::{
    check_sizes, sizes_of, weight_name, Activation, Dense, Mlp, MlpConfig, TUTORIAL_SIZES,
};
pub use model::Model;
pub use net::{avg_pool, max_pool, Net, NetConfig};
pub use network::Network;
pub use optim::{
    named_vars, AdamW, AnyOptimizer, OptimizerConfig, OptimizerKind, OptimizerState, SgdMomentum,
};
pub use schedule::Schedule;
pub use spec::{LayerSpec, Layers};
pub use warmup_cosine::WarmupCosine;
