//! # emc-models
//!
//! The model families whose Effective Model Complexity is measured — softmax regression,
//! MLPs, plain CNNs, ResNet-18 of width k, vision transformers and compound-scaled CNNs —
//! each a serde config with a compact spec string, built with seeded PyTorch-default
//! initialisation so that a seed fixes every weight bit for bit.
//!
//! This crate knows nothing of datasets, optimisers, training or the EMC search: it turns a
//! [`ModelSpec`], an [`InputShape`] and a class count into a [`Built`] model whose
//! `forward` returns logits `[N, num_classes]`.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use emc_models::{InputShape, ModelSpec};
//! # fn main() -> anyhow::Result<()> {
//! let spec: ModelSpec = "mlp:512x512:relu".parse()?;
//! let built = spec.build(InputShape::new(1, 28, 28), 10, 0, DType::F32, &Device::Cpu)?;
//! assert_eq!(built.num_params, 669_706);
//! let logits = built.model.forward(&Tensor::zeros((8, 784), DType::F32, &Device::Cpu)?, true)?;
//! assert_eq!(logits.dims(), &[8, 10]);
//! assert_eq!(spec.to_string().parse::<ModelSpec>()?, spec);
//! # Ok(()) }
//! ```
//!
//! ## Spec grammar
//!
//! A spec is a family name followed by `:`-separated fields (the ViT takes `,` or `:`).
//! Fields after the first may come in any order, each at most once; names are
//! case-insensitive. `<act>` is any [`Activation`] name: `relu`, `leaky_relu`, `elu`, `gelu`
//! (erf), `gelu_tanh`, `silu`, `softplus`, `tanh`, `sigmoid`, `identity`.
//!
//! ```text
//! linear[:nobias]                                   softmax regression
//! mlp:<w1>x<w2>x...[:<act>][:nobias][:init=torch|he]
//!                                                   act relu; every layer biased unless nobias
//! cnn:<c1>,<c2>,...[:<act>][:pool[=all|last|none]|:nopool][:gap|:flatten][:w=<mult>][:bn]
//!   [:init=torch|he]                                defaults relu, pool=all, gap, w=1, no bn
//! cnn-compound:<c1>,...[cnn options][:phi=<φ>][:alpha=<α>][:beta=<β>][:gamma=<γ>]
//!                                                   φ = 0, α = 1.2, β = 1.1, γ = 1.15
//! resnet18[:k=<width>][:<act>]                      k = 64, relu
//! vit:patch<p>,d<D>,depth<L>,heads<H>[,mlp<M>|,ratio<R>][,pool=cls|mean][,<act>]
//!                                                   patch4 d64 depth4 heads4, mlp = 4·D, cls, gelu
//! subspace:d=<d>[:proj=auto|dense|sparse](<spec>)   θ = θ₀ + P z, only z ∈ ℝᵈ trained
//! quant:<bits>(<spec>)                              weights fake-quantised to 2–16 bits (32: off)
//! ```
//!
//! The last two wrap any other spec (not another wrapper): subspace training
//! ([`subspace`]: d trainable parameters, P seeded, dense orthonormal or sparse) and
//! quantisation-aware training ([`quant`]: per-tensor symmetric, straight-through
//! estimator; the model holds parameters × bits). Both keep the wrapped network's variables
//! (checkpoints hold them beside `subspace.z` or the `quant.*` master weights).
//!
//! Examples: `mlp:512x512:relu`, `cnn:32,64:relu:pool=last:flatten` (conv3x3(32) →
//! conv3x3(64) → maxpool 2 → linear), `cnn:16,32,64:gelu:w=2:bn`, `resnet18:k=16`,
//! `vit:patch4,d128,depth4,heads4,mlp256,pool=mean`, `cnn-compound:32,64:phi=2`,
//! `subspace:d=256(mlp:64:relu)`, `quant:4(cnn:8,16)`.
//! [`ModelSpec`]'s `Display` writes the canonical form, which parses back to the same
//! value.
//!
//! ## Initialisation
//!
//! Every variable is drawn from a ChaCha8 stream keyed by `(seed, variable name)`
//! ([`init`]), with PyTorch's defaults: linear and convolution weights and biases
//! `U(±1/√fan_in)` (kaiming-uniform with `a = √5`), batch norm weight 1, bias 0, running
//! mean 0, running var 1, layer norm weight 1, bias 0, ViT class token and position
//! embedding `N(0, 0.02²)`. `init=he` ([`init::WeightInit`]) draws the hidden layers and
//! convolutions of `mlp`, `cnn` and `cnn-compound` by He et al. instead: weights
//! `N(0, 2/fan_in)`, biases 0 (the classifier keeps PyTorch's default), so that a deep plain
//! ReLU stack keeps its signal.

pub mod activation;
pub mod cnn;
pub mod dropout;
mod error;
pub mod init;
pub mod layers;
pub mod mlp;
pub mod quant;
pub mod reparam;
pub mod resnet;
mod spec;
pub mod stacked;
pub mod subspace;
pub mod vit;

