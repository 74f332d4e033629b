//! Spec strings: parsing, canonical display that parses back to the same value, errors that
//! name the field and the expected form, and serde.

use anyhow::Result;
use emc_models::init::WeightInit;
use emc_models::{
    Activation, CnnConfig, CnnHead, CompoundConfig, LinearConfig, MlpConfig, ModelError, ModelSpec,
    Pool, ResNetConfig, VitConfig, VitPool,
};

fn parse(s: &str) -> Result<ModelSpec> {
    Ok(s.parse::<ModelSpec>()?)
}

#[test]
fn specs_parse_to_their_configs() -> Result<()> {
    assert_eq!(
        parse("linear")?,
        ModelSpec::Linear(LinearConfig { bias: true })
    );
    assert_eq!(
        parse("linear:nobias")?,
        ModelSpec::Linear(LinearConfig { bias: false })
    );
    assert_eq!(
        parse("mlp:512x512:relu")?,
        ModelSpec::Mlp(MlpConfig {
            hidden: vec![512, 512],
            activation: Activation::Relu,
            bias: true,
            init: WeightInit::Torch,
        })
    );
    assert_eq!(
        parse("mlp:24x24:init=he")?,
        ModelSpec::Mlp(MlpConfig {
            hidden: vec![24, 24],
            init: WeightInit::He,
            ..MlpConfig::default()
        })
    );
    assert_eq!(
        parse("cnn:32,64:relu:pool=last:flatten")?,
        ModelSpec::Cnn(CnnConfig {
            channels: vec![32, 64],
            pool: Pool::Last,
            head: CnnHead::Flatten,
            ..CnnConfig::default()
        })
    );
    assert_eq!(
        parse("CNN:16,32:GELU:W=2:bn:gap:nopool")?,
        ModelSpec::Cnn(CnnConfig {
            channels: vec![16, 32],
            activation: Activation::Gelu,
            pool: Pool::None,
            head: CnnHead::Gap,
            width: 2.0,
            batch_norm: true,
            init: WeightInit::Torch,
        })
    );
    assert_eq!(
        parse("cnn:8,8:init=he:flatten")?,
        ModelSpec::Cnn(CnnConfig {
            channels: vec![8, 8],
            head: CnnHead::Flatten,
            init: WeightInit::He,
            ..CnnConfig::default()
        })
    );
    assert_eq!(
        parse("resnet18:k=16")?,
        ModelSpec::ResNet18(ResNetConfig {
            k: 16,
            activation: Activation::Relu
        })
    );
    assert_eq!(
        parse("resnet18")?,
        ModelSpec::ResNet18(ResNetConfig::default())
    );
    assert_eq!(
        parse("vit:patch4,d128,depth4,heads4,mlp256,pool=mean")?,
        ModelSpec::Vit(VitConfig {
            patch: 4,
            dim: 128,
            depth: 4,
            heads: 4,
            mlp_dim: 256,
            pool: VitPool::Mean,
            activation: Activation::Gelu,
        })
    );
    // MLP size from a ratio, or 4·d by default; `:` also separates ViT fields.
    let vit = |s: &str| -> Result<VitConfig> {
        match parse(s)? {
            ModelSpec::Vit(cfg) => Ok(cfg),
            other => anyhow::bail!("not a ViT: {other}"),
        }
    };
    assert_eq!(vit("vit:patch4,d64,depth4,heads4,ratio2")?.mlp_dim, 128);
    assert_eq!(vit("vit:patch4,d64,depth4,heads4")?.mlp_dim, 256);
    assert_eq!(
        vit("vit:patch4:d64:depth4:heads4:cls:silu")?.activation,
        Activation::Silu
    );
    assert_eq!(
        parse("cnn-compound:32,64:relu:phi=1.5:gamma=1")?,
        ModelSpec::CompoundCnn(CompoundConfig {
            base: CnnConfig {
                channels: vec![32, 64],
                ..CnnConfig::default()
            },
            phi: 1.5,
            gamma: 1.0,
            ..CompoundConfig::default()
        })
    );
    Ok(())
}

