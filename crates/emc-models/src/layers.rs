//! The layers every family is assembled from, each a small struct built from a
//! [`VarBuilder`] and applied with `forward`.
//!
//! All of them are composed from candle operations, or run our own kernels in
//! [`emc_kernels`] on the CPU (convolution, max-pooling, linear layers, layer norm and
//! softmax; the last three bit-identical to their compositions in [`emc_kernels::composed`],
//! the fallback where a kernel does not apply), whose gradients were checked by finite
//! differences (see `tests/gradients.rs` here and `emc-kernels`' `tests/kernels.rs`). Three
//! candle shortcuts are deliberately avoided: `max_pool2d` (its backward scales the gradient
//! by 1/4 for a 2×2 window), candle_nn's fused `layer_norm`/`softmax_last_dim` kernels (they
//! cut the graph), and `sdpa` (no CPU implementation). Initialisation hints are PyTorch's
//! defaults; the values come from the seeded backend in [`crate::init`].
//!
//! ```
//! use candle_core::{DType, Device, Module, Tensor};
//! use candle_nn::VarMap;
//! use emc_models::{init::seeded_var_builder, layers};
//! # fn main() -> candle_core::Result<()> {
//! let varmap = VarMap::new();
//! let vb = seeded_var_builder(&varmap, 0, DType::F32, &Device::Cpu);
//! let fc = layers::linear(4, 3, true, vb.pp("fc"))?;
//! let ys = fc.forward(&Tensor::zeros((2, 4), DType::F32, &Device::Cpu)?)?;
//! assert_eq!(ys.dims(), &[2, 3]);
//! # Ok(()) }
//! ```

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::{BatchNormConfig, Init, VarBuilder};

use emc_kernels::composed::{
    attention_core_composed, layer_norm_composed, max_pool2x2_composed, softmax_last_dim_composed,
};

use crate::{
    dropout::{self, Dropout},
    init::{uniform_fan_in, WeightInit},
    Activation,
};

/// `y = x·Wᵀ + b` over the last dimension, `W: [out, in]`.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
}

/// A [`Linear`] layer initialised like `nn.Linear`: weight and bias `U(±1/√in)`.
pub fn linear(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    linear_init(in_dim, out_dim, bias, WeightInit::Torch, vb)
}

/// A [`Linear`] layer initialised by `init`.
pub fn linear_init(
    in_dim: usize,
    out_dim: usize,
    bias: bool,
    init: WeightInit,
    vb: VarBuilder,
) -> candle_core::Result<Linear> {
    let (w_init, b_init) = init.hints(in_dim);
    let weight = vb.get_with_hints((out_dim, in_dim), "weight", w_init)?;
    let bias = if bias {
        Some(vb.get_with_hints(out_dim, "bias", b_init)?)
    } else {
        None
    };
    Ok(Linear { weight, bias })
}

impl Linear {
    /// The weight, `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        // [.., out], bias fused (bit-identical to matmul + broadcast add); a 1-D input is
        // one row.
        if xs.rank() == 1 {
            return emc_kernels::linear(&xs.unsqueeze(0)?, &self.weight, self.bias.as_ref())?
                .squeeze(0);
        }
        emc_kernels::linear(xs, &self.weight, self.bias.as_ref())
    }
}

/// A 2-D convolution with square kernel, `W: [out, in, k, k]`, computed by
/// [`emc_kernels::conv2d`] (our im2col kernels on the CPU, with the bias fused).
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    stride: usize,
    padding: usize,
}

/// A [`Conv2d`] initialised like `nn.Conv2d`: weight and bias `U(±1/√(in·k·k))`.
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    bias: bool,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let shape = ConvShape {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
    };
    conv2d_init(shape, bias, WeightInit::Torch, vb)
}

/// The shape of a square-kernel convolution.
#[derive(Debug, Clone, Copy)]
pub struct ConvShape {
    /// Input channels.
    pub in_channels: usize,
    /// Output channels.
    pub out_channels: usize,
    /// Kernel side.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
}

/// A [`Conv2d`] of this shape initialised by `init`.
pub fn conv2d_init(
    shape: ConvShape,
    bias: bool,
    init: WeightInit,
    vb: VarBuilder,
) -> candle_core::Result<Conv2d> {
    let ConvShape {
        in_channels,
        out_channels,
        kernel,
        stride,
        padding,
    } = shape;
    let (w_init, b_init) = init.hints(in_channels * kernel * kernel);
    let weight = vb.get_with_hints(
        (out_channels, in_channels, kernel, kernel),
        "weight",
        w_init,
    )?;
    let bias = if bias {
        Some(vb.get_with_hints(out_channels, "bias", b_init)?)
    } else {
        None
    };
    Ok(Conv2d {
        weight,
        bias,
        stride,
        padding,
    })
}

