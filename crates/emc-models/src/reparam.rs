//! Reparameterised networks: a network whose weights θ are a function of other trainable
//! variables φ — subspace training (θ = θ₀ + P z, [`crate::subspace`]) and quantisation-aware
//! training (θ = q(φ), [`crate::quant`]).
//!
//! The network's forward and backward run on θ as for any model, so every family works
//! unchanged. The trainer then pulls θ's gradient back to φ ([`Reparam::pullback`], a
//! vector-Jacobian product, or the straight-through estimator for quantisation), steps φ
//! with its optimizer, and writes θ again ([`Reparam::materialize`]). [`pull_back`] and
//! [`sync`] are the two calls, identities for plain models.

use candle_core::{backprop::GradStore, DType, Device, Tensor, Var};

use crate::{Dropout, Model};

/// How a reparameterised model's weights θ follow its trainable variables φ.
pub trait Reparam: Send + Sync {
    /// The variables the optimizer updates (φ), in a fixed order.
    fn params(&self) -> Vec<Var>;

    /// φ's gradient from `grads`, which holds θ's (θ entries without a gradient count as
    /// zero). Holds nothing but φ's gradients.
    fn pullback(&self, grads: &GradStore) -> candle_core::Result<GradStore>;

    /// Writes θ = f(φ) into the network's variables.
    fn materialize(&self) -> candle_core::Result<()>;
}

/// A network together with the reparameterisation of its weights.
pub(crate) struct Reparameterized {
    pub(crate) network: Box<dyn Model>,
    pub(crate) reparam: Box<dyn Reparam>,
}

impl Model for Reparameterized {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.network.forward(xs, train)
    }

    fn set_dropout(&mut self, dropout: Dropout) -> bool {
        self.network.set_dropout(dropout)
    }

    fn reparam(&self) -> Option<&dyn Reparam> {
        Some(self.reparam.as_ref())
    }
}

/// `grads` pulled back to the variables `model`'s optimizer updates: `grads` itself for a
/// plain model, φ's gradient for a reparameterised one.
pub fn pull_back(model: &dyn Model, grads: GradStore) -> candle_core::Result<GradStore> {
    match model.reparam() {
        Some(r) => r.pullback(&grads),
        None => Ok(grads),
    }
}

/// Brings a reparameterised model's weights θ up to date after its variables φ changed (an
/// optimizer step, a checkpoint load, a perturbation); nothing for a plain model.
pub fn sync(model: &dyn Model) -> candle_core::Result<()> {
    match model.reparam() {
        Some(r) => r.materialize(),
        None => Ok(()),
    }
}

/// A gradient store holding no variable's gradient (candle has no public constructor: the
/// backward pass of a constant holds only the constant's own entry).
pub(crate) fn empty_grads(device: &Device) -> candle_core::Result<GradStore> {
    Tensor::zeros((), DType::F32, device)?.backward()
}
