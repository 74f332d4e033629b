//! Several models of one `mlp`, `linear` or plain `cnn` spec (without batch norm) stacked
//! into one, for lockstep training: the members' variables side by side along a new
//! leading dimension (linear weights `[K, out, in]`, convolution weights
//! `[K, out, in, 3, 3]`, biases `[K, out]`), and a forward pass over a packed batch (the
//! members' rows concatenated, laid out by [`Segments`]) that applies each member's slice
//! to its rows.
//!
//! Tiny models spend most of a training step on per-op overhead; a stack pays it once per
//! step for all its members. The forward is the member models' own, layer for layer:
//! [`segmented_linear`] and [`segmented_conv2d`] run the single-model kernels on each
//! segment, and the activation, max-pool, global average pool and flatten work image by
//! image, so every member's logits, losses and gradients are the bits its own model
//! computes on its rows. [`Stacked::write_member`] copies a member's trained slice back
//! into its own model.
//!
//! ```
//! use candle_core::{DType, Device, Tensor};
//! use emc_models::{InputShape, ModelSpec, Segments, Stacked};
//! # fn main() -> anyhow::Result<()> {
//! let (spec, input) = ("mlp:8:relu".parse::<ModelSpec>()?, InputShape::new(1, 2, 2));
//! let a = spec.build(input, 3, 0, DType::F32, &Device::Cpu)?;
//! let b = spec.build(input, 3, 1, DType::F32, &Device::Cpu)?;
//! let stacked = Stacked::new(&spec, input, &[&a, &b])?.expect("an MLP stacks");
//! // Two rows of member 1, then three of member 0.
//! let segments = Segments::new([(1, 2), (0, 3)]);
//! let xs = Tensor::randn(0f32, 1.0, (5, 4), &Device::Cpu)?;
//! let logits = stacked.forward(&xs, &segments)?;
//! let alone = b.model.forward(&xs.narrow(0, 0, 2)?, true)?;
//! assert_eq!(logits.narrow(0, 0, 2)?.to_vec2::<f32>()?, alone.to_vec2::<f32>()?);
//! # Ok(()) }
//! ```

use std::fmt;

use candle_core::{Tensor, Var};

use emc_kernels::{segmented_conv2d, segmented_linear, Segments};

use crate::{
    cnn::StackPlan,
    image_input,
    layers::{global_avg_pool, max_pool2x2},
    mlp::flat_input,
    Activation, Built, InputShape, ModelError, ModelSpec, Result,
};

/// One stacked layer with weight and optional bias.
struct Layer {
    weight: Var,
    bias: Option<Var>,
}

impl Layer {
    fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref().map(|b| b.as_tensor())
    }

    fn linear(&self, xs: &Tensor, segments: &Segments) -> candle_core::Result<Tensor> {
        segmented_linear(xs, self.weight.as_tensor(), self.bias(), segments)
    }

    /// The CNN blocks' `conv3x3` with padding 1.
    fn conv3x3(&self, xs: &Tensor, segments: &Segments) -> candle_core::Result<Tensor> {
        segmented_conv2d(xs, self.weight.as_tensor(), self.bias(), 1, 1, segments)
    }
}

/// The layers before the classifier.
enum Body {
    /// Hidden linear layers, each followed by the activation (none: softmax regression).
    Mlp(Vec<Layer>),
    /// `conv3x3 → activation → [maxpool 2x2]` blocks (the flag: pool), then flatten or
    /// global average pool.
    Cnn {
        blocks: Vec<(Layer, bool)>,
        flatten: bool,
    },
}

/// `K` models of one `mlp`, `linear` or plain `cnn` spec trained as one: see the
/// [module docs](self).
pub struct Stacked {
    body: Body,
    head: Layer,
    act: Activation,
    input: InputShape,
    names: Vec<String>,
    vars: Vec<Var>,
    members: usize,
}

fn stack_error(reason: impl Into<String>) -> ModelError {
    ModelError::Stack(reason.into())
}

/// `name [d0, d1, ...]` for each variable.
fn describe(vars: &[(String, Vec<usize>)]) -> String {
    let items: Vec<String> = vars.iter().map(|(n, d)| format!("{n} {d:?}")).collect();
    items.join(", ")
}

/// What a stack is made of, before its variables exist.
enum Kind {
    Mlp { layers: usize, bias: bool },
    Cnn(StackPlan),
}

