//! ResNet-18 of width `k` (`resnet18`), as in Nakkiran et al., "Deep Double Descent": the
//! CIFAR-style ResNet-18 (3×3 stem, no stem max-pool) whose four stages have `k, 2k, 4k, 8k`
//! channels; `k = 64` is the standard network (11,173,962 parameters on CIFAR-10).
//!
//! Layout: `conv3x3(k, bias=False) → bn → act`, four stages of two [`BasicBlock`]s with
//! strides 1, 2, 2, 2, global average pool, linear classifier. Nakkiran et al. used the
//! pre-activation variant; this is the post-activation (torchvision-style) block.
//!
//! Variables: `conv1.weight`, `bn1.*`, `layer{1..4}.{0,1}.conv1/bn1/conv2/bn2`,
//! `layer{s}.0.downsample.conv/bn` where the shape changes, `head.weight`/`bias`.
//!
//! Dropout ([`crate::Model::set_dropout`]): torchvision's ResNet has none; this one places
//! it as Wide-ResNet does (Zagoruyko & Komodakis), inside every basic block between the
//! first convolution's activation and the second convolution,
//! `conv2(drop(act(bn1(conv1(x)))))` ([`BasicBlock::forward_with_dropout`]): eight masks
//! per training forward, block by block in forward order, none on the stem, the shortcuts,
//! the block outputs or before the classifier.

use std::fmt;

use candle_core::{Module, ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::{
    layers::{
        basic_block, batch_norm2d, conv2d, global_avg_pool, linear, BasicBlock, BatchNorm2d,
        Conv2d, Linear,
    },
    Activation, Dropout, InputShape, Model, ModelError, Result,
};

/// Strides of the four stages.
const STRIDES: [usize; 4] = [1, 2, 2, 2];
/// Blocks per stage.
const BLOCKS: usize = 2;

/// ResNet-18 with base width `k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResNetConfig {
    /// Channels of the stem and first stage; later stages have 2k, 4k, 8k.
    pub k: usize,
    /// The activation (ReLU in the paper).
    pub activation: Activation,
}

impl Default for ResNetConfig {
    fn default() -> Self {
        Self {
            k: 64,
            activation: Activation::Relu,
        }
    }
}

impl ResNetConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.k == 0 {
            return Err(ModelError::Config {
                family: "resnet18",
                field: "k",
                value: "0".into(),
                reason: "expected a width >= 1".into(),
            });
        }
        Ok(())
    }

    /// `(in, out, stride)` of every block, stage by stage.
    fn blocks(&self) -> Vec<Vec<(usize, usize, usize)>> {
        let mut fan_in = self.k;
        STRIDES
            .iter()
            .enumerate()
            .map(|(s, &stride)| {
                let c = self.k << s;
                (0..BLOCKS)
                    .map(|b| {
                        let block = (fan_in, c, if b == 0 { stride } else { 1 });
                        fan_in = c;
                        block
                    })
                    .collect()
            })
            .collect()
    }

    /// Scalars per sample kept for the backward pass: the stem's patches and maps, then per
    /// block the patches of both convolutions, their outputs, batch norms, activations and
    /// the shortcut.
    pub(crate) fn activations(&self, input: InputShape, num_classes: usize) -> f64 {
        let (mut h, mut w) = (input.height as f64, input.width as f64);
        let k = self.k as f64;
        // The input and its 3x3 patches, then the stem's convolution, batch norm and
        // activation.
        let mut total = input.numel() as f64 * 10.0 + 3.0 * k * h * w;
        for (cin, cout, stride) in self.blocks().into_iter().flatten() {
            let (cin, cout) = (cin as f64, cout as f64);
            h = (h / stride as f64).ceil();
            w = (w / stride as f64).ceil();
            total += cin * 9.0 * h * w + cout * 9.0 * h * w + 8.0 * cout * h * w;
        }
        total + 8.0 * k + 2.0 * num_classes as f64
    }

    pub(crate) fn count(&self, input: InputShape, num_classes: usize) -> usize {
        let k = self.k;
        let mut total = input.channels * k * 9 + 2 * k; // stem conv + bn
        for (cin, cout, stride) in self.blocks().into_iter().flatten() {
            total += cin * cout * 9 + cout * cout * 9 + 4 * cout;
            if stride != 1 || cin != cout {
                total += cin * cout + 2 * cout;
            }
        }
        total + 8 * k * num_classes + num_classes
    }

    pub(crate) fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        vb: VarBuilder,
    ) -> Result<Box<dyn Model>> {
        let k = self.k;
        let mut stages = Vec::new();
        for (s, blocks) in self.blocks().into_iter().enumerate() {
            let svb = vb.pp(format!("layer{}", s + 1));
            for (b, (cin, cout, stride)) in blocks.into_iter().enumerate() {
                stages.push(basic_block(cin, cout, stride, self.activation, svb.pp(b))?);
            }
        }
        Ok(Box::new(ResNet {
            conv1: conv2d(input.channels, k, 3, 1, 1, false, vb.pp("conv1"))?,
            bn1: batch_norm2d(k, vb.pp("bn1"))?,
            blocks: stages,
            head: linear(8 * k, num_classes, true, vb.pp("head"))?,
            act: self.activation,
            input,
            dropout: None,
        }))
    }
}

impl fmt::Display for ResNetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "resnet18:k={}:{}", self.k, self.activation)
    }
}

struct ResNet {
    conv1: Conv2d,
    bn1: BatchNorm2d,
    blocks: Vec<BasicBlock>,
    head: Linear,
    act: Activation,
    input: InputShape,
    /// Between the two convolutions of every block, in training forwards.
    dropout: Option<Dropout>,
}

impl Model for ResNet {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let xs = crate::image_input(xs, self.input)?; // [N, C, H, W]
        let mut xs = self
            .act
            .apply(&self.bn1.forward_t(&self.conv1.forward(&xs)?, train)?)?; // [N, k, H, W]
        for block in &self.blocks {
            // ends at [N, 8k, H/8, W/8]
            xs = block.forward_with_dropout(&xs, train, &self.dropout)?;
        }
        self.head.forward(&global_avg_pool(&xs)?) // [N, classes]
    }

    fn set_dropout(&mut self, dropout: Dropout) -> bool {
        self.dropout = Some(dropout);
        true
    }
}