#[test]
fn display_round_trips() -> Result<()> {
    let specs = [
        ("linear", "linear"),
        ("linear:nobias", "linear:nobias"),
        ("mlp:512x512", "mlp:512x512:relu"),
        ("mlp:100:nobias:swish", "mlp:100:silu:nobias"),
        (
            "cnn:32,64:relu:pool=last:flatten",
            "cnn:32,64:relu:pool=last:flatten",
        ),
        ("cnn:8:w=0.75:bn:tanh", "cnn:8:tanh:pool=all:gap:w=0.75:bn"),
        ("mlp:24x24:init=torch", "mlp:24x24:relu"),
        ("mlp:24x24:init=he:nobias", "mlp:24x24:relu:nobias:init=he"),
        ("cnn:8,8:init=he", "cnn:8,8:relu:pool=all:gap:init=he"),
        (
            "cnn-compound:4,8:init=he:phi=1",
            "cnn-compound:4,8:relu:pool=all:gap:init=he:phi=1",
        ),
        ("resnet18:k=16", "resnet18:k=16:relu"),
        ("resnet18:leaky_relu", "resnet18:k=64:leaky_relu"),
        (
            "vit:patch4,d64,depth4,heads4",
            "vit:patch4,d64,depth4,heads4,mlp256,pool=cls,gelu",
        ),
        (
            "vit:heads2,d32,patch2,depth1,ratio1.5,mean,gelu_tanh",
            "vit:patch2,d32,depth1,heads2,mlp48,pool=mean,gelu_tanh",
        ),
        (
            "cnn-compound:32,64:phi=1",
            "cnn-compound:32,64:relu:pool=all:gap:phi=1",
        ),
        (
            "cnn-compound:4:elu:flatten:phi=-0.5:alpha=1.3:beta=1:gamma=1.1",
            "cnn-compound:4:elu:pool=all:flatten:phi=-0.5:alpha=1.3:beta=1:gamma=1.1",
        ),
    ];
    for (input, canonical) in specs {
        let spec = parse(input)?;
        assert_eq!(spec.to_string(), canonical, "{input}");
        assert_eq!(parse(canonical)?, spec, "{canonical}");
    }
    for act in Activation::ALL {
        assert_eq!(act.to_string().parse::<Activation>()?, act);
        let spec = parse(&format!("mlp:3:{act}"))?;
        assert_eq!(parse(&spec.to_string())?, spec);
    }
    Ok(())
}

#[test]
fn bad_specs_name_the_field_and_the_expected_form() {
    let cases = [
        ("transformer:4", "family", "one of linear, mlp"),
        ("mlp", "widths", "separated by `x`"),
        ("mlp:512x0", "widths", "separated by `x`"),
        ("mlp:512,512", "widths", "separated by `x`"),
        ("mlp:512:relu:tanh", "activation", "at most once"),
        ("mlp:512:swishy", "option", "an activation (one of relu"),
        ("linear:relu", "option", "`nobias`"),
        ("cnn:32,x", "channels", "separated by `,`"),
        ("cnn:32:pool=first", "pool", "pool=last"),
        ("cnn:32:w=-1", "w", "width multiplier > 0"),
        ("cnn:32:gap:flatten", "head", "at most once"),
        ("cnn:32:dropout", "option", "`flatten`"),
        ("cnn:32:init=xavier", "init", "`init=torch` or `init=he`"),
        ("cnn:32:init=he:init=torch", "init", "at most once"),
        ("mlp:32:init=lecun", "init", "`init=he`"),
        ("mlp:32:fancy", "option", "`init=torch|he`"),
        ("cnn-compound:32:phi=big", "phi", "a number"),
        ("cnn-compound:32:beta=0", "beta", "> 0"),
        ("resnet18:k=0", "k", "resnet18:k=16"),
        ("resnet18:width=3", "option", "`k=<width>`"),
        (
            "vit:patch4,d64,depth4,heads5",
            "heads",
            "a divisor of d = 64",
        ),
        ("vit:patch0,d64", "patch", "`patch<positive integer>`"),
        ("vit:patch4,d64,pool=max", "pool", "pool=mean"),
        ("vit:patch4,d64,width3", "option", "`depth<N>`"),
        ("vit:d64,d32", "d", "at most once"),
        ("vit:d8,ratio0", "ratio", "MLP ratio > 0"),
    ];
    for (spec, field, expected) in cases {
        match spec.parse::<ModelSpec>() {
            Err(err @ ModelError::Spec { field: f, .. }) => {
                let message = err.to_string();
                assert_eq!(f, field, "{spec}: {message}");
                assert!(message.contains(expected), "{spec}: {message}");
                assert!(message.contains(spec), "{spec}: {message}");
            }
            other => panic!("{spec}: expected a spec error, got {other:?}"),
        }
    }
}

