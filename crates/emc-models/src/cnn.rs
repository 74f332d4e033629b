//! Plain convolutional networks (`cnn`) and their EfficientNet-style compound scaling
//! (`cnn-compound`).
//!
//! A CNN is a list of stages; each stage is one or more blocks
//! `conv3x3(padding 1) → [batch norm] → activation`, optionally followed by a 2×2 max-pool
//! after the stage's last block. The features are then globally average-pooled (`gap`) or
//! flattened (`flatten`) into a linear classifier. Convolutions carry a bias unless batch
//! norm follows them.
//!
//! Compound scaling (Tan & Le, 2019) takes a base CNN and a coefficient φ: depth is
//! multiplied by `α^φ`, width by `β^φ` and input resolution by `γ^φ` (defaults α = 1.2,
//! β = 1.1, γ = 1.15, EfficientNet's). Depth: the base has one block per stage, `L` in all;
//! the scaled network has `max(L, round(α^φ·L))` blocks, spread evenly over the stages with
//! the remainder going to the last stages. Width: each stage has
//! `max(1, round(c·w·β^φ))` channels. Resolution: the model resizes its input bilinearly
//! (`align_corners = false`, like `F.interpolate`) to `max(1, round(γ^φ·H)) ×
//! max(1, round(γ^φ·W))` before the first convolution, so callers feed native images.
//!
//! Variables: `blocks.{i}.conv.weight`/`bias`, `blocks.{i}.bn.*` (blocks numbered over all
//! stages), `head.weight`/`bias`.

use std::fmt;

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::{
    dropout::{self, Dropout},
    init::WeightInit,
    layers::{
        batch_norm2d, conv2d_init, global_avg_pool, linear, max_pool2x2, BatchNorm2d, Conv2d,
        ConvShape, Linear,
    },
    Activation, InputShape, Model, ModelError, Result,
};

mod compound;
pub use compound::{CompoundConfig, EFFICIENTNET_ALPHA, EFFICIENTNET_BETA, EFFICIENTNET_GAMMA};

/// Where the 2×2 max-pools go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pool {
    /// After every stage.
    #[default]
    All,
    /// After the last stage only.
    Last,
    /// Nowhere.
    None,
}

impl Pool {
    fn name(&self) -> &'static str {
        match self {
            Pool::All => "all",
            Pool::Last => "last",
            Pool::None => "none",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Pool> {
        match s {
            "all" | "every" => Some(Pool::All),
            "last" => Some(Pool::Last),
            "none" => Some(Pool::None),
            _ => None,
        }
    }
}

/// How the last feature map reaches the classifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CnnHead {
    /// Global average pool → `[N, C]`.
    #[default]
    Gap,
    /// Flatten → `[N, C·H·W]`.
    Flatten,
}

impl CnnHead {
    fn name(&self) -> &'static str {
        match self {
            CnnHead::Gap => "gap",
            CnnHead::Flatten => "flatten",
        }
    }
}

/// A plain CNN: one conv3x3 block per entry of `channels`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CnnConfig {
    /// Output channels of each block (before the width multiplier), input side first.
    pub channels: Vec<usize>,
    /// The activation after every convolution.
    pub activation: Activation,
    /// Where the 2×2 max-pools go.
    pub pool: Pool,
    /// Global average pool or flatten before the classifier.
    pub head: CnnHead,
    /// Width multiplier: block `i` has `max(1, round(channels[i]·width))` channels.
    pub width: f64,
    /// Batch norm after every convolution (the convolutions then have no bias).
    pub batch_norm: bool,
    /// How the convolutions' weights are drawn (the classifier keeps PyTorch's default).
    #[serde(skip_serializing_if = "WeightInit::is_default")]
    pub init: WeightInit,
}

impl Default for CnnConfig {
    fn default() -> Self {
        Self {
            channels: vec![32, 64],
            activation: Activation::Relu,
            pool: Pool::All,
            head: CnnHead::Gap,
            width: 1.0,
            batch_norm: false,
            init: WeightInit::Torch,
        }
    }
}

/// One scaled stage: `repeats` blocks of `channels`, then maybe a pool.
#[derive(Debug, Clone, Copy)]
struct Stage {
    channels: usize,
    repeats: usize,
    pool: bool,
}

/// The resolved architecture, shared by `build` and `count`.
#[derive(Debug, Clone)]
struct Plan {
    stages: Vec<Stage>,
    /// Input after the optional resize.
    input: InputShape,
    /// Resize target, if the input is resized.
    resize: Option<(usize, usize)>,
    /// Features entering the classifier.
    features: usize,
}

fn scale_channels(c: usize, width: f64) -> usize {
    ((c as f64 * width).round() as usize).max(1)
}

fn check_multiplier(family: &'static str, field: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(ModelError::Config {
            family,
            field,
            value: value.to_string(),
            reason: "expected a finite number > 0".into(),
        })
    }
}

