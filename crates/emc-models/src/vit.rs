//! Vision transformers (`vit`): non-overlapping patch embedding, a learned position
//! embedding, pre-norm transformer blocks, a final layer norm, class-token or mean pooling
//! and a linear classifier.
//!
//! Initialisation: linear layers and the patch embedding use PyTorch's defaults
//! (`U(±1/√fan_in)`), layer norms weight 1 and bias 0, and the class token and position
//! embedding `N(0, 0.02²)` — the same distribution as timm's `trunc_normal_(std=.02)`, whose
//! cut-off at ±2 (absolute, i.e. ±100σ) never binds.
//!
//! Variables: `patch_embed.weight` `[D, C, p, p]`/`bias`, `cls_token` `[1, 1, D]` (class
//! pooling only), `pos_embed` `[1, T, D]`, `blocks.{i}.norm1`, `blocks.{i}.attn.qkv`,
//! `blocks.{i}.attn.proj`, `blocks.{i}.norm2`, `blocks.{i}.mlp.fc1`/`fc2`, `norm`, `head`.
//!
//! Dropout ([`crate::Model::set_dropout`]) goes where the original ViT's `dropout_rate` and
//! timm's `drop_rate` (before timm split off `proj_drop_rate`) put it: on the token
//! embeddings after the position embedding is added (timm's `pos_drop`), and in every block
//! on both residual branches — after the attention's output projection (`proj_drop`) and
//! in the MLP after the activation and after `fc2` (`Mlp.drop1`, `drop2`; see
//! [`TransformerBlock::forward_with_dropout`]). Masks are drawn in that forward order:
//! embeddings, then per block attention output, MLP hidden layer, MLP output. The attention
//! probabilities (timm's `attn_drop`, a rate of its own, 0 by default) and the pooled
//! features before the classifier are not dropped.

use std::fmt;

use candle_core::{Module, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use crate::{
    layers::{
        layer_norm, linear, patch_embed, transformer_block, LayerNorm, Linear, PatchEmbed,
        TransformerBlock, LAYER_NORM_EPS,
    },
    Activation, Dropout, InputShape, Model, ModelError, Result,
};

/// Standard deviation of the class token and position embedding.
pub const EMBED_INIT_STD: f64 = 0.02;

/// How the token sequence becomes one feature vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VitPool {
    /// A learned class token is prepended; its final state is used.
    #[default]
    Cls,
    /// The mean over the patch tokens (no class token).
    Mean,
}

impl VitPool {
    fn name(&self) -> &'static str {
        match self {
            VitPool::Cls => "cls",
            VitPool::Mean => "mean",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<VitPool> {
        match s {
            "cls" | "token" => Some(VitPool::Cls),
            "mean" | "avg" | "gap" => Some(VitPool::Mean),
            _ => None,
        }
    }
}

/// A vision transformer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VitConfig {
    /// Side of the square patches.
    pub patch: usize,
    /// Embedding dimension D.
    pub dim: usize,
    /// Number of transformer blocks.
    pub depth: usize,
    /// Attention heads (must divide `dim`).
    pub heads: usize,
    /// Hidden units of each block's MLP (MLP ratio × D; the spec accepts either).
    pub mlp_dim: usize,
    /// Class token or mean pooling.
    pub pool: VitPool,
    /// The MLP activation (GELU, erf form, by default).
    pub activation: Activation,
}

impl Default for VitConfig {
    fn default() -> Self {
        Self {
            patch: 4,
            dim: 64,
            depth: 4,
            heads: 4,
            mlp_dim: 256,
            pool: VitPool::Cls,
            activation: Activation::Gelu,
        }
    }
}

impl VitConfig {
    /// The MLP ratio `mlp_dim / dim`.
    pub fn mlp_ratio(&self) -> f64 {
        self.mlp_dim as f64 / self.dim.max(1) as f64
    }

    /// Patch tokens for `input` (without the class token).
    pub fn num_patches(&self, input: InputShape) -> usize {
        (input.height / self.patch.max(1)) * (input.width / self.patch.max(1))
    }

    fn tokens(&self, input: InputShape) -> usize {
        self.num_patches(input) + usize::from(self.pool == VitPool::Cls)
    }

