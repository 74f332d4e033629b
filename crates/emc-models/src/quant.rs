//! Quantisation-aware training of low-precision weights: every trainable tensor of the
//! wrapped network is fake-quantised, `quant:4(cnn:8,16)`.
//!
//! Per-tensor symmetric quantisation at b bits: with L = 2^(b−1) − 1 levels on each side and
//! s = max|φ| / L, the network's weights are θ = s · clamp(round(φ / s), −L, L) (a tensor of
//! zeros stays zero). Weights, biases and normalisation affines are all quantised, so the
//! model holds exactly parameters × b bits (plus one scale per tensor). Full-precision
//! master weights φ are what the optimizer updates; the gradient reaches them through the
//! straight-through estimator, ∂L/∂φ := ∂L/∂θ at θ = q(φ) (with max-abs scaling nothing is
//! clipped, so no entry is masked). The fit, like every evaluation, runs on the quantised θ.
//! 32 bits is the identity: θ = φ bit for bit.
//!
//! Max-abs calibration is the plain symmetric choice; at 2 bits it is ternary ({−s, 0, s})
//! and zeroes every weight below s/2, which trains poorly (learned scales as in LSQ, or
//! mean-based thresholds as in ternary weight networks, are not implemented).

use std::fmt;

use candle_core::{backprop::GradStore, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{
    reparam::{empty_grads, Reparam, Reparameterized},
    Built, ModelError, ModelSpec, Result,
};

/// Prefix of the master weights' names: `quant.<weight name>`.
pub const MASTER_PREFIX: &str = "quant.";

/// A model with quantised weights (`quant:<bits>(...)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantConfig {
    /// Bits per weight: 2 to 16, or 32 (no quantisation).
    pub bits: u32,
    /// The wrapped model.
    pub model: Box<ModelSpec>,
}

impl fmt::Display for QuantConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "quant:{}({})", self.bits, self.model)
    }
}

impl QuantConfig {
    /// The bit widths accepted.
    pub const EXPECTED_BITS: &'static str = "2 to 16 bits, or 32 (full precision)";

    /// Checks the bit width.
    pub(crate) fn check_bits(&self) -> Result<()> {
        if (2..=16).contains(&self.bits) || self.bits == 32 {
            Ok(())
        } else {
            Err(ModelError::Config {
                family: "quant",
                field: "bits",
                value: self.bits.to_string(),
                reason: format!("expected {}", Self::EXPECTED_BITS),
            })
        }
    }

    /// Wraps `network`: each trainable weight gets a master copy `quant.<name>` (its
    /// initial value), and the weight becomes its quantisation.
    pub(crate) fn wrap(&self, network: Built) -> Result<Built> {
        self.check_bits()?;
        let names = network.named_trainable();
        let mut pairs = Vec::with_capacity(names.len());
        {
            let mut data = network
                .varmap
                .data()
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            for (name, theta) in names {
                let master = Var::from_tensor(&theta.as_tensor().copy()?)?;
                data.insert(format!("{MASTER_PREFIX}{name}"), master.clone());
                pairs.push((theta, master));
            }
        }
        let reparam = QuantReparam {
            bits: self.bits,
            pairs,
        };
        reparam.materialize()?;
        let params = reparam.params();
        Ok(Built {
            model: Box::new(Reparameterized {
                network: network.model,
                reparam: Box::new(reparam),
            }),
            varmap: network.varmap,
            trainable: params,
            num_params: network.num_params,
        })
    }
}

/// `t` quantised symmetrically per tensor at `bits` (2 to 16); 32 returns `t` itself.
pub fn fake_quantize(t: &Tensor, bits: u32) -> candle_core::Result<Tensor> {
    if bits >= 32 {
        return Ok(t.clone());
    }
    let levels = ((1u64 << (bits - 1)) - 1) as f64;
    let max = t
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?;
    if max == 0.0 || !max.is_finite() {
        // Zeros stay zero; a non-finite weight is passed on for the trainer to see diverge.
        return Ok(t.clone());
    }
    let scale = max / levels;
    t.affine(1.0 / scale, 0.0)?
        .round()?
        .clamp(-levels, levels)?
        .affine(scale, 0.0)
}

/// The quantised weights θ and their master weights φ, in name order.
struct QuantReparam {
    bits: u32,
    pairs: Vec<(Var, Var)>,
}

impl Reparam for QuantReparam {
    fn params(&self) -> Vec<Var> {
        self.pairs.iter().map(|(_, m)| m.clone()).collect()
    }

    fn pullback(&self, grads: &GradStore) -> candle_core::Result<GradStore> {
        let device = match self.pairs.first() {
            Some((theta, _)) => theta.device().clone(),
            None => candle_core::Device::Cpu,
        };
        let mut out = empty_grads(&device)?;
        for (theta, master) in &self.pairs {
            if let Some(g) = grads.get(theta.as_tensor()) {
                out.insert(master.as_tensor(), g.clone());
            }
        }
        Ok(out)
    }

    fn materialize(&self) -> candle_core::Result<()> {
        for (theta, master) in &self.pairs {
            theta.set(&fake_quantize(master.as_tensor(), self.bits)?)?;
        }
        Ok(())
    }
}