impl CnnConfig {
    pub(crate) fn validate(&self, family: &'static str) -> Result<()> {
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(ModelError::Config {
                family,
                field: "channels",
                value: format!("{:?}", self.channels),
                reason: "expected at least one block, all channel counts positive".into(),
            });
        }
        check_multiplier(family, "width", self.width)
    }

    /// Plans the network for `input`, with per-stage `repeats`, an extra width factor and
    /// an optional resize.
    fn plan(
        &self,
        family: &'static str,
        input: InputShape,
        num_classes: usize,
        repeats: &[usize],
        width: f64,
        resize: Option<(usize, usize)>,
    ) -> Result<Plan> {
        self.validate(family)?;
        let last = self.channels.len() - 1;
        let stages: Vec<Stage> = self
            .channels
            .iter()
            .zip(repeats)
            .enumerate()
            .map(|(i, (&c, &repeats))| Stage {
                channels: scale_channels(c, self.width * width),
                repeats,
                pool: match self.pool {
                    Pool::All => true,
                    Pool::Last => i == last,
                    Pool::None => false,
                },
            })
            .collect();
        let (mut h, mut w) = resize.unwrap_or((input.height, input.width));
        let resized = InputShape {
            height: h,
            width: w,
            ..input
        };
        for (i, stage) in stages.iter().enumerate() {
            if stage.pool {
                if h < 2 || w < 2 {
                    return Err(ModelError::Input {
                        family,
                        channels: input.channels,
                        height: input.height,
                        width: input.width,
                        num_classes,
                        reason: format!("the 2x2 max-pool after stage {i} meets a {h}x{w} feature map; use fewer pools or a larger input"),
                    });
                }
                h /= 2;
                w /= 2;
            }
        }
        let c_last = stages[last].channels;
        let features = match self.head {
            CnnHead::Gap => c_last,
            CnnHead::Flatten => c_last * h * w,
        };
        Ok(Plan {
            stages,
            input: resized,
            resize,
            features,
        })
    }

    fn plain_plan(&self, input: InputShape, num_classes: usize) -> Result<Plan> {
        let repeats = vec![1; self.channels.len()];
        self.plan("cnn", input, num_classes, &repeats, 1.0, None)
    }

    /// The blocks of this CNN on `input` as a stack of such CNNs runs them (see
    /// [`crate::Stacked`]): `None` with batch norm, whose batch statistics a packed batch
    /// would mix across members.
    pub(crate) fn stack_plan(
        &self,
        input: InputShape,
        num_classes: usize,
    ) -> Result<Option<StackPlan>> {
        if self.batch_norm {
            return Ok(None);
        }
        let plan = self.plain_plan(input, num_classes)?;
        let mut blocks = Vec::new();
        let mut fan_in = plan.input.channels;
        for stage in &plan.stages {
            for r in 0..stage.repeats {
                blocks.push(StackBlock {
                    channels: (fan_in, stage.channels),
                    pool: stage.pool && r + 1 == stage.repeats,
                });
                fan_in = stage.channels;
            }
        }
        Ok(Some(StackPlan {
            blocks,
            features: plan.features,
            flatten: self.head == CnnHead::Flatten,
            activation: self.activation,
        }))
    }

    pub(crate) fn count(&self, input: InputShape, num_classes: usize) -> Result<usize> {
        Ok(count_plan(
            &self.plain_plan(input, num_classes)?,
            self.batch_norm,
            num_classes,
        ))
    }

    pub(crate) fn activations(&self, input: InputShape, num_classes: usize) -> Result<f64> {
        Ok(activations_plan(
            &self.plain_plan(input, num_classes)?,
            self.batch_norm,
            num_classes,
        ))
    }

    pub(crate) fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        vb: VarBuilder,
    ) -> Result<Box<dyn Model>> {
        let plan = self.plain_plan(input, num_classes)?;
        Ok(Box::new(build_plan(self, plan, input, num_classes, vb)?))
    }

    fn write_options(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            ":{}:pool={}:{}",
            self.activation,
            self.pool.name(),
            self.head.name()
        )?;
        if self.width != 1.0 {
            write!(f, ":w={}", self.width)?;
        }
        if self.batch_norm {
            f.write_str(":bn")?;
        }
        if !self.init.is_default() {
            write!(f, ":init={}", self.init.name())?;
        }
        Ok(())
    }

    fn write_channels(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let chans: Vec<String> = self.channels.iter().map(|c| c.to_string()).collect();
        f.write_str(&chans.join(","))
    }
}

impl fmt::Display for CnnConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cnn:")?;
        self.write_channels(f)?;
        self.write_options(f)
    }
}

