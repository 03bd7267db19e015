//! A run trained by several ranks at once: the start-up check that every rank has the same
//! configuration, data and model, described here for [`Ranks::agree`].

use candle_core::{DType, Result};
use serde_json::{json, Value};

use super::{Data, Run};
use crate::data::text::Span;
use crate::dist::{fingerprint, Ranks, Shared};
use crate::nn::LayerSpec;

/// How many rows (windows, of a text) of each part the data's fingerprint reads.
const SAMPLED_ROWS: usize = 64;

impl Run {
    /// Trains this run as one of `ranks` (see [`crate::nn::Learner::on_ranks`]), after checking
    /// that every rank has the same configuration, data and model: where one differs, every
    /// rank fails with one line that names the rank and the difference (rank 0 prints it).
    pub fn on_ranks(&mut self, ranks: Ranks) -> Result<()> {
        if ranks.is_parallel() {
            let items = [
                ("configuration", self.configuration()),
                ("data", self.data_description()?),
                ("model", self.model_description()?),
            ];
            ranks.agree(&items)?;
            if self.has_dropout() {
                return Err(Shared::error(format!(
                    "the model has dropout, whose masks each of the {} ranks would draw for its own rows, unlike one process: train it without dropout (--dropout 0, no dropout: layer) or in one process",
                    ranks.size()
                )));
            }
        }
        self.ranks = ranks;
        Ok(())
    }

    /// The ranks that train this run.
    pub fn ranks(&self) -> Ranks {
        self.ranks
    }

    /// What the run trains and how: the model's description and the training settings.
    fn configuration(&self) -> Vec<(&'static str, Value)> {
        let model = crate::io::ModelSpec {
            training: None,
            ..self.spec.clone()
        };
        let dtype = self.varmap.all_vars().first().map(|v| v.dtype().as_str());
        vec![
            ("training", json!(self.training)),
            ("model", json!(model)),
            ("dtype", json!(dtype)),
        ]
    }

    /// The data's sizes, and a fingerprint of rows spread over each part.
    fn data_description(&self) -> Result<Vec<(&'static str, Value)>> {
        let hex = |h: u64| format!("{h:016x}");
        Ok(match &self.data {
            Data::Samples { train, valid } => {
                let mut bytes = Vec::new();
                // Up to SAMPLED_ROWS rows of each part, from its first to its last.
                for part in [train, valid].into_iter().filter(|p| !p.is_empty()) {
                    let n = part.len();
                    let k = n.min(SAMPLED_ROWS);
                    let rows: Vec<usize> = (0..k).map(|i| i * (n - 1) / (k - 1).max(1)).collect();
                    let read = part.rows(&rows)?;
                    bytes.extend(read.features.iter().flat_map(|x| x.to_le_bytes()));
                    bytes.extend(format!("{:?}", read.targets).into_bytes());
                }
                vec![
                    ("train rows", json!(train.len())),
                    ("validation rows", json!(valid.len())),
                    ("features", json!(train.n_features())),
                    ("classes", json!(train.classes())),
                    ("rows' fingerprint", json!(hex(fingerprint(&bytes)))),
                ]
            }
            Data::Text(corpus) => {
                let mut bytes = Vec::new();
                if corpus.train_len() > corpus.options().block_size {
                    let batch = corpus.train_rows(0, 0, 0..SAMPLED_ROWS)?;
                    bytes.extend(batch.inputs().iter().flat_map(|x| x.to_le_bytes()));
                }
                let valid = corpus.window_count(Span::Valid).min(SAMPLED_ROWS);
                let batch = corpus.windows(Span::Valid, 0..valid)?;
                bytes.extend(batch.inputs().iter().flat_map(|x| x.to_le_bytes()));
                let vocabulary = format!("{:?}", corpus.vocabulary());
                vec![
                    ("characters", json!(corpus.len())),
                    ("training characters", json!(corpus.train_len())),
                    ("vocabulary", json!(hex(fingerprint(vocabulary.as_bytes())))),
                    ("windows' fingerprint", json!(hex(fingerprint(&bytes)))),
                ]
            }
        })
    }

    /// The model's parameters and optimizer state, as fingerprints of their values.
    fn model_description(&self) -> Result<Vec<(&'static str, Value)>> {
        let mut named: Vec<_> = self
            .varmap
            .data()
            .lock()
            .map_err(|_| candle_core::Error::Msg("the VarMap's lock is poisoned".into()))?
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let values = |tensors: &[(String, candle_core::Tensor)]| -> Result<String> {
            let mut bytes = Vec::new();
            for (name, t) in tensors {
                bytes.extend(name.as_bytes());
                let xs = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
                bytes.extend(xs.iter().flat_map(|x| x.to_le_bytes()));
            }
            Ok(format!("{:016x}", fingerprint(&bytes)))
        };
        let parameters: usize = named.iter().map(|(_, t)| t.elem_count()).sum();
        Ok(vec![
            ("parameters", json!(parameters)),
            ("weights' fingerprint", json!(values(&named)?)),
            ("optimizer steps", json!(self.optimizer.steps)),
            (
                "optimizer state's fingerprint",
                json!(values(&self.optimizer.tensors)?),
            ),
        ])
    }

    /// Whether the model draws dropout masks in training.
    fn has_dropout(&self) -> bool {
        let gpt = (self.spec.gpt.as_ref()).is_some_and(|g| g.config.dropout > 0.0);
        let layers = (self.spec.layers.as_ref()).is_some_and(|l| {
            l.0.iter()
                .any(|s| matches!(s, LayerSpec::Dropout(p) if *p > 0.0))
        });
        gpt || layers
    }
}
