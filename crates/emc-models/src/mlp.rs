//! Softmax regression (`linear`) and multi-layer perceptrons (`mlp`) on the flattened
//! input.
//!
//! Variables: `layers.{i}.weight`/`bias` for the hidden layers, `head.weight`/`bias` for the
//! classifier.

use std::fmt;

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

use crate::{
    dropout::{self, Dropout},
    init::WeightInit,
    layers::{linear, linear_init, Linear},
    Activation, InputShape, Model, ModelError, Result,
};

/// Softmax regression: one linear layer from the flattened input to the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinearConfig {
    /// Whether the layer has a bias.
    pub bias: bool,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self { bias: true }
    }
}

impl LinearConfig {
    pub(crate) fn count(&self, input: InputShape, num_classes: usize) -> usize {
        linear_count(input.numel(), num_classes, self.bias)
    }

    /// Scalars per sample kept for the backward pass: the input and the logits.
    pub(crate) fn activations(&self, input: InputShape, num_classes: usize) -> f64 {
        input.numel() as f64 + 2.0 * num_classes as f64
    }

    pub(crate) fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        vb: VarBuilder,
    ) -> Result<Box<dyn Model>> {
        let head = linear(input.numel(), num_classes, self.bias, vb.pp("head"))?;
        Ok(Box::new(Mlp {
            layers: Vec::new(),
            act: Activation::Identity,
            head,
            input,
            dropout: None,
        }))
    }
}

impl fmt::Display for LinearConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("linear")?;
        if !self.bias {
            f.write_str(":nobias")?;
        }
        Ok(())
    }
}

/// A multi-layer perceptron: hidden linear layers each followed by the activation, then a
/// linear classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MlpConfig {
    /// Hidden widths, input side first (at least one).
    pub hidden: Vec<usize>,
    /// The activation after every hidden layer.
    pub activation: Activation,
    /// Whether every layer (the classifier included) has a bias.
    pub bias: bool,
    /// How the hidden layers' weights are drawn (the classifier keeps PyTorch's default).
    #[serde(skip_serializing_if = "WeightInit::is_default")]
    pub init: WeightInit,
}

impl Default for MlpConfig {
    fn default() -> Self {
        Self {
            hidden: vec![512, 512],
            activation: Activation::Relu,
            bias: true,
            init: WeightInit::Torch,
        }
    }
}

fn linear_count(inputs: usize, outputs: usize, bias: bool) -> usize {
    inputs * outputs + if bias { outputs } else { 0 }
}

impl MlpConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(ModelError::Config {
                family: "mlp",
                field: "hidden",
                value: format!("{:?}", self.hidden),
                reason: "expected at least one width, all positive".into(),
            });
        }
        Ok(())
    }

    pub(crate) fn count(&self, input: InputShape, num_classes: usize) -> usize {
        let mut fan_in = input.numel();
        let mut total = 0;
        for &w in &self.hidden {
            total += linear_count(fan_in, w, self.bias);
            fan_in = w;
        }
        total + linear_count(fan_in, num_classes, self.bias)
    }

    /// Scalars per sample kept for the backward pass: the input, each hidden layer's
    /// pre-activation and activation, the logits.
    pub(crate) fn activations(&self, input: InputShape, num_classes: usize) -> f64 {
        let hidden: f64 = self.hidden.iter().map(|&w| 2.0 * w as f64).sum();
        input.numel() as f64 + hidden + 2.0 * num_classes as f64
    }

    pub(crate) fn build(
        &self,
        input: InputShape,
        num_classes: usize,
        vb: VarBuilder,
    ) -> Result<Box<dyn Model>> {
        let mut fan_in = input.numel();
        let mut layers = Vec::with_capacity(self.hidden.len());
        for (i, &w) in self.hidden.iter().enumerate() {
            layers.push(linear_init(
                fan_in,
                w,
                self.bias,
                self.init,
                vb.pp("layers").pp(i),
            )?);
            fan_in = w;
        }
        let head = linear(fan_in, num_classes, self.bias, vb.pp("head"))?;
        Ok(Box::new(Mlp {
            layers,
            act: self.activation,
            head,
            input,
            dropout: None,
        }))
    }
}

impl fmt::Display for MlpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths: Vec<String> = self.hidden.iter().map(|w| w.to_string()).collect();
        write!(f, "mlp:{}:{}", widths.join("x"), self.activation)?;
        if !self.bias {
            f.write_str(":nobias")?;
        }
        if !self.init.is_default() {
            write!(f, ":init={}", self.init.name())?;
        }
        Ok(())
    }
}

/// Linear layers with an activation between them; with no hidden layer it is softmax
/// regression.
struct Mlp {
    layers: Vec<Linear>,
    act: Activation,
    head: Linear,
    input: InputShape,
    /// After each hidden activation, in training forwards.
    dropout: Option<Dropout>,
}

/// `[N, C, H, W]` or `[N, C·H·W]` → `[N, C·H·W]`.
pub(crate) fn flat_input(xs: &Tensor, input: InputShape) -> candle_core::Result<Tensor> {
    let xs = if xs.rank() > 2 {
        xs.flatten_from(1)?
    } else {
        xs.clone()
    };
    let (_, features) = xs.dims2()?;
    if features != input.numel() {
        candle_core::bail!(
            "expected input [N, {}] or [N, {}, {}, {}], got {:?}",
            input.numel(),
            input.channels,
            input.height,
            input.width,
            xs.dims()
        )
    }
    Ok(xs)
}

impl Model for Mlp {
    fn forward(&self, xs: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        let mut xs = flat_input(xs, self.input)?; // [N, C·H·W]
        for layer in &self.layers {
            xs = self.act.apply(&layer.forward(&xs)?)?; // [N, width]
            xs = dropout::maybe(&self.dropout, xs, train)?;
        }
        self.head.forward(&xs) // [N, classes]
    }

    fn set_dropout(&mut self, dropout: Dropout) -> bool {
        if self.layers.is_empty() {
            return false;
        }
        self.dropout = Some(dropout);
        true
    }
}
