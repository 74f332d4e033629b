//! Element-wise activations shared by every model family.
//!
//! Names follow PyTorch (`nn.ReLU`, `nn.LeakyReLU(0.01)`, `nn.ELU(1.0)`, `nn.GELU()`, ...).
//! `gelu` is the exact erf form, PyTorch's default `nn.GELU()`; `gelu_tanh` is the tanh
//! approximation (`nn.GELU(approximate="tanh")`). `softplus` is `ln(1 + eˣ)` computed as
//! `max(x, 0) + ln(1 + e^{-|x|})`, which never overflows.
//!
//! ```
//! use emc_models::Activation;
//! let act: Activation = "leaky_relu".parse().unwrap();
//! assert_eq!(act, Activation::LeakyRelu);
//! assert_eq!(act.to_string(), "leaky_relu");
//! ```

use std::{f64::consts::PI, fmt, str::FromStr};

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Slope of [`Activation::LeakyRelu`] for negative inputs (PyTorch's default).
pub const LEAKY_RELU_SLOPE: f64 = 0.01;

/// An element-wise non-linearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// `max(x, 0)`.
    #[default]
    Relu,
    /// `max(x, 0.01·x)`.
    LeakyRelu,
    /// `x` for `x > 0`, `eˣ - 1` otherwise (α = 1).
    Elu,
    /// `x·Φ(x)` with the exact normal CDF (erf form, PyTorch's default `nn.GELU`).
    Gelu,
    /// The tanh approximation of GELU.
    GeluTanh,
    /// `x·σ(x)` (a.k.a. swish).
    Silu,
    /// `ln(1 + eˣ)`.
    Softplus,
    /// `tanh(x)`.
    Tanh,
    /// `1 / (1 + e^{-x})`.
    Sigmoid,
    /// `x`.
    Identity,
}

impl Activation {
    /// Every activation, in the order of the docs.
    pub const ALL: [Activation; 10] = [
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Elu,
        Activation::Gelu,
        Activation::GeluTanh,
        Activation::Silu,
        Activation::Softplus,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Identity,
    ];

    /// The canonical name, as accepted by [`FromStr`] and written by [`fmt::Display`].
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Elu => "elu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Silu => "silu",
            Activation::Softplus => "softplus",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
        }
    }

    /// Applies the activation element-wise; the result has the shape of `xs`.
    pub fn apply(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            // One pass each way on the CPU, bit-identical to candle's relu.
            Activation::Relu => emc_kernels::relu(xs),
            // max(x, 0.01x) is exact for both signs (slope < 1).
            Activation::LeakyRelu => xs.maximum(&(xs * LEAKY_RELU_SLOPE)?),
            Activation::Elu => xs.elu(1.0),
            // Not candle's fused `gelu_erf`/`gelu`, whose backward passes use rounded
            // constants (0.398942 for 1/√(2π): ~1e-7 absolute gradient error): our one-pass
            // op, bit-identical to `(x · 0.5) · (erf(x/√2) + 1)` composed of candle ops.
            Activation::Gelu => emc_kernels::gelu(xs),
            Activation::GeluTanh => {
                let cube = (xs.sqr()? * xs)?;
                let inner = ((xs + (cube * 0.044715)?)? * (2.0 / PI).sqrt())?;
                (xs * 0.5)? * (inner.tanh()? + 1.0)?
            }
            Activation::Silu => xs.silu(),
            Activation::Softplus => {
                let tail = ((xs.abs()?.neg()?.exp()? + 1.0)?).log()?;
                xs.relu()? + tail
            }
            Activation::Tanh => xs.tanh(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(xs),
            Activation::Identity => Ok(xs.clone()),
        }
    }

    /// The names [`FromStr`] accepts, for error messages.
    pub fn expected() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
        format!("one of {}", names.join(", "))
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The error of parsing an unknown activation name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown activation `{name}`; expected {expected}", name = .0, expected = Activation::expected())]
pub struct UnknownActivation(pub String);

impl FromStr for Activation {
    type Err = UnknownActivation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let canon = s.trim().to_ascii_lowercase().replace('-', "_");
        let alias = match canon.as_str() {
            "leakyrelu" => "leaky_relu",
            "swish" => "silu",
            "gelu_erf" => "gelu",
            "geluapprox" | "gelu_approx" => "gelu_tanh",
            "linear" | "none" => "identity",
            other => other,
        };
        Self::ALL
            .iter()
            .copied()
            .find(|a| a.name() == alias)
            .ok_or_else(|| UnknownActivation(s.to_string()))
    }
}