#[test]
fn serde_uses_a_family_tag_and_the_string_form_is_available() -> Result<()> {
    for s in [
        "linear",
        "mlp:5x6:elu",
        "cnn:4,8:relu:bn",
        "cnn:4,8:init=he",
        "mlp:5:init=he",
        "resnet18:k=4",
        "vit:patch2,d8,depth1,heads2",
        "cnn-compound:4:phi=2",
    ] {
        let spec = parse(s)?;
        let json = serde_json::to_string(&spec)?;
        assert!(
            json.starts_with(&format!("{{\"family\":\"{}\"", spec.family())),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<ModelSpec>(&json)?, spec, "{json}");
    }
    let mlp: ModelSpec = serde_json::from_str(r#"{"family": "mlp", "hidden": [7]}"#)?;
    assert_eq!(
        mlp,
        parse("mlp:7:relu")?,
        "missing fields take their defaults"
    );
    assert!(serde_json::from_str::<ModelSpec>(r#"{"family": "mlp", "widths": [7]}"#).is_err());

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Run {
        #[serde(with = "emc_models::spec_string")]
        model: ModelSpec,
    }
    let run = Run {
        model: parse("cnn:32,64:relu:pool=last:flatten")?,
    };
    let json = serde_json::to_string(&run)?;
    assert_eq!(json, r#"{"model":"cnn:32,64:relu:pool=last:flatten"}"#);
    assert_eq!(serde_json::from_str::<Run>(&json)?, run);
    let tagged: Run = serde_json::from_str(r#"{"model": {"family": "linear"}}"#)?;
    assert_eq!(tagged.model, parse("linear")?);
    assert!(serde_json::from_str::<Run>(r#"{"model": "mlp:0"}"#).is_err());
    Ok(())
}

/// The grammar block of the crate docs (`src/lib.rs`, "Spec grammar"), and the README's copy
/// under `--model SPEC`: the two stay the same text, line for line.
#[test]
fn the_readme_states_the_crate_docs_spec_grammar() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let readme = std::fs::read_to_string(root.join("../../README.md")).unwrap();
    let block = |lines: Vec<&str>| -> Vec<String> {
        let start = lines.iter().position(|l| l.trim() == "```text").unwrap() + 1;
        let len = lines[start..]
            .iter()
            .position(|l| l.trim() == "```")
            .unwrap();
        lines[start..start + len]
            .iter()
            .map(|l| l.trim_end().to_string())
            .collect()
    };
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .skip_while(|l| !l.starts_with("## Spec grammar"))
        .collect();
    let at = readme
        .find("- `--model SPEC`")
        .expect("README: the --model SPEC bullet");
    let ours: Vec<&str> = readme[at..]
        .lines()
        .map(|l| l.strip_prefix("  ").unwrap_or(l))
        .collect();
    let (docs, ours) = (block(docs), block(ours));
    assert!(docs.iter().any(|l| l.starts_with("quant:")), "{docs:?}");
    assert_eq!(
        ours, docs,
        "README.md's spec grammar differs from emc-models' docs"
    );
}
