//! [`ModelSpec`]: one value naming a model family and its configuration, parsed from and
//! written as the compact spec strings of the CLI (grammar in the crate docs).

use std::{collections::HashSet, fmt, str::FromStr};

use candle_core::{DType, Device, Var};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};

use crate::{
    cnn::{CnnConfig, CnnHead, CompoundConfig, Pool},
    init::{named_vars, seeded_var_builder},
    mlp::{LinearConfig, MlpConfig},
    quant::QuantConfig,
    resnet::ResNetConfig,
    subspace::{Projection, SubspaceConfig},
    vit::{VitConfig, VitPool},
    Activation, Built, Dropout, InputShape, ModelError, Result,
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

/// Parses one spec string, naming the field that is wrong.
struct Parser<'a> {
    spec: &'a str,
    seen: HashSet<&'static str>,
}

impl<'a> Parser<'a> {
    fn new(spec: &'a str) -> Self {
        Self {
            spec,
            seen: HashSet::new(),
        }
    }

    fn err(&self, field: &'static str, found: &str, expected: impl Into<String>) -> ModelError {
        ModelError::Spec {
            spec: self.spec.to_string(),
            field,
            found: found.to_string(),
            expected: expected.into(),
        }
    }

    /// Records that `field` was given, refusing a second occurrence.
    fn once(&mut self, field: &'static str, item: &str) -> Result<()> {
        if self.seen.insert(field) {
            Ok(())
        } else {
            Err(self.err(field, item, format!("{field} at most once")))
        }
    }

    fn positive(&self, field: &'static str, text: &str, expected: &str) -> Result<usize> {
        match text.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(self.err(field, text, expected)),
        }
    }

    fn float(
        &self,
        field: &'static str,
        text: &str,
        expected: &str,
        positive: bool,
    ) -> Result<f64> {
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() && (!positive || v > 0.0) => Ok(v),
            _ => Err(self.err(field, text, expected)),
        }
    }

    fn list(
        &self,
        field: &'static str,
        text: Option<&str>,
        sep: char,
        expected: &str,
    ) -> Result<Vec<usize>> {
        let text = text.unwrap_or("");
        if text.is_empty() {
            return Err(self.err(field, text, expected));
        }
        text.split(sep)
            .map(|w| self.positive(field, w, expected))
            .collect()
    }

    fn activation(&mut self, item: &str) -> Option<Result<Activation>> {
        let act = item.parse::<Activation>().ok()?;
        Some(self.once("activation", item).map(|_| act))
    }
}

const MLP_WIDTHS: &str = "hidden widths separated by `x`, e.g. `mlp:512x512:relu`";
const CNN_CHANNELS: &str = "channel counts separated by `,`, e.g. `cnn:32,64:relu`";

fn cnn_option(p: &mut Parser, cfg: &mut CnnConfig, item: &str) -> Option<Result<()>> {
    if let Some(act) = p.activation(item) {
        return Some(act.map(|a| cfg.activation = a));
    }
    let (key, value) = item.split_once('=').unwrap_or((item, ""));
    let result = match (key, value) {
        ("pool", "") => p.once("pool", item).map(|_| cfg.pool = Pool::All),
        ("nopool", "") => p.once("pool", item).map(|_| cfg.pool = Pool::None),
        ("pool", v) => match Pool::parse(v) {
            Some(pool) => p.once("pool", item).map(|_| cfg.pool = pool),
            None => Err(p.err("pool", v, "`pool=all`, `pool=last` or `pool=none`")),
        },
        ("gap", "") => p.once("head", item).map(|_| cfg.head = CnnHead::Gap),
        ("flatten", "") => p.once("head", item).map(|_| cfg.head = CnnHead::Flatten),
        ("w", v) => p
            .float("w", v, "a width multiplier > 0, e.g. `w=2`", true)
            .and_then(|w| p.once("w", item).map(|_| cfg.width = w)),
        ("bn", "") => p.once("bn", item).map(|_| cfg.batch_norm = true),
        ("nobn", "") => p.once("bn", item).map(|_| cfg.batch_norm = false),
        _ => return None,
    };
    Some(result)
}

