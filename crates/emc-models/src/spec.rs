//! [`ModelSpec`]: one value naming a model family and its configuration, parsed from and
//! written as the compact spec strings of the CLI (grammar in the crate docs).

mod parse;

use std::fmt;

use candle_core::{DType, Device, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::{
    cnn::{CnnConfig, CompoundConfig},
    init::{named_vars, seeded_var_builder},
    mlp::{LinearConfig, MlpConfig},
    quant::QuantConfig,
    resnet::ResNetConfig,
    subspace::{Projection, SubspaceConfig},
    vit::VitConfig,
    Built, Dropout, InputShape, ModelError, Result,
};

/// A model family and its configuration.
///
/// Serialised with serde as `{"family": "mlp", "hidden": [512, 512], ...}`; the
/// [`crate::spec_string`] module serialises it as its spec string instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family")]
pub enum ModelSpec {
    /// Softmax regression on the flattened input (`linear`).
    #[serde(rename = "linear")]
    Linear(LinearConfig),
    /// A multi-layer perceptron (`mlp:...`).
    #[serde(rename = "mlp")]
    Mlp(MlpConfig),
    /// A plain CNN (`cnn:...`).
    #[serde(rename = "cnn")]
    Cnn(CnnConfig),
    /// ResNet-18 of width k (`resnet18:...`).
    #[serde(rename = "resnet18")]
    ResNet18(ResNetConfig),
    /// A vision transformer (`vit:...`).
    #[serde(rename = "vit")]
    Vit(VitConfig),
    /// A compound-scaled CNN (`cnn-compound:...`).
    #[serde(rename = "cnn-compound")]
    CompoundCnn(CompoundConfig),
    /// Any other model trained in a random subspace of its weights (`subspace:...(...)`).
    #[serde(rename = "subspace")]
    Subspace(SubspaceConfig),
    /// Any other model with fake-quantised weights (`quant:<bits>(...)`).
    #[serde(rename = "quant")]
    Quant(QuantConfig),
}

/// The family names a spec may start with (the last two wrap another spec).
pub const FAMILIES: [&str; 8] = [
    "linear",
    "mlp",
    "cnn",
    "resnet18",
    "vit",
    "cnn-compound",
    "subspace",
    "quant",
];

impl ModelSpec {
    /// The family name (the spec's first field).
    pub fn family(&self) -> &'static str {
        match self {
            ModelSpec::Linear(_) => "linear",
            ModelSpec::Mlp(_) => "mlp",
            ModelSpec::Cnn(_) => "cnn",
            ModelSpec::ResNet18(_) => "resnet18",
            ModelSpec::Vit(_) => "vit",
            ModelSpec::CompoundCnn(_) => "cnn-compound",
            ModelSpec::Subspace(_) => "subspace",
            ModelSpec::Quant(_) => "quant",
        }
    }

    /// The network whose weights a wrapper (`subspace`, `quant`) reparameterises; the spec
    /// itself for a plain family.
    pub fn network(&self) -> &ModelSpec {
        match self {
            ModelSpec::Subspace(cfg) => &cfg.model,
            ModelSpec::Quant(cfg) => &cfg.model,
            plain => plain,
        }
    }

    /// Bits each trainable parameter holds: the quantised width for `quant`, else 32 (the
    /// `f32` of training). A model's storage budget is `num_params × bits_per_param`.
    pub fn bits_per_param(&self) -> u32 {
        match self {
            ModelSpec::Quant(cfg) => cfg.bits.min(32),
            _ => 32,
        }
    }

    /// Whether `forward` takes flat inputs `[N, C·H·W]` (linear, MLP) rather than images
    /// `[N, C, H, W]`. Every model accepts both; this is the layout it works in.
    pub fn flat_input(&self) -> bool {
        matches!(self.network(), ModelSpec::Linear(_) | ModelSpec::Mlp(_))
    }

    fn check(&self, input: InputShape, num_classes: usize) -> Result<()> {
        if input.numel() == 0 || num_classes == 0 {
            return Err(ModelError::Input {
                family: self.family(),
                channels: input.channels,
                height: input.height,
                width: input.width,
                num_classes,
                reason: "every input dimension and the class count must be positive".into(),
            });
        }
        match self {
            ModelSpec::Linear(_) => Ok(()),
            ModelSpec::Mlp(cfg) => cfg.validate(),
            ModelSpec::Cnn(cfg) => cfg.validate("cnn"),
            ModelSpec::ResNet18(cfg) => cfg.validate(),
            ModelSpec::Vit(cfg) => cfg.validate(input, num_classes),
            ModelSpec::CompoundCnn(_) => Ok(()), // checked by its plan
            ModelSpec::Subspace(cfg) => {
                let full = cfg.model.num_params(input, num_classes)?;
                cfg.check_dim(full)
            }
            ModelSpec::Quant(cfg) => {
                cfg.model.check(input, num_classes)?;
                cfg.check_bits()
            }
        }
    }

    /// Builds the model for `input` images and `num_classes` classes, drawing every variable
    /// from `seed` (see [`crate::init`]).
    pub fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> Result<Built> {
        self.check(input, num_classes)?;
        match self {
            ModelSpec::Subspace(cfg) => {
                let network = cfg.model.build(input, num_classes, seed, dtype, device)?;
                return cfg.wrap(network, seed);
            }
            ModelSpec::Quant(cfg) => {
                return cfg.wrap(cfg.model.build(input, num_classes, seed, dtype, device)?)
            }
            _ => {}
        }
        let varmap = VarMap::new();
        let vb = seeded_var_builder(&varmap, seed, dtype, device);
        let model = match self {
            ModelSpec::Linear(cfg) => cfg.build(input, num_classes, vb)?,
            ModelSpec::Mlp(cfg) => cfg.build(input, num_classes, vb)?,
            ModelSpec::Cnn(cfg) => cfg.build(input, num_classes, vb)?,
            ModelSpec::ResNet18(cfg) => cfg.build(input, num_classes, vb)?,
            ModelSpec::Vit(cfg) => cfg.build(input, num_classes, vb)?,
            ModelSpec::CompoundCnn(cfg) => cfg.build(input, num_classes, vb)?,
            ModelSpec::Subspace(_) | ModelSpec::Quant(_) => unreachable!("wrappers built above"),
        };
        let trainable: Vec<Var> = named_vars(&varmap, true)
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        let num_params = trainable.iter().map(|v| v.elem_count()).sum();
        Ok(Built {
            model,
            varmap,
            trainable,
            num_params,
        })
    }

    /// Whether [`ModelSpec::build_with_dropout`] can apply dropout: every model with a
    /// hidden activation, i.e. all but softmax regression (`linear`, or an MLP without a
    /// hidden layer).
    pub fn supports_dropout(&self) -> bool {
        match self {
            ModelSpec::Mlp(cfg) => !cfg.hidden.is_empty(),
            ModelSpec::Cnn(_)
            | ModelSpec::CompoundCnn(_)
            | ModelSpec::ResNet18(_)
            | ModelSpec::Vit(_) => true,
            ModelSpec::Linear(_) => false,
            ModelSpec::Subspace(cfg) => cfg.model.supports_dropout(),
            ModelSpec::Quant(cfg) => cfg.model.supports_dropout(),
        }
    }

    /// [`ModelSpec::build`] with dropout at rate `p` on hidden activations (masks drawn
    /// from `seed`'s own stream, see [`crate::dropout`]); `p = 0` is `build` itself. Where
    /// each family puts it: MLPs after each hidden layer's activation, CNNs, plain or
    /// compound-scaled, after each block, ResNet-18 between the two convolutions of each
    /// basic block (Wide-ResNet style, [`crate::resnet`]), the ViT on the embeddings and
    /// both residual branches of each block (the original ViT's and timm's, [`crate::vit`]).
    /// Softmax regression has no hidden activation and is refused with an error naming the
    /// family.
    pub fn build_with_dropout(
        &self,
        input: InputShape,
        num_classes: usize,
        seed: u64,
        p: f64,
        dtype: DType,
        device: &Device,
    ) -> Result<Built> {
        if !(0.0..1.0).contains(&p) {
            return Err(ModelError::Config {
                family: self.family(),
                field: "dropout",
                value: p.to_string(),
                reason: "expected a rate in [0, 1)".into(),
            });
        }
        if p > 0.0 && !self.supports_dropout() {
            return Err(ModelError::Config {
                family: self.family(),
                field: "dropout",
                value: p.to_string(),
                reason: "dropout needs a hidden activation, and softmax regression (linear, or \
                         an mlp without a hidden layer) has none"
                    .into(),
            });
        }
        let mut built = self.build(input, num_classes, seed, dtype, device)?;
        if p > 0.0 {
            let set = built.model.set_dropout(Dropout::new(p, seed));
            debug_assert!(set, "supports_dropout and set_dropout disagree for {self}");
        }
        Ok(built)
    }

    /// The exact number of trainable scalars [`ModelSpec::build`] would create (batch-norm
    /// running statistics excluded), computed without allocating any weight.
    pub fn num_params(&self, input: InputShape, num_classes: usize) -> Result<usize> {
        self.check(input, num_classes)?;
        Ok(match self {
            ModelSpec::Linear(cfg) => cfg.count(input, num_classes),
            ModelSpec::Mlp(cfg) => cfg.count(input, num_classes),
            ModelSpec::Cnn(cfg) => cfg.count(input, num_classes)?,
            ModelSpec::ResNet18(cfg) => cfg.count(input, num_classes),
            ModelSpec::Vit(cfg) => cfg.count(input, num_classes),
            ModelSpec::CompoundCnn(cfg) => cfg.count(input, num_classes)?,
            ModelSpec::Subspace(cfg) => cfg.dim,
            ModelSpec::Quant(cfg) => cfg.model.num_params(input, num_classes)?,
        })
    }
}