use candle_core::{Tensor, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

pub use activation::Activation;
pub use cnn::{CnnConfig, CnnHead, CompoundConfig, Pool};
pub use dropout::Dropout;
pub use error::{ModelError, Result};
pub use mlp::{LinearConfig, MlpConfig};
pub use quant::QuantConfig;
pub use reparam::{pull_back, sync, Reparam};
pub use resnet::ResNetConfig;
pub use spec::{ModelSpec, FAMILIES};
pub use stacked::Stacked;
pub use subspace::{Projection, SubspaceConfig};
pub use vit::{VitConfig, VitPool};

/// The CPU kernels the layers run on, re-exported for crates that reach them through this
/// one (they live in `emc-kernels`).
pub use emc_kernels as kernels;
/// The packed-batch layout of stacked models (see [`Stacked`]), from `emc-kernels`.
pub use emc_kernels::Segments;

/// A network that maps a batch of inputs to logits.
pub trait Model: Send + Sync {
    /// Logits `[N, num_classes]` for `xs` (`[N, C, H, W]` or `[N, C·H·W]`). With `train`,
    /// batch norm uses batch statistics and updates its running statistics, and dropout (if
    /// set) draws a mask; without, batch norm uses the running statistics and dropout is
    /// the identity. Other layers ignore the flag.
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor>;

    /// Applies `dropout` to hidden activations in training forwards (never to the input or
    /// the logits), where each family's module documentation says: an MLP after every hidden
    /// activation, a CNN after every block, ResNet-18 between the two convolutions of every
    /// basic block, the ViT on the embeddings and on both residual branches of every block.
    /// Masks are drawn in forward order, so a training run's masks are a function of its
    /// seed and calls. Returns `false`, leaving the model as it was, for a model without
    /// hidden activations (see [`ModelSpec::build_with_dropout`]).
    fn set_dropout(&mut self, dropout: Dropout) -> bool {
        let _ = dropout;
        false
    }

    /// For a reparameterised model (`subspace:...`, `quant:...`), how its weights follow the
    /// variables the optimizer updates; `None` for a plain model. Trainers go through
    /// [`pull_back`] and [`sync`], which handle both.
    fn reparam(&self) -> Option<&dyn Reparam> {
        None
    }
}

/// The shape of one input image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct InputShape {
    /// Channels (1 for MNIST, 3 for CIFAR).
    pub channels: usize,
    /// Height in pixels.
    pub height: usize,
    /// Width in pixels.
    pub width: usize,
}

impl InputShape {
    /// An input of `channels × height × width`.
    pub fn new(channels: usize, height: usize, width: usize) -> Self {
        Self {
            channels,
            height,
            width,
        }
    }

    /// `channels · height · width`.
    pub fn numel(&self) -> usize {
        self.channels * self.height * self.width
    }
}

/// A built model and its variables.
pub struct Built {
    /// The network.
    pub model: Box<dyn Model>,
    /// Every variable, batch-norm running statistics included: what gets saved.
    pub varmap: VarMap,
    /// What the optimizer updates (batch-norm running statistics excluded), sorted by name:
    /// the network's weights, or for a reparameterised model the variables they follow (z of
    /// a subspace model, the master weights of a quantised one).
    pub trainable: Vec<Var>,
    /// Trainable scalars (d for a subspace model).
    pub num_params: usize,
}

impl Built {
    /// The trainable variables with their names, sorted by name.
    pub fn named_trainable(&self) -> Vec<(String, Var)> {
        init::named_vars(&self.varmap, true)
            .into_iter()
            .filter(|(_, v)| {
                self.trainable
                    .iter()
                    .any(|t| t.as_tensor().id() == v.as_tensor().id())
            })
            .collect()
    }

    /// Every variable with its name, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        init::named_vars(&self.varmap, false)
    }
}

impl std::fmt::Debug for Built {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Built")
            .field("variables", &self.named_vars().len())
            .field("trainable", &self.trainable.len())
            .field("num_params", &self.num_params)
            .finish_non_exhaustive()
    }
}

/// `[N, C, H, W]` or `[N, C·H·W]` → `[N, C, H, W]`, checked against `input`.
pub(crate) fn image_input(xs: &Tensor, input: InputShape) -> candle_core::Result<Tensor> {
    let expected = [input.channels, input.height, input.width];
    match xs.dims() {
        [_, rest @ ..] if rest == expected => Ok(xs.clone()),
        &[n, features] if features == input.numel() => {
            xs.reshape((n, input.channels, input.height, input.width))
        }
        dims => candle_core::bail!(
            "expected input [N, {}, {}, {}] or [N, {}], got {dims:?}",
            input.channels,
            input.height,
            input.width,
            input.numel()
        ),
    }
}

/// Serde helpers that write a [`ModelSpec`] as its spec string and read either a spec
/// string or the tagged object: `#[serde(with = "emc_models::spec_string")]`.
pub mod spec_string {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::ModelSpec;

    /// Writes the spec string.
    pub fn serialize<S: Serializer>(spec: &ModelSpec, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(spec)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Tagged(ModelSpec),
    }

    /// Reads a spec string or a tagged object.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ModelSpec, D::Error> {
        match Either::deserialize(d)? {
            Either::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Either::Tagged(spec) => Ok(spec),
        }
    }
}
