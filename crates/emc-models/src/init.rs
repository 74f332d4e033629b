//! Seeded, order-independent initialisation.
//!
//! candle's CPU random generator cannot be seeded, so every variable is drawn here instead:
//! [`SeededInit`] is a candle [`SimpleBackend`] over a [`VarMap`] that fills each new
//! variable from its own ChaCha8 stream, keyed by `(seed, variable name)` — the seed picks
//! the key, an FNV-1a hash of the name picks the stream. The same seed gives bit-identical
//! weights whatever order the layers are created in, and a variable of the same name and
//! shape gets the same values in any model built with that seed.
//!
//! The layers pass PyTorch's default initialisers as [`Init`] hints, which are honoured as:
//! `Const(c)` → `c`; `Uniform { lo, up }` → `lo + (up - lo)·u`, `u ∈ [0, 1)`;
//! `Randn { mean, stdev }` → normal (ziggurat); `Kaiming { .. }` → candle's formula
//! `gain/√fan`, uniform (× √3) or normal. Values are drawn in f64 and cast to the
//! requested dtype.
//!
//! ```
//! use candle_core::{DType, Device};
//! use candle_nn::{Init, VarMap};
//! use emc_models::init::seeded_var_builder;
//! # fn main() -> candle_core::Result<()> {
//! let (a, b) = (VarMap::new(), VarMap::new());
//! let hint = Init::Uniform { lo: -0.1, up: 0.1 };
//! let wa = seeded_var_builder(&a, 7, DType::F32, &Device::Cpu).get_with_hints((3, 4), "w", hint)?;
//! let wb = seeded_var_builder(&b, 7, DType::F32, &Device::Cpu).get_with_hints((3, 4), "w", hint)?;
//! assert_eq!(wa.to_vec2::<f32>()?, wb.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```

use candle_core::{DType, Device, Shape, Tensor, Var};
use candle_nn::{init::NormalOrUniform, var_builder::SimpleBackend, Init, VarBuilder, VarMap};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

/// Suffixes of variables that are state, not parameters: batch-norm running statistics.
pub const NON_TRAINABLE_SUFFIXES: [&str; 2] = ["running_mean", "running_var"];

/// Whether the variable called `name` is updated by the optimizer.
pub fn is_trainable(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or(name);
    !NON_TRAINABLE_SUFFIXES.contains(&last)
}

/// PyTorch's default for `nn.Linear`/`nn.Conv2d` weights and biases:
/// `U(-1/√fan_in, 1/√fan_in)` (kaiming-uniform with `a = √5` for weights).
pub fn uniform_fan_in(fan_in: usize) -> Init {
    let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
    Init::Uniform {
        lo: -bound,
        up: bound,
    }
}

/// How the weights of the layers an activation follows (hidden linear layers,
/// convolutions) are drawn; classifier heads always keep PyTorch's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WeightInit {
    /// PyTorch's default (`init=torch`): weight and bias `U(±1/√fan_in)`. Each ReLU layer
    /// then scales the signal's second moment by about 1/6, so a deep plain stack starts
    /// with a vanishing signal (a 14-layer MLP of width 24 does not fit 8 samples).
    #[default]
    Torch,
    /// He et al. 2015 (`init=he`): weight `N(0, 2/fan_in)`, bias 0, which keeps the
    /// signal's second moment through ReLU layers at any depth.
    He,
}

impl WeightInit {
    /// Every choice, as the spec option spells it.
    pub const NAMES: &'static str = "`init=torch` or `init=he`";

    /// The spec option's value: `torch` or `he`.
    pub fn name(self) -> &'static str {
        match self {
            WeightInit::Torch => "torch",
            WeightInit::He => "he",
        }
    }

    /// Parses the spec option's value.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "torch" => Some(WeightInit::Torch),
            "he" => Some(WeightInit::He),
            _ => None,
        }
    }

    /// Whether this is the default (which a spec string leaves out).
    pub fn is_default(&self) -> bool {
        *self == WeightInit::Torch
    }

    /// The (weight, bias) hints of a layer with this fan-in.
    pub fn hints(self, fan_in: usize) -> (Init, Init) {
        match self {
            WeightInit::Torch => (uniform_fan_in(fan_in), uniform_fan_in(fan_in)),
            WeightInit::He => (
                Init::Randn {
                    mean: 0.0,
                    stdev: (2.0 / fan_in.max(1) as f64).sqrt(),
                },
                Init::Const(0.0),
            ),
        }
    }
}

