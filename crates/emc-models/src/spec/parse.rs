//! Parsing [`ModelSpec`] from its compact spec string (grammar in the crate docs): each
//! family's fields, and the wrappers `subspace:...(...)` and `quant:...(...)`. An error
//! names the field that is wrong and the form it expects.

use std::{collections::HashSet, str::FromStr};

use crate::{
    cnn::{CnnConfig, CnnHead, CompoundConfig, Pool},
    init::WeightInit,
    mlp::{LinearConfig, MlpConfig},
    quant::QuantConfig,
    resnet::ResNetConfig,
    subspace::{Projection, SubspaceConfig},
    vit::{VitConfig, VitPool},
    Activation, ModelError, ModelSpec, Result, FAMILIES,
};

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

    /// `init=<value>`, at most once.
    fn init(&mut self, item: &str, value: &str) -> Result<WeightInit> {
        let init =
            WeightInit::parse(value).ok_or_else(|| self.err("init", value, WeightInit::NAMES))?;
        self.once("init", item)?;
        Ok(init)
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
        ("init", v) => p.init(item, v).map(|init| cfg.init = init),
        _ => return None,
    };
    Some(result)
}

const CNN_OPTIONS: &str = "an activation, `pool[=all|last|none]`, `nopool`, `gap`, `flatten`, \
     `w=<multiplier>`, `bn` or `init=torch|he`";

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
            _ if item.starts_with("init=") => cfg.init = p.init(item, &item["init=".len()..])?,
            _ => {
                return Err(p.err(
                    "option",
                    item,
                    format!(
                        "an activation ({}), `nobias` or `init=torch|he`",
                        Activation::expected()
                    ),
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
