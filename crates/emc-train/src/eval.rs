//! Exact evaluation and full-data gradients, in bounded-size chunks.
//!
//! Evaluation measures the plain cross-entropy (eval mode, true labels): it decides the fit
//! and reports the loss. The full-data gradient is that of the training loss, label-smoothed
//! when the configuration says so ([`full_gradient_smoothed`]): full-batch steps, the
//! small-gradient certificate and the Hessian check are about the objective being
//! minimised.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};
use emc_models::Model;

use crate::error::Result;

/// Accuracy and mean loss of a model over a whole dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// Samples classified correctly.
    pub correct: usize,
    /// Samples evaluated.
    pub total: usize,
    /// Mean cross-entropy.
    pub loss: f64,
}

impl Evaluation {
    /// `correct / total`.
    pub fn accuracy(&self) -> f64 {
        if self.total == 0 {
            1.0
        } else {
            self.correct as f64 / self.total as f64
        }
    }

    /// Whether every sample is classified correctly.
    pub fn all_correct(&self) -> bool {
        self.correct == self.total
    }
}

/// Chunk boundaries `[start, end)` covering `0..n`.
pub(crate) fn chunks(n: usize, size: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..n)
        .step_by(size.max(1))
        .map(move |s| (s, (s + size).min(n)))
}

/// The mean training loss of `logits` against `labels`: the cross-entropy, label-smoothed
/// by `label_smoothing` (at 0 the plain cross-entropy, bit for bit).
pub(crate) fn training_loss(
    logits: &Tensor,
    labels: &Tensor,
    label_smoothing: f64,
) -> Result<Tensor> {
    Ok(emc_models::kernels::smoothed_cross_entropy(
        logits,
        labels,
        label_smoothing,
    )?)
}

/// Sum of the (label-smoothed by `label_smoothing`) cross-entropy over the rows of
/// `logits` and the number of correct predictions.
fn loss_sum_and_correct(
    logits: &Tensor,
    labels: &Tensor,
    label_smoothing: f64,
) -> Result<(Tensor, usize)> {
    let n = labels.dim(0)?;
    let loss = training_loss(logits, labels, label_smoothing)?.affine(n as f64, 0.0)?;
    let pred = logits.argmax(1)?;
    let correct = pred
        .eq(labels)?
        .to_dtype(DType::U32)?
        .sum_all()?
        .to_scalar::<u32>()? as usize;
    Ok((loss, correct))
}

/// Evaluates in eval mode (batch norm uses running statistics), in chunks of `batch`.
pub fn evaluate(
    model: &dyn Model,
    images: &Tensor,
    labels: &Tensor,
    batch: usize,
) -> Result<Evaluation> {
    let n = labels.dim(0)?;
    let (mut correct, mut loss) = (0usize, 0f64);
    for (s, e) in chunks(n, batch) {
        let logits = model.forward(&images.narrow(0, s, e - s)?, false)?.detach();
        let (l, c) = loss_sum_and_correct(&logits, &labels.narrow(0, s, e - s)?, 0.0)?;
        loss += l.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        correct += c;
    }
    Ok(Evaluation {
        correct,
        total: n,
        loss: loss / n.max(1) as f64,
    })
}

/// The gradient of the mean cross-entropy over all samples, accumulated chunk by chunk so
/// that memory stays bounded, with the mean loss and the number of correct predictions
/// (in training mode): [`full_gradient_smoothed`] without label smoothing.
pub fn full_gradient(
    model: &dyn Model,
    trainable: &[Var],
    images: &Tensor,
    labels: &Tensor,
    chunk: usize,
) -> Result<(GradStore, f64, usize)> {
    full_gradient_smoothed(model, trainable, images, labels, chunk, 0.0)
}

/// [`full_gradient`] of the training loss label-smoothed by `label_smoothing` (the
/// returned mean loss is the smoothed one too); at 0 the same bits as [`full_gradient`].
pub fn full_gradient_smoothed(
    model: &dyn Model,
    trainable: &[Var],
    images: &Tensor,
    labels: &Tensor,
    chunk: usize,
    label_smoothing: f64,
) -> Result<(GradStore, f64, usize)> {
    let n = labels.dim(0)?;
    let mut total: Option<GradStore> = None;
    let (mut loss_sum, mut correct) = (0f64, 0usize);
    for (s, e) in chunks(n, chunk) {
        let logits = model.forward(&images.narrow(0, s, e - s)?, true)?;
        let (l, c) = loss_sum_and_correct(&logits, &labels.narrow(0, s, e - s)?, label_smoothing)?;
        loss_sum += l.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        correct += c;
        let mut grads = emc_models::pull_back(model, l.affine(1.0 / n as f64, 0.0)?.backward()?)?;
        total = Some(match total {
            None => grads,
            Some(mut acc) => {
                for v in trainable {
                    if let Some(g) = grads.remove(v.as_tensor()) {
                        let sum = match acc.get(v.as_tensor()) {
                            Some(a) => (a + g)?,
                            None => g,
                        };
                        acc.insert(v.as_tensor(), sum);
                    }
                }
                acc
            }
        });
    }
    let grads = match total {
        Some(g) => g,
        None => Tensor::zeros((), DType::F32, images.device())?.backward()?,
    };
    Ok((grads, loss_sum / n.max(1) as f64, correct))
}