    pub(crate) fn validate(&self, input: InputShape, num_classes: usize) -> Result<()> {
        let bad = |field: &'static str, value: usize, reason: &str| {
            Err(ModelError::Config {
                family: "vit",
                field,
                value: value.to_string(),
                reason: reason.into(),
            })
        };
        for (field, value) in [
            ("patch", self.patch),
            ("dim", self.dim),
            ("depth", self.depth),
            ("heads", self.heads),
            ("mlp_dim", self.mlp_dim),
        ] {
            if value == 0 {
                return bad(field, value, "expected a positive integer");
            }
        }
        if self.dim % self.heads != 0 {
            return bad(
                "heads",
                self.heads,
                &format!("must divide dim = {}", self.dim),
            );
        }
        if self.patch > input.height || self.patch > input.width {
            return Err(ModelError::Input {
                family: "vit",
                channels: input.channels,
                height: input.height,
                width: input.width,
                num_classes,
                reason: format!("patch size {} exceeds the image", self.patch),
            });
        }
        Ok(())
    }

    /// Scalars per sample kept for the backward pass: the patches and embeddings, then per
    /// block the token-wise maps (norms, q/k/v, attention output, projection, residuals,
    /// the MLP's hidden layer before and after its activation) and the attention scores
    /// and weights of every head.
    pub(crate) fn activations(&self, input: InputShape, num_classes: usize) -> f64 {
        let t = self.tokens(input) as f64;
        let (d, m) = (self.dim as f64, self.mlp_dim as f64);
        let block = t * (10.0 * d + 2.0 * m) + 2.0 * self.heads as f64 * t * t;
        input.numel() as f64
            + 2.0 * t * d
            + self.depth as f64 * block
            + d
            + 2.0 * num_classes as f64
    }

    pub(crate) fn count(&self, input: InputShape, num_classes: usize) -> usize {
        let (d, m, p) = (self.dim, self.mlp_dim, self.patch);
        let embed = d * input.channels * p * p + d;
        let cls = if self.pool == VitPool::Cls { d } else { 0 };
        let pos = self.tokens(input) * d;
        // norm1 + qkv + proj + norm2 + fc1 + fc2
        let block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * m + m) + (m * d + d);
        embed + cls + pos + self.depth * block + 2 * d + d * num_classes + num_classes
    }

    pub(crate) fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        vb: VarBuilder,
    ) -> Result<Box<dyn Model>> {
        let d = self.dim;
        let embed_init = Init::Randn {
            mean: 0.0,
            stdev: EMBED_INIT_STD,
        };
        let cls_token = match self.pool {
            VitPool::Cls => Some(vb.get_with_hints((1, 1, d), "cls_token", embed_init)?),
            VitPool::Mean => None,
        };
        let blocks = (0..self.depth)
            .map(|i| {
                transformer_block(
                    d,
                    self.heads,
                    self.mlp_dim,
                    self.activation,
                    vb.pp("blocks").pp(i),
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Box::new(Vit {
            patch_embed: patch_embed(input.channels, d, self.patch, vb.pp("patch_embed"))?,
            cls_token,
            pos_embed: vb.get_with_hints((1, self.tokens(input), d), "pos_embed", embed_init)?,
            blocks,
            norm: layer_norm(d, LAYER_NORM_EPS, vb.pp("norm"))?,
            head: linear(d, num_classes, true, vb.pp("head"))?,
            input,
            dropout: None,
        }))
    }
}

impl fmt::Display for VitConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vit:patch{},d{},depth{},heads{},mlp{},pool={},{}",
            self.patch,
            self.dim,
            self.depth,
            self.heads,
            self.mlp_dim,
            self.pool.name(),
            self.activation
        )
    }
}

struct Vit {
    patch_embed: PatchEmbed,
    cls_token: Option<Tensor>,
    pos_embed: Tensor,
    blocks: Vec<TransformerBlock>,
    norm: LayerNorm,
    head: Linear,
    input: InputShape,
    /// On the embeddings and both residual branches of every block, in training forwards.
    dropout: Option<Dropout>,
}

impl Model for Vit {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let xs = crate::image_input(xs, self.input)?; // [N, C, H, W]
        let mut tokens = self.patch_embed.forward(&xs)?; // [N, P, D]
        let (n, _, d) = tokens.dims3()?;
        if let Some(cls) = &self.cls_token {
            let cls = cls.broadcast_as((n, 1, d))?;
            tokens = Tensor::cat(&[&cls, &tokens], 1)?; // [N, 1 + P, D]
        }
        let tokens = tokens.broadcast_add(&self.pos_embed)?; // [N, T, D]
        let mut tokens = crate::dropout::maybe(&self.dropout, tokens, train)?;
        for block in &self.blocks {
            // [N, T, D]
            tokens = block.forward_with_dropout(&tokens, train, &self.dropout)?;
        }
        let tokens = self.norm.forward(&tokens)?;
        let pooled = match self.cls_token {
            Some(_) => tokens.get_on_dim(1, 0)?, // [N, D]
            None => tokens.mean(1)?,             // [N, D]
        };
        self.head.forward(&pooled) // [N, classes]
    }

    fn set_dropout(&mut self, dropout: Dropout) -> bool {
        self.dropout = Some(dropout);
        true
    }
}