impl Module for Conv2d {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        // [N, out, H', W']
        emc_kernels::conv2d(
            xs,
            &self.weight,
            self.bias.as_ref(),
            self.stride,
            self.padding,
        )
    }
}

/// Batch normalisation over the channels of `[N, C, H, W]` (or `[N, C]`), PyTorch defaults:
/// eps 1e-5, momentum 0.1, weight 1, bias 0, running mean 0, running var 1. In training
/// mode it normalises with the batch statistics (biased variance) and updates the running
/// statistics (unbiased variance) in place.
#[derive(Debug, Clone)]
pub struct BatchNorm2d {
    inner: candle_nn::BatchNorm,
}

/// A [`BatchNorm2d`] over `channels`; its running statistics are variables named
/// `running_mean`/`running_var` (not trainable, see [`crate::init::is_trainable`]).
pub fn batch_norm2d(channels: usize, vb: VarBuilder) -> candle_core::Result<BatchNorm2d> {
    let inner = candle_nn::batch_norm(channels, BatchNormConfig::default(), vb)?;
    Ok(BatchNorm2d { inner })
}

impl ModuleT for BatchNorm2d {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.inner.forward_t(xs, train)
    }
}

/// Layer normalisation over the last dimension: `(x - mean) / √(var + eps) · weight + bias`
/// with the biased variance, by [`emc_kernels::layer_norm`] or [`layer_norm_composed`].
#[derive(Debug, Clone)]
pub struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f64,
}

/// The epsilon of ViT's layer norms (timm's `partial(nn.LayerNorm, eps=1e-6)`).
pub const LAYER_NORM_EPS: f64 = 1e-6;

/// A [`LayerNorm`] over `dim` features: weight 1, bias 0.
pub fn layer_norm(dim: usize, eps: f64, vb: VarBuilder) -> candle_core::Result<LayerNorm> {
    let weight = vb.get_with_hints(dim, "weight", Init::Const(1.0))?;
    let bias = vb.get_with_hints(dim, "bias", Init::Const(0.0))?;
    Ok(LayerNorm { weight, bias, eps })
}

impl Module for LayerNorm {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        if let Some(ys) = emc_kernels::layer_norm(xs, &self.weight, &self.bias, self.eps)? {
            return Ok(ys);
        }
        layer_norm_composed(xs, &self.weight, &self.bias, self.eps)
    }
}

/// 2×2 max-pooling with stride 2, `[N, C, H, W] → [N, C, ⌊H/2⌋, ⌊W/2⌋]` (a trailing odd
/// row/column is dropped, like PyTorch). The gradient reaches the window's maximum with
/// weight 1 (ties share it in full): our kernel [`emc_kernels::max_pool2x2`] on the CPU, else a
/// reshape and two `max` reductions, which back-propagate the same way.
pub fn max_pool2x2(xs: &Tensor) -> candle_core::Result<Tensor> {
    if let Some(ys) = emc_kernels::max_pool2x2(xs)? {
        return Ok(ys);
    }
    max_pool2x2_composed(xs)
}

/// Global average pooling, `[N, C, H, W] → [N, C]`.
pub fn global_avg_pool(xs: &Tensor) -> candle_core::Result<Tensor> {
    xs.mean((2, 3))
}

/// Softmax over the last dimension: our kernel [`emc_kernels::softmax_last_dim`] on the CPU,
/// else [`softmax_last_dim_composed`] (the same bits, value and gradient).
pub fn softmax_last_dim(xs: &Tensor) -> candle_core::Result<Tensor> {
    if let Some(ys) = emc_kernels::softmax_last_dim(xs)? {
        return Ok(ys);
    }
    softmax_last_dim_composed(xs)
}

/// Multi-head self-attention with a fused `qkv` projection (with bias, like timm) and an
/// output projection `proj`; scores are scaled by `1/√head_dim`.
#[derive(Debug, Clone)]
pub struct Attention {
    qkv: Linear,
    proj: Linear,
    heads: usize,
}

/// An [`Attention`] layer over `dim` features split into `heads` heads (`dim % heads == 0`).
pub fn attention(dim: usize, heads: usize, vb: VarBuilder) -> candle_core::Result<Attention> {
    if heads == 0 || dim % heads != 0 {
        candle_core::bail!("attention: dim {dim} is not divisible by {heads} heads")
    }
    Ok(Attention {
        qkv: linear(dim, 3 * dim, true, vb.pp("qkv"))?,
        proj: linear(dim, dim, true, vb.pp("proj"))?,
        heads,
    })
}