const CNN_OPTIONS: &str =
    "an activation, `pool[=all|last|none]`, `nopool`, `gap`, `flatten`, `w=<multiplier>` or `bn`";

fn parse_linear(p: &mut Parser, items: &[&str]) -> Result<ModelSpec> {
    let mut cfg = LinearConfig::default();
    for &item in items {
        match item {
            "nobias" => p.once("bias", item).map(|_| cfg.bias = false)?,
            "bias" => p.once("bias", item).map(|_| cfg.bias = true)?,
            _ => return Err(p.err("option", item, "`nobias`, as in `linear:nobias`")),
        }
    }
    Ok(ModelSpec::Linear(cfg))
}

fn parse_mlp(p: &mut Parser, items: &[&str]) -> Result<ModelSpec> {
    let mut cfg = MlpConfig {
        hidden: p.list("widths", items.first().copied(), 'x', MLP_WIDTHS)?,
        ..MlpConfig::default()
    };
    for &item in items.iter().skip(1) {
        if let Some(act) = p.activation(item) {
            cfg.activation = act?;
            continue;
        }
        match item {
            "nobias" => p.once("bias", item).map(|_| cfg.bias = false)?,
            "bias" => p.once("bias", item).map(|_| cfg.bias = true)?,
            _ => {
                return Err(p.err(
                    "option",
                    item,
                    format!("an activation ({}) or `nobias`", Activation::expected()),
                ))
            }
        }
    }
    Ok(ModelSpec::Mlp(cfg))
}

fn parse_cnn(p: &mut Parser, items: &[&str]) -> Result<ModelSpec> {
    let mut cfg = CnnConfig {
        channels: p.list("channels", items.first().copied(), ',', CNN_CHANNELS)?,
        ..CnnConfig::default()
    };
    for &item in items.iter().skip(1) {
        match cnn_option(p, &mut cfg, item) {
            Some(result) => result?,
            None => return Err(p.err("option", item, CNN_OPTIONS)),
        }
    }
    Ok(ModelSpec::Cnn(cfg))
}

fn parse_compound(p: &mut Parser, items: &[&str]) -> Result<ModelSpec> {
    let base = CnnConfig {
        channels: p.list(
            "channels",
            items.first().copied(),
            ',',
            "channel counts separated by `,`, e.g. `cnn-compound:32,64:relu:phi=1`",
        )?,
        ..CnnConfig::default()
    };
    let mut cfg = CompoundConfig {
        base,
        ..CompoundConfig::default()
    };
    for &item in items.iter().skip(1) {
        if let Some(result) = cnn_option(p, &mut cfg.base, item) {
            result?;
            continue;
        }
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        let (field, slot, positive): (&'static str, &mut f64, bool) = match key {
            "phi" => ("phi", &mut cfg.phi, false),
            "alpha" => ("alpha", &mut cfg.alpha, true),
            "beta" => ("beta", &mut cfg.beta, true),
            "gamma" => ("gamma", &mut cfg.gamma, true),
            _ => {
                return Err(p.err(
                    "option",
                    item,
                    format!("{CNN_OPTIONS}, `phi=<φ>`, `alpha=`, `beta=` or `gamma=`"),
                ))
            }
        };
        let expected = if positive {
            "a number > 0"
        } else {
            "a number, e.g. `phi=1`"
        };
        *slot = p.float(field, value, expected, positive)?;
        p.once(field, item)?;
    }
    Ok(ModelSpec::CompoundCnn(cfg))
}

