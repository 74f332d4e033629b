//! `cnn-compound`: EfficientNet-style compound scaling (Tan & Le, 2019) of a base
//! [`CnnConfig`] by a coefficient φ: depth × α^φ, width × β^φ, input resolution × γ^φ (the
//! rules are in the parent module's doc).

use std::fmt;

use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use super::{activations_plan, build_plan, count_plan, CnnConfig, Plan};
use crate::{InputShape, Model, ModelError, Result};

/// EfficientNet-style compound scaling of a [`CnnConfig`] by a coefficient φ.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompoundConfig {
    /// The network at φ = 0 (its own width multiplier still applies).
    pub base: CnnConfig,
    /// The compound coefficient φ.
    pub phi: f64,
    /// Depth base α (blocks × α^φ).
    pub alpha: f64,
    /// Width base β (channels × β^φ).
    pub beta: f64,
    /// Resolution base γ (input side × γ^φ).
    pub gamma: f64,
}

/// EfficientNet's α (depth).
pub const EFFICIENTNET_ALPHA: f64 = 1.2;
/// EfficientNet's β (width).
pub const EFFICIENTNET_BETA: f64 = 1.1;
/// EfficientNet's γ (resolution).
pub const EFFICIENTNET_GAMMA: f64 = 1.15;

impl Default for CompoundConfig {
    fn default() -> Self {
        Self {
            base: CnnConfig::default(),
            phi: 0.0,
            alpha: EFFICIENTNET_ALPHA,
            beta: EFFICIENTNET_BETA,
            gamma: EFFICIENTNET_GAMMA,
        }
    }
}

impl CompoundConfig {
    /// The depth multiplier α^φ.
    pub fn depth_multiplier(&self) -> f64 {
        self.alpha.powf(self.phi)
    }

    /// The width multiplier β^φ (on top of the base's own).
    pub fn width_multiplier(&self) -> f64 {
        self.beta.powf(self.phi)
    }

    /// The resolution multiplier γ^φ.
    pub fn resolution_multiplier(&self) -> f64 {
        self.gamma.powf(self.phi)
    }

    /// Blocks per stage after depth scaling.
    pub fn repeats(&self) -> Vec<usize> {
        let stages = self.base.channels.len().max(1);
        let total = ((self.depth_multiplier() * stages as f64).round() as usize).max(stages);
        let (each, extra) = (total / stages, total % stages);
        (0..stages)
            .map(|i| each + usize::from(i >= stages - extra))
            .collect()
    }

    /// The input size the convolutions see.
    pub fn resolution(&self, input: InputShape) -> (usize, usize) {
        let r = self.resolution_multiplier();
        let side = |s: usize| ((s as f64 * r).round() as usize).max(1);
        (side(input.height), side(input.width))
    }

    fn plan(&self, input: InputShape, num_classes: usize) -> Result<Plan> {
        for (field, value) in [
            ("phi", self.phi),
            ("alpha", self.alpha),
            ("beta", self.beta),
            ("gamma", self.gamma),
        ] {
            let ok = value.is_finite() && (field == "phi" || value > 0.0);
            if !ok {
                return Err(ModelError::Config {
                    family: "cnn-compound",
                    field,
                    value: value.to_string(),
                    reason: "expected a finite number (> 0 for alpha, beta, gamma)".into(),
                });
            }
        }
        self.base.validate("cnn-compound")?;
        let (h, w) = self.resolution(input);
        let resize = (h != input.height || w != input.width).then_some((h, w));
        self.base.plan(
            "cnn-compound",
            input,
            num_classes,
            &self.repeats(),
            self.width_multiplier(),
            resize,
        )
    }

    pub(crate) fn count(&self, input: InputShape, num_classes: usize) -> Result<usize> {
        Ok(count_plan(
            &self.plan(input, num_classes)?,
            self.base.batch_norm,
            num_classes,
        ))
    }

    pub(crate) fn activations(&self, input: InputShape, num_classes: usize) -> Result<f64> {
        Ok(activations_plan(
            &self.plan(input, num_classes)?,
            self.base.batch_norm,
            num_classes,
        ))
    }

    pub(crate) fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        vb: VarBuilder,
    ) -> Result<Box<dyn Model>> {
        let plan = self.plan(input, num_classes)?;
        Ok(Box::new(build_plan(
            &self.base,
            plan,
            input,
            num_classes,
            vb,
        )?))
    }
}

impl fmt::Display for CompoundConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cnn-compound:")?;
        self.base.write_channels(f)?;
        self.base.write_options(f)?;
        write!(f, ":phi={}", self.phi)?;
        for (name, value, default) in [
            ("alpha", self.alpha, EFFICIENTNET_ALPHA),
            ("beta", self.beta, EFFICIENTNET_BETA),
            ("gamma", self.gamma, EFFICIENTNET_GAMMA),
        ] {
            if value != default {
                write!(f, ":{name}={value}")?;
            }
        }
        Ok(())
    }
}