/// The trainable variables (sorted by name, with their shapes) of an MLP with `hidden`
/// widths (none: softmax regression) from `inputs` features to `classes`.
fn expected_layout(
    hidden: &[usize],
    bias: bool,
    inputs: usize,
    classes: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut vars = Vec::new();
    let mut fan_in = inputs;
    let layers = hidden
        .iter()
        .enumerate()
        .map(|(i, &w)| (format!("layers.{i}"), w));
    for (name, width) in layers.chain([("head".to_string(), classes)]) {
        vars.push((format!("{name}.weight"), vec![width, fan_in]));
        if bias {
            vars.push((format!("{name}.bias"), vec![width]));
        }
        fan_in = width;
    }
    vars.sort();
    vars
}

/// The trainable variables (sorted by name, with their shapes) of the plain CNN `plan`
/// for `classes`.
fn cnn_layout(plan: &StackPlan, classes: usize) -> Vec<(String, Vec<usize>)> {
    let mut vars = Vec::new();
    for (i, block) in plan.blocks.iter().enumerate() {
        let (cin, cout) = block.channels;
        vars.push((format!("blocks.{i}.conv.weight"), vec![cout, cin, 3, 3]));
        vars.push((format!("blocks.{i}.conv.bias"), vec![cout]));
    }
    vars.push(("head.weight".to_string(), vec![classes, plan.features]));
    vars.push(("head.bias".to_string(), vec![classes]));
    vars.sort();
    vars
}

impl Stacked {
    /// Whether models of `spec` can be stacked: the `mlp` and `linear` families, and
    /// `cnn` without batch norm.
    pub fn supports(spec: &ModelSpec) -> bool {
        match spec {
            ModelSpec::Mlp(_) | ModelSpec::Linear(_) => true,
            ModelSpec::Cnn(cfg) => !cfg.batch_norm,
            _ => false,
        }
    }

    /// Stacks `members`, models built from `spec` for `input`: `Ok(None)` when the family
    /// cannot be stacked (see [`Stacked::supports`]), an error when there is no member or
    /// when the members' trainable variables differ in names, shapes, dtype or device, or
    /// do not fit `spec` on `input`. The stacked variables are new, holding the members'
    /// current values; the members are not changed.
    pub fn new(spec: &ModelSpec, input: InputShape, members: &[&Built]) -> Result<Option<Self>> {
        if !Self::supports(spec) {
            return Ok(None);
        }
        if members.is_empty() {
            return Err(stack_error("no members"));
        }
        let named: Vec<Vec<(String, Var)>> = members.iter().map(|m| m.named_trainable()).collect();
        let layout = |vars: &[(String, Var)]| -> Vec<(String, Vec<usize>)> {
            vars.iter()
                .map(|(n, v)| (n.clone(), v.dims().to_vec()))
                .collect()
        };
        let found = layout(&named[0]);
        // The variables `spec` makes on `input`, with the class count read off the head.
        let classes = found
            .iter()
            .find(|(n, d)| n == "head.weight" && d.len() == 2)
            .map_or(0, |(_, d)| d[0]);
        let (expected, act, kind) = match spec {
            ModelSpec::Mlp(cfg) => (
                expected_layout(&cfg.hidden, cfg.bias, input.numel(), classes),
                cfg.activation,
                Kind::Mlp {
                    layers: cfg.hidden.len(),
                    bias: cfg.bias,
                },
            ),
            ModelSpec::Linear(cfg) => (
                expected_layout(&[], cfg.bias, input.numel(), classes),
                Activation::Identity,
                Kind::Mlp {
                    layers: 0,
                    bias: cfg.bias,
                },
            ),
            ModelSpec::Cnn(cfg) => {
                let plan = cfg
                    .stack_plan(input, classes.max(1))?
                    .ok_or_else(|| stack_error(format!("`{spec}` does not stack")))?;
                (cnn_layout(&plan, classes), plan.activation, Kind::Cnn(plan))
            }
            _ => return Ok(None),
        };
        if found != expected {
            return Err(stack_error(format!(
                "member 0 is not a `{spec}` model for input {}x{}x{}: its trainable \
                 variables are [{}], expected [{}]",
                input.channels,
                input.height,
                input.width,
                describe(&found),
                describe(&expected)
            )));
        }

        let reference = &named[0][0].1;
        for (k, vars) in named.iter().enumerate().skip(1) {
            let theirs = layout(vars);
            if theirs != found {
                return Err(stack_error(format!(
                    "member {k} has variables [{}], member 0 [{}]",
                    describe(&theirs),
                    describe(&found)
                )));
            }
            for (name, var) in vars {
                if var.dtype() != reference.dtype() {
                    return Err(stack_error(format!(
                        "member {k}'s {name} is {:?}, member 0's variables {:?}",
                        var.dtype(),
                        reference.dtype()
                    )));
                }
                if !var.device().same_device(reference.device()) {
                    return Err(stack_error(format!(
                        "member {k}'s {name} is on {:?}, member 0's variables on {:?}",
                        var.device().location(),
                        reference.device().location()
                    )));
                }
            }
        }

        let mut names = Vec::with_capacity(found.len());
        let mut vars = Vec::with_capacity(found.len());
        for (i, (name, _)) in named[0].iter().enumerate() {
            let parts = named
                .iter()
                .map(|m| m[i].1.as_tensor().detach())
                .collect::<Vec<_>>();
            vars.push(Var::from_tensor(&Tensor::stack(&parts, 0)?)?);
            names.push(name.clone());
        }
        let var = |name: &str| -> Result<Var> {
            names
                .iter()
                .position(|n| n == name)
                .map(|i| vars[i].clone())
                .ok_or_else(|| stack_error(format!("no variable {name}")))
        };
        let layer = |prefix: &str, bias: bool| -> Result<Layer> {
            Ok(Layer {
                weight: var(&format!("{prefix}.weight"))?,
                bias: if bias {
                    Some(var(&format!("{prefix}.bias"))?)
                } else {
                    None
                },
            })
        };
        let (body, head_bias) = match kind {
            Kind::Mlp { layers, bias } => {
                let layers = (0..layers)
                    .map(|i| layer(&format!("layers.{i}"), bias))
                    .collect::<Result<Vec<_>>>()?;
                (Body::Mlp(layers), bias)
            }
            Kind::Cnn(plan) => {
                let blocks = plan
                    .blocks
                    .iter()
                    .enumerate()
                    .map(|(i, b)| Ok((layer(&format!("blocks.{i}.conv"), true)?, b.pool)))
                    .collect::<Result<Vec<_>>>()?;
                let flatten = plan.flatten;
                (Body::Cnn { blocks, flatten }, true)
            }
        };
        let head = layer("head", head_bias)?;
        Ok(Some(Self {
            body,
            head,
            act,
            input,
            names,
            vars,
            members: members.len(),
        }))
    }