impl Module for Attention {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let qkv = self.qkv.forward(xs)?; // [N, T, 3D]
        let out = match emc_kernels::attention_core(&qkv, self.heads)? {
            Some(out) => out,
            None => attention_core_composed(&qkv, self.heads)?,
        }; // [N, T, D]
        self.proj.forward(&out)
    }
}

/// The transformer MLP: `fc2(act(fc1(x)))` (with dropout, see
/// [`FeedForward::forward_with_dropout`]).
#[derive(Debug, Clone)]
pub struct FeedForward {
    fc1: Linear,
    fc2: Linear,
    act: Activation,
}

/// A [`FeedForward`] `dim → hidden → dim`.
pub fn feed_forward(
    dim: usize,
    hidden: usize,
    act: Activation,
    vb: VarBuilder,
) -> candle_core::Result<FeedForward> {
    Ok(FeedForward {
        fc1: linear(dim, hidden, true, vb.pp("fc1"))?,
        fc2: linear(hidden, dim, true, vb.pp("fc2"))?,
        act,
    })
}

impl FeedForward {
    /// `fc2(drop(act(fc1(x))))` then `drop` again, as timm's `Mlp` (`drop1` after the
    /// activation, `drop2` after `fc2`): `dropout`, when set, masks the hidden layer and the
    /// output in training forwards, in that order.
    pub fn forward_with_dropout(
        &self,
        xs: &Tensor,
        train: bool,
        dropout: &Option<Dropout>,
    ) -> candle_core::Result<Tensor> {
        let hidden = self.act.apply(&self.fc1.forward(xs)?)?; // [.., hidden]
        let hidden = dropout::maybe(dropout, hidden, train)?;
        dropout::maybe(dropout, self.fc2.forward(&hidden)?, train) // [.., dim]
    }
}

impl Module for FeedForward {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with_dropout(xs, false, &None)
    }
}

/// A pre-norm transformer block: `x + attn(norm1(x))`, then `x + mlp(norm2(x))` (with
/// dropout, see [`TransformerBlock::forward_with_dropout`]).
#[derive(Debug, Clone)]
pub struct TransformerBlock {
    norm1: LayerNorm,
    attn: Attention,
    norm2: LayerNorm,
    mlp: FeedForward,
}

/// A [`TransformerBlock`] with `heads` heads and an MLP of `mlp_dim` hidden units.
pub fn transformer_block(
    dim: usize,
    heads: usize,
    mlp_dim: usize,
    act: Activation,
    vb: VarBuilder,
) -> candle_core::Result<TransformerBlock> {
    Ok(TransformerBlock {
        norm1: layer_norm(dim, LAYER_NORM_EPS, vb.pp("norm1"))?,
        attn: attention(dim, heads, vb.pp("attn"))?,
        norm2: layer_norm(dim, LAYER_NORM_EPS, vb.pp("norm2"))?,
        mlp: feed_forward(dim, mlp_dim, act, vb.pp("mlp"))?,
    })
}

impl TransformerBlock {
    /// The block with `dropout`, when set, on both residual branches in training forwards,
    /// as timm's `Block` with `proj_drop`: after the attention's output projection, then in
    /// the MLP after the activation and after `fc2` (see
    /// [`FeedForward::forward_with_dropout`]); masks drawn in that order. The attention
    /// probabilities are never dropped (timm's `attn_drop`, a separate rate, is not
    /// implemented).
    pub fn forward_with_dropout(
        &self,
        xs: &Tensor,
        train: bool,
        dropout: &Option<Dropout>,
    ) -> candle_core::Result<Tensor> {
        let attn = self.attn.forward(&self.norm1.forward(xs)?)?; // [N, T, D]
        let xs = (xs + dropout::maybe(dropout, attn, train)?)?; // [N, T, D]
        let mlp = self
            .mlp
            .forward_with_dropout(&self.norm2.forward(&xs)?, train, dropout)?;
        &xs + mlp
    }
}

impl Module for TransformerBlock {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.forward_with_dropout(xs, false, &None)
    }
}

/// Non-overlapping patch embedding, `[N, C, H, W] → [N, (H/p)·(W/p), D]`, equal to
/// `nn.Conv2d(C, D, p, stride=p)` (same weight layout `[D, C, p, p]`, same init) but
/// computed as a reshape and one matrix product ([`emc_kernels::linear`]). A remainder of
/// `H` or `W` that does not fill a patch is dropped, like the convolution does.
#[derive(Debug, Clone)]
pub struct PatchEmbed {
    weight: Tensor,
    bias: Tensor,
    patch: usize,
}