/// 64-bit FNV-1a, a stable hash of a variable name (std's hasher may change between
/// releases).
fn fnv1a64(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The random stream for one variable.
pub fn variable_rng(seed: u64, name: &str) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(fnv1a64(name));
    rng
}

/// Draws `n` values for the hint `init` from the stream of `(seed, name)`.
pub fn sample(init: Init, shape: &Shape, seed: u64, name: &str) -> Vec<f64> {
    let n = shape.elem_count();
    let mut rng = variable_rng(seed, name);
    let uniform = |rng: &mut ChaCha8Rng, lo: f64, up: f64| -> Vec<f64> {
        (0..n)
            .map(|_| lo + (up - lo) * rng.random::<f64>())
            .collect()
    };
    let normal = |rng: &mut ChaCha8Rng, mean: f64, std: f64| -> Vec<f64> {
        (0..n)
            .map(|_| mean + std * rng.sample::<f64, _>(StandardNormal))
            .collect()
    };
    match init {
        Init::Const(c) => vec![c; n],
        Init::Uniform { lo, up } => uniform(&mut rng, lo, up),
        Init::Randn { mean, stdev } => normal(&mut rng, mean, stdev),
        Init::Kaiming {
            dist,
            fan,
            non_linearity,
        } => {
            let std = non_linearity.gain() / (fan.for_shape(shape).max(1) as f64).sqrt();
            match dist {
                NormalOrUniform::Uniform => {
                    let bound = 3f64.sqrt() * std;
                    uniform(&mut rng, -bound, bound)
                }
                NormalOrUniform::Normal => normal(&mut rng, 0.0, std),
            }
        }
    }
}

/// A [`SimpleBackend`] that creates missing variables in a [`VarMap`] from seeded streams
/// and returns existing ones unchanged.
#[derive(Clone)]
pub struct SeededInit {
    varmap: VarMap,
    seed: u64,
}

impl SeededInit {
    /// A backend that adds its variables to `varmap`.
    pub fn new(varmap: &VarMap, seed: u64) -> Self {
        Self {
            varmap: varmap.clone(),
            seed,
        }
    }
}

impl SimpleBackend for SeededInit {
    fn get(
        &self,
        shape: Shape,
        name: &str,
        init: Init,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let mut vars = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        if let Some(var) = vars.get(name) {
            if var.shape() != &shape {
                candle_core::bail!(
                    "variable {name} exists with shape {:?}, requested {shape:?}",
                    var.shape()
                )
            }
            return Ok(var.as_tensor().clone());
        }
        let values = sample(init, &shape, self.seed, name);
        let tensor = Tensor::from_vec(values, shape, &Device::Cpu)?
            .to_dtype(dtype)?
            .to_device(device)?;
        let var = Var::from_tensor(&tensor)?;
        let out = var.as_tensor().clone();
        vars.insert(name.to_string(), var);
        Ok(out)
    }

    fn get_unchecked(
        &self,
        name: &str,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Tensor> {
        let vars = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        match vars.get(name) {
            Some(var) => var.as_tensor().to_dtype(dtype)?.to_device(device),
            None => {
                candle_core::bail!("variable {name} does not exist and has no shape to create it")
            }
        }
    }

    fn contains_tensor(&self, name: &str) -> bool {
        let vars = self.varmap.data().lock().unwrap_or_else(|e| e.into_inner());
        vars.contains_key(name)
    }
}

/// A [`VarBuilder`] whose new variables go into `varmap`, drawn from `seed`.
pub fn seeded_var_builder(
    varmap: &VarMap,
    seed: u64,
    dtype: DType,
    device: &Device,
) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(SeededInit::new(varmap, seed)),
        dtype,
        device.clone(),
    )
}

/// The variables of `varmap` sorted by name, optionally only the trainable ones.
pub fn named_vars(varmap: &VarMap, trainable_only: bool) -> Vec<(String, Var)> {
    let guard = varmap.data().lock().unwrap_or_else(|e| e.into_inner());
    let mut vars: Vec<(String, Var)> = guard
        .iter()
        .filter(|(name, _)| !trainable_only || is_trainable(name))
        .map(|(name, var)| (name.clone(), var.clone()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}