    /// The stacked trainable variables, in the members' [`Built::named_trainable`] order
    /// (sorted by name), each the members' variables stacked along a new dimension 0.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    /// The number of members `K`.
    pub fn len(&self) -> usize {
        self.members
    }

    /// Whether there is no member (never, for a stack made by [`Stacked::new`]).
    pub fn is_empty(&self) -> bool {
        self.members == 0
    }

    /// Logits `[R, classes]` of the packed batch `xs` (`[R, C·H·W]` or `[R, C, H, W]`):
    /// the rows of each segment of `segments` through its member's layers.
    pub fn forward(&self, xs: &Tensor, segments: &Segments) -> candle_core::Result<Tensor> {
        let features = match &self.body {
            Body::Mlp(layers) => {
                let mut xs = flat_input(xs, self.input)?; // [R, C·H·W]
                for layer in layers {
                    xs = self.act.apply(&layer.linear(&xs, segments)?)?; // [R, width]
                }
                xs
            }
            Body::Cnn { blocks, flatten } => {
                let mut xs = image_input(xs, self.input)?; // [R, C, H, W]
                for (conv, pool) in blocks {
                    xs = self.act.apply(&conv.conv3x3(&xs, segments)?)?; // [R, C', H, W]
                    if *pool {
                        xs = max_pool2x2(&xs)?; // [R, C', H/2, W/2]
                    }
                }
                if *flatten {
                    xs.flatten_from(1)? // [R, C'·H'·W']
                } else {
                    global_avg_pool(&xs)? // [R, C']
                }
            }
        };
        self.head.linear(&features, segments) // [R, classes]
    }

    /// Copies member `k`'s slice of every stacked variable into the variable of the same
    /// name of `into` (in place, so `into`'s model and its saved variables hold it).
    pub fn write_member(&self, k: usize, into: &Built) -> Result<()> {
        if k >= self.members {
            return Err(stack_error(format!(
                "member {k} of a stack of {}",
                self.members
            )));
        }
        let targets = into.named_trainable();
        for (name, var) in self.names.iter().zip(&self.vars) {
            let Some((_, target)) = targets.iter().find(|(n, _)| n == name) else {
                return Err(stack_error(format!(
                    "the model to write member {k} into has no variable {name}"
                )));
            };
            target.set(&var.as_tensor().get(k)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Stacked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stacked")
            .field("members", &self.members)
            .field("variables", &self.names)
            .field("activation", &self.act)
            .finish_non_exhaustive()
    }
}