impl ModelSpec {
    /// An estimate of the scalars per training sample that a training step keeps for its
    /// backward pass (inputs, im2col patches, every layer's outputs, attention weights),
    /// computed without building the model. It is meant for memory checks before any
    /// allocation and is accurate to a small factor, not exact; an `f64`, so that it cannot
    /// overflow for any spec that parses.
    pub fn activations_per_sample(&self, input: InputShape, num_classes: usize) -> Result<f64> {
        self.check(input, num_classes)?;
        Ok(match self {
            ModelSpec::Linear(cfg) => cfg.activations(input, num_classes),
            ModelSpec::Mlp(cfg) => cfg.activations(input, num_classes),
            ModelSpec::Cnn(cfg) => cfg.activations(input, num_classes)?,
            ModelSpec::ResNet18(cfg) => cfg.activations(input, num_classes),
            ModelSpec::Vit(cfg) => cfg.activations(input, num_classes),
            ModelSpec::CompoundCnn(cfg) => cfg.activations(input, num_classes)?,
            ModelSpec::Subspace(cfg) => cfg.model.activations_per_sample(input, num_classes)?,
            ModelSpec::Quant(cfg) => cfg.model.activations_per_sample(input, num_classes)?,
        })
    }
}

impl ModelSpec {
    /// Scalars a reparameterised model (`subspace`, `quant`) holds beyond its trainable
    /// variables and their optimizer state, for memory checks: the network's weights and
    /// their gradients, and for a subspace model θ₀ and the projection (dense D·d, or
    /// d·⌈√D⌉ sparse entries of a `u32` index and a sign each). 0 for a plain model.
    pub fn reparam_scalars(&self, input: InputShape, num_classes: usize) -> Result<f64> {
        self.check(input, num_classes)?;
        Ok(match self {
            ModelSpec::Subspace(cfg) => {
                let full = cfg.model.num_params(input, num_classes)? as f64;
                let d = cfg.dim as f64;
                let projection = match cfg.projection.resolve(full as usize, cfg.dim) {
                    Projection::Dense => full * d,
                    _ => d * full.sqrt().ceil() * 5.0 / 4.0,
                };
                3.0 * full + projection
            }
            ModelSpec::Quant(cfg) => 2.0 * cfg.model.num_params(input, num_classes)? as f64,
            _ => 0.0,
        })
    }
}

impl Default for ModelSpec {
    fn default() -> Self {
        ModelSpec::Mlp(MlpConfig::default())
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelSpec::Linear(cfg) => cfg.fmt(f),
            ModelSpec::Mlp(cfg) => cfg.fmt(f),
            ModelSpec::Cnn(cfg) => cfg.fmt(f),
            ModelSpec::ResNet18(cfg) => cfg.fmt(f),
            ModelSpec::Vit(cfg) => cfg.fmt(f),
            ModelSpec::CompoundCnn(cfg) => cfg.fmt(f),
            ModelSpec::Subspace(cfg) => cfg.fmt(f),
            ModelSpec::Quant(cfg) => cfg.fmt(f),
        }
    }
}