fn parse_resnet(p: &mut Parser, items: &[&str]) -> Result<ModelSpec> {
    let mut cfg = ResNetConfig::default();
    for &item in items {
        if let Some(act) = p.activation(item) {
            cfg.activation = act?;
        } else if let Some(k) = item.strip_prefix("k=") {
            cfg.k = p.positive("k", k, "a positive width, e.g. `resnet18:k=16`")?;
            p.once("k", item)?;
        } else {
            return Err(p.err(
                "option",
                item,
                "`k=<width>` or an activation, e.g. `resnet18:k=16:relu`",
            ));
        }
    }
    Ok(ModelSpec::ResNet18(cfg))
}

fn parse_vit(p: &mut Parser, items: &[&str]) -> Result<ModelSpec> {
    let mut cfg = VitConfig::default();
    let mut mlp: Option<usize> = None;
    let mut ratio: Option<f64> = None;
    const FORM: &str = "e.g. `vit:patch4,d64,depth4,heads4,mlp256,pool=mean`";
    for &item in items {
        if let Some(act) = p.activation(item) {
            cfg.activation = act?;
            continue;
        }
        // `depth` before `d`: both are prefixes.
        let fields: [(&str, &'static str); 5] = [
            ("patch", "patch"),
            ("depth", "depth"),
            ("heads", "heads"),
            ("mlp", "mlp"),
            ("d", "d"),
        ];
        if let Some(pool) = item.strip_prefix("pool=") {
            cfg.pool = VitPool::parse(pool)
                .ok_or_else(|| p.err("pool", pool, "`pool=cls` or `pool=mean`"))?;
            p.once("pool", item)?;
        } else if let Some(pool) = VitPool::parse(item) {
            cfg.pool = pool;
            p.once("pool", item)?;
        } else if let Some(r) = item.strip_prefix("ratio") {
            let r = r.strip_prefix('=').unwrap_or(r);
            ratio = Some(p.float("ratio", r, "an MLP ratio > 0, e.g. `ratio4`", true)?);
            p.once("mlp", item)?;
        } else if let Some((prefix, field)) = fields.iter().find(|(prefix, _)| {
            item.strip_prefix(prefix).is_some_and(|rest| {
                rest.trim_start_matches('=').parse::<usize>().is_ok() || rest.is_empty()
            })
        }) {
            let value = item[prefix.len()..].trim_start_matches('=');
            let expected = format!("`{prefix}<positive integer>`, {FORM}");
            let v = p.positive(field, value, &expected)?;
            p.once(field, item)?;
            match *field {
                "patch" => cfg.patch = v,
                "depth" => cfg.depth = v,
                "heads" => cfg.heads = v,
                "mlp" => mlp = Some(v),
                _ => cfg.dim = v,
            }
        } else {
            return Err(p.err(
                "option",
                item,
                format!("`patch<N>`, `d<N>`, `depth<N>`, `heads<N>`, `mlp<N>` or `ratio<R>`, `pool=cls|mean` or an activation; {FORM}"),
            ));
        }
    }
    cfg.mlp_dim = match (mlp, ratio) {
        (Some(m), _) => m,
        (None, Some(r)) => {
            let m = (r * cfg.dim as f64).round() as usize;
            if m == 0 {
                return Err(p.err(
                    "ratio",
                    &r.to_string(),
                    "a ratio giving at least one hidden unit",
                ));
            }
            m
        }
        (None, None) => 4 * cfg.dim,
    };
    if cfg.dim % cfg.heads != 0 {
        return Err(p.err(
            "heads",
            &cfg.heads.to_string(),
            format!("a divisor of d = {}", cfg.dim),
        ));
    }
    Ok(ModelSpec::Vit(cfg))
}

/// `subspace:d=<d>[:proj=<kind>](<spec>)` or `quant:<bits>(<spec>)`; `head` is the text
/// before `(`.
fn parse_wrapper(p: &mut Parser, head: &str, inner: &str) -> Result<ModelSpec> {
    let (family, rest) = head.split_once(':').unwrap_or((head, ""));
    let model: ModelSpec = inner.parse()?;
    if matches!(model, ModelSpec::Subspace(_) | ModelSpec::Quant(_)) {
        return Err(p.err(
            "model",
            inner,
            "a model family inside the wrapper, not another wrapper",
        ));
    }
    let model = Box::new(model);
    let items: Vec<&str> = rest
        .split(':')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .collect();
    if family == "quant" {
        let [bits] = items.as_slice() else {
            return Err(p.err(
                "bits",
                rest,
                format!(
                    "one bit width, e.g. `quant:4(cnn:8,16)`: {}",
                    QuantConfig::EXPECTED_BITS
                ),
            ));
        };
        let text = bits.strip_prefix("bits=").unwrap_or(bits);
        let expected = format!("{}, e.g. `quant:4(cnn:8,16)`", QuantConfig::EXPECTED_BITS);
        let bits = p.positive("bits", text, &expected)?;
        let cfg = QuantConfig {
            bits: u32::try_from(bits).map_err(|_| p.err("bits", text, expected.clone()))?,
            model,
        };
        cfg.check_bits()
            .map_err(|_| p.err("bits", text, expected.clone()))?;
        return Ok(ModelSpec::Quant(cfg));
    }
    let mut cfg = SubspaceConfig {
        dim: 0,
        projection: Projection::Auto,
        model,
    };
    const FORM: &str = "e.g. `subspace:d=256(mlp:64:relu)`";
    for &item in &items {
        let (key, value) = item.split_once('=').unwrap_or((item, ""));
        match key {
            "d" => {
                cfg.dim = p.positive("d", value, &format!("a dimension >= 1, {FORM}"))?;
                p.once("d", item)?;
            }
            "proj" => {
                cfg.projection = Projection::parse(value)
                    .ok_or_else(|| p.err("proj", value, "`auto`, `dense` or `sparse`"))?;
                p.once("proj", item)?;
            }
            _ => {
                return Err(p.err(
                    "option",
                    item,
                    format!("`d=<dimension>` or `proj=auto|dense|sparse`, {FORM}"),
                ))
            }
        }
    }
    if cfg.dim == 0 {
        return Err(p.err("d", rest, format!("`d=<dimension>`, {FORM}")));
    }
    Ok(ModelSpec::Subspace(cfg))
}

impl FromStr for ModelSpec {
    type Err = ModelError;

    fn from_str(spec: &str) -> Result<Self> {
        let lowered = spec.trim().to_ascii_lowercase();
        let mut parser = Parser::new(spec);
        let head = lowered.split(['(', ':']).next().unwrap_or("").trim();
        if head == "subspace" || head == "quant" {
            let p = &mut parser;
            return match (lowered.find('('), lowered.strip_suffix(')')) {
                (Some(open), Some(body)) if open < body.len() => {
                    parse_wrapper(p, lowered[..open].trim(), body[open + 1..].trim())
                }
                _ => Err(p.err(
                    "model",
                    &lowered,
                    format!("the wrapped spec in parentheses, e.g. `{head}:...(mlp:64:relu)`"),
                )),
            };
        }
        let (family, rest) = lowered.split_once(':').unwrap_or((lowered.as_str(), ""));
        let items: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else if family == "vit" {
            rest.split([',', ':']).map(str::trim).collect()
        } else {
            rest.split(':').map(str::trim).collect()
        };
        let p = &mut parser;
        match family.trim() {
            "linear" => parse_linear(p, &items),
            "mlp" => parse_mlp(p, &items),
            "cnn" => parse_cnn(p, &items),
            "cnn-compound" | "cnn_compound" => parse_compound(p, &items),
            "resnet18" => parse_resnet(p, &items),
            "vit" => parse_vit(p, &items),
            other => Err(p.err("family", other, format!("one of {}", FAMILIES.join(", ")))),
        }
    }
}