/// Scalars per sample a training step keeps for the backward pass (see
/// [`ModelSpec::activations_per_sample`](crate::ModelSpec::activations_per_sample)): per
/// block the im2col patches, the convolution output, the batch-norm output and the
/// activation, then the pooled map; the classifier's features and logits.
fn activations_plan(plan: &Plan, batch_norm: bool, num_classes: usize) -> f64 {
    let (mut h, mut w) = (plan.input.height as f64, plan.input.width as f64);
    let mut fan_in = plan.input.channels as f64;
    let mut total = fan_in * h * w;
    for stage in &plan.stages {
        let c = stage.channels as f64;
        for _ in 0..stage.repeats {
            let maps = if batch_norm { 3.0 } else { 2.0 };
            total += fan_in * 9.0 * h * w + maps * c * h * w;
            fan_in = c;
        }
        if stage.pool {
            h = (h / 2.0).floor();
            w = (w / 2.0).floor();
            total += c * h * w;
        }
    }
    total + plan.features as f64 + 2.0 * num_classes as f64
}

fn count_plan(plan: &Plan, batch_norm: bool, num_classes: usize) -> usize {
    let mut fan_in = plan.input.channels;
    let mut total = 0;
    for stage in &plan.stages {
        for _ in 0..stage.repeats {
            let c = stage.channels;
            // conv weight, then the bias or the batch-norm affine pair
            total += fan_in * c * 9 + if batch_norm { 2 * c } else { c };
            fan_in = c;
        }
    }
    total + plan.features * num_classes + num_classes
}

fn build_plan(
    cfg: &CnnConfig,
    plan: Plan,
    input: InputShape,
    num_classes: usize,
    vb: VarBuilder,
) -> Result<Cnn> {
    let mut blocks = Vec::new();
    let mut fan_in = plan.input.channels;
    for stage in &plan.stages {
        for r in 0..stage.repeats {
            let bvb = vb.pp("blocks").pp(blocks.len());
            let c = stage.channels;
            blocks.push(ConvBlock {
                conv: conv2d_init(
                    ConvShape {
                        in_channels: fan_in,
                        out_channels: c,
                        kernel: 3,
                        stride: 1,
                        padding: 1,
                    },
                    !cfg.batch_norm,
                    cfg.init,
                    bvb.pp("conv"),
                )?,
                bn: if cfg.batch_norm {
                    Some(batch_norm2d(c, bvb.pp("bn"))?)
                } else {
                    None
                },
                act: cfg.activation,
                pool: stage.pool && r + 1 == stage.repeats,
            });
            fan_in = c;
        }
    }
    Ok(Cnn {
        blocks,
        head: linear(plan.features, num_classes, true, vb.pp("head"))?,
        flatten: cfg.head == CnnHead::Flatten,
        input,
        resize: plan.resize,
        dropout: None,
    })
}

/// A plain CNN without batch norm, block by block, for [`crate::Stacked`].
#[derive(Debug, Clone)]
pub(crate) struct StackPlan {
    pub(crate) blocks: Vec<StackBlock>,
    /// Features entering the classifier.
    pub(crate) features: usize,
    /// Flatten (else global average pool) before the classifier.
    pub(crate) flatten: bool,
    pub(crate) activation: Activation,
}

/// One `conv3x3(padding 1) → activation → [maxpool 2x2]` block (the convolution with bias).
#[derive(Debug, Clone, Copy)]
pub(crate) struct StackBlock {
    /// (in, out) channels.
    pub(crate) channels: (usize, usize),
    /// A 2×2 max-pool after the activation.
    pub(crate) pool: bool,
}

/// `conv3x3 → [bn] → act → [maxpool 2x2]`.
struct ConvBlock {
    conv: Conv2d,
    bn: Option<BatchNorm2d>,
    act: Activation,
    pool: bool,
}

impl ModuleT for ConvBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let ys = self.conv.forward(xs)?; // [N, C, H, W]
        let ys = match &self.bn {
            Some(bn) => bn.forward_t(&ys, train)?,
            None => ys,
        };
        let ys = self.act.apply(&ys)?;
        if self.pool {
            max_pool2x2(&ys) // [N, C, H/2, W/2]
        } else {
            Ok(ys)
        }
    }
}

struct Cnn {
    blocks: Vec<ConvBlock>,
    head: Linear,
    flatten: bool,
    input: InputShape,
    resize: Option<(usize, usize)>,
    /// After each block (activation and pooling), in training forwards.
    dropout: Option<Dropout>,
}

impl Model for Cnn {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut xs = crate::image_input(xs, self.input)?; // [N, C, H, W]
        if let Some((h, w)) = self.resize {
            xs = xs.upsample_bilinear2d(h, w, false)?; // [N, C, h, w]
        }
        for block in &self.blocks {
            xs = block.forward_t(&xs, train)?;
            xs = dropout::maybe(&self.dropout, xs, train)?;
        }
        let features = if self.flatten {
            xs.flatten_from(1)? // [N, C·H·W]
        } else {
            global_avg_pool(&xs)? // [N, C]
        };
        self.head.forward(&features) // [N, classes]
    }

    fn set_dropout(&mut self, dropout: Dropout) -> bool {
        self.dropout = Some(dropout);
        true
    }
}