/// A [`PatchEmbed`] from `channels` to `dim` with square patches of side `patch`.
pub fn patch_embed(
    channels: usize,
    dim: usize,
    patch: usize,
    vb: VarBuilder,
) -> candle_core::Result<PatchEmbed> {
    let init = uniform_fan_in(channels * patch * patch);
    Ok(PatchEmbed {
        weight: vb.get_with_hints((dim, channels, patch, patch), "weight", init)?,
        bias: vb.get_with_hints(dim, "bias", init)?,
        patch,
    })
}

impl Module for PatchEmbed {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        let (n, c, h, w) = xs.dims4()?;
        let p = self.patch;
        let (gh, gw) = (h / p, w / p);
        let xs = if gh * p != h || gw * p != w {
            xs.narrow(2, 0, gh * p)?.narrow(3, 0, gw * p)?
        } else {
            xs.clone()
        };
        let patches = xs
            .reshape((n, c, gh, p, gw, p))?
            .permute((0, 2, 4, 1, 3, 5))? // [N, gh, gw, C, p, p]
            .reshape((n * gh * gw, c * p * p))?;
        let dim = self.weight.dim(0)?;
        let weight = self.weight.reshape((dim, c * p * p))?;
        // patches · Wᵀ + b [N·T, D], the same bits as candle's matmul and broadcast add.
        emc_kernels::linear(&patches, &weight, Some(&self.bias))?.reshape((n, gh * gw, dim))
    }
}

/// The ResNet basic block: `act(bn2(conv2(act(bn1(conv1(x))))) + shortcut(x))`, where the
/// shortcut is the identity or, when the stride or width changes, a 1×1 convolution and
/// batch norm (`downsample.conv`, `downsample.bn`). Convolutions have no bias. With dropout,
/// see [`BasicBlock::forward_with_dropout`].
#[derive(Debug, Clone)]
pub struct BasicBlock {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    conv2: Conv2d,
    bn2: BatchNorm2d,
    downsample: Option<(Conv2d, BatchNorm2d)>,
    act: Activation,
}

/// A [`BasicBlock`] from `in_channels` to `out_channels` with the given stride.
pub fn basic_block(
    in_channels: usize,
    out_channels: usize,
    stride: usize,
    act: Activation,
    vb: VarBuilder,
) -> candle_core::Result<BasicBlock> {
    let downsample = if stride != 1 || in_channels != out_channels {
        let ds = vb.pp("downsample");
        Some((
            conv2d(
                in_channels,
                out_channels,
                1,
                stride,
                0,
                false,
                ds.pp("conv"),
            )?,
            batch_norm2d(out_channels, ds.pp("bn"))?,
        ))
    } else {
        None
    };
    Ok(BasicBlock {
        conv1: conv2d(
            in_channels,
            out_channels,
            3,
            stride,
            1,
            false,
            vb.pp("conv1"),
        )?,
        bn1: batch_norm2d(out_channels, vb.pp("bn1"))?,
        conv2: conv2d(out_channels, out_channels, 3, 1, 1, false, vb.pp("conv2"))?,
        bn2: batch_norm2d(out_channels, vb.pp("bn2"))?,
        downsample,
        act,
    })
}

impl BasicBlock {
    /// [`ModuleT::forward_t`] with `dropout`, when set, between the two convolutions in
    /// training forwards, as in Wide-ResNet's block: `conv2(drop(act(bn1(conv1(x)))))`. The
    /// shortcut and the block's output are not dropped.
    pub fn forward_with_dropout(
        &self,
        xs: &Tensor,
        train: bool,
        dropout: &Option<Dropout>,
    ) -> candle_core::Result<Tensor> {
        let ys = self.conv1.forward(xs)?; // [N, out, H/s, W/s]
        let ys = self.act.apply(&self.bn1.forward_t(&ys, train)?)?;
        let ys = dropout::maybe(dropout, ys, train)?;
        let ys = self.bn2.forward_t(&self.conv2.forward(&ys)?, train)?;
        let shortcut = match &self.downsample {
            Some((conv, bn)) => bn.forward_t(&conv.forward(xs)?, train)?,
            None => xs.clone(),
        };
        self.act.apply(&(ys + shortcut)?)
    }
}

impl ModuleT for BasicBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        self.forward_with_dropout(xs, train, &None)
    }
}
