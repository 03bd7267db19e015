//! Scoring a model: its loss and accuracy on samples or on the windows of a text, and its
//! predictions.
//!
//! A text is scored as `torch_gpt.py` scores its validation part: cut into consecutive,
//! non-overlapping windows of the block size (the last partial window left out), every
//! character predicted once from those before it in its window; the loss is the mean
//! cross-entropy in nats per character.

use candle_core::{DType, Device, Result};

use super::loss::Loss;
use super::model::Model;
use crate::data::text::{Corpus, Span};
use crate::data::Samples;

/// Windows of text scored at a time.
const TEXT_BATCH: usize = 64;

/// A model's score on a data set.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Evaluation {
    /// The loss per sample (per character, for a text).
    pub loss: f64,
    /// The fraction classified correctly (classification only; for a text, the characters
    /// whose most likely next character was the one that came).
    pub accuracy: Option<f64>,
    /// How many samples were scored (windows, for a text).
    pub samples: usize,
}

/// Scores `model` on `samples` in batches of 1024 rows, with its loss and (for classification) accuracy.
pub fn evaluate(
    model: &dyn Model,
    samples: &Samples,
    dtype: DType,
    dev: &Device,
) -> Result<Evaluation> {
    if matches!(samples.targets(), crate::data::Targets::Unknown) {
        fail!("the samples have no targets to score against: give the data its target column")
    }
    let loss = model.loss_kind();
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    let indices: Vec<usize> = (0..samples.len()).collect();
    for chunk in indices.chunks(1024) {
        let (xs, ys) = samples.batch(chunk, dtype, dev)?;
        let output = model.forward_t(&xs, false)?;
        let value = model
            .loss(&output, &ys)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        loss_sum += per_sample(loss, value, chunk.len()) * chunk.len() as f64;
        correct += loss.accuracy(&output, &ys)?.unwrap_or(0.0) * chunk.len() as f64;
    }
    let n = samples.len().max(1) as f64;
    Ok(Evaluation {
        loss: loss_sum / n,
        accuracy: loss.is_classification().then_some(correct / n),
        samples: samples.len(),
    })
}

/// Scores a text model on the `span` of `corpus` (its validation part, or the whole file) in
/// consecutive windows of the corpus's block size: the mean cross-entropy per character, and
/// the fraction of characters predicted right.
pub fn evaluate_text(
    model: &dyn Model,
    corpus: &Corpus,
    span: Span,
    dev: &Device,
) -> Result<Evaluation> {
    let windows = corpus.window_count(span);
    if windows == 0 {
        fail!(
            "{} holds no whole window of {} characters to score: use a longer text or a smaller --block-size",
            corpus.path().display(),
            corpus.options().block_size
        )
    }
    let (mut loss_sum, mut correct) = (0.0, 0.0);
    for batch in corpus.batches(span, TEXT_BATCH)? {
        let batch = batch?;
        let (xs, ys) = batch.tensors(dev)?;
        let logits = model.forward_t(&xs, false)?;
        let value = model
            .loss(&logits, &ys)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        let rows = batch.rows() as f64;
        loss_sum += value * rows;
        correct += Loss::CrossEntropy.accuracy(&logits, &ys)?.unwrap_or(0.0) * rows;
    }
    Ok(Evaluation {
        loss: loss_sum / windows as f64,
        accuracy: Some(correct / windows as f64),
        samples: windows,
    })
}

/// `model`'s predictions for every sample, in batches of 1024 rows: class probabilities, or the regression outputs.
pub fn predict(
    model: &dyn Model,
    samples: &Samples,
    dtype: DType,
    dev: &Device,
) -> Result<Vec<Vec<f64>>> {
    let loss = model.loss_kind();
    let indices: Vec<usize> = (0..samples.len()).collect();
    let mut rows = Vec::with_capacity(samples.len());
    for chunk in indices.chunks(1024) {
        let (xs, _) = samples.batch(chunk, dtype, dev)?;
        let predictions = loss.predictions(&model.forward_t(&xs, false)?)?;
        rows.extend(predictions.to_dtype(DType::F64)?.to_vec2::<f64>()?);
    }
    Ok(rows)
}

/// A batch's loss per sample: the summed half-SSE is divided by the rows, the means are already per sample.
pub(super) fn per_sample(loss: Loss, value: f64, rows: usize) -> f64 {
    match loss {
        Loss::HalfSse => value / rows.max(1) as f64,
        Loss::CrossEntropy | Loss::Mse | Loss::Bce => value,
    }
}
