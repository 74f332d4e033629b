//! The `--config` file of `emc measure`: read strictly (an unknown field anywhere is an
//! error naming the file, the table, the field and the closest known field; an empty file is
//! an error), and completed from the same defaults as the flags
//! ([`MeasureConfig::measure_default`]).

use std::path::Path;

use anyhow::{bail, Context, Result};
use emc_search::MeasureConfig;
use toml::de::{DeTable, DeValue};
use toml::{Spanned, Table, Value};

/// The tables of a measurement config that are structs: a file's table there is merged into
/// the defaults field by field. Any other value (the enums `train.batching`,
/// `train.optim.kind`, `train.optim.schedule`; lists; numbers) replaces the default whole.
const STRUCT_TABLES: [&str; 4] = ["train", "train.optim", "train.stop", "search"];

/// Reads the measurement in `path`: every field it leaves out takes `emc measure`'s default.
pub fn load(path: &Path) -> Result<MeasureConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text, path)
}

/// [`load`] on the text of `path`.
fn parse(text: &str, path: &Path) -> Result<MeasureConfig> {
    let file = path.display();
    let table: Table = text
        .parse()
        .with_context(|| format!("{file}: not a valid TOML file"))?;
    if table.is_empty() {
        bail!(
            "{file}: empty measurement config (no field set); write at least the model and \
             the data, e.g. `model = \"{}\"` and `data = \"{}\"`",
            MeasureConfig::DEFAULT_MODEL,
            MeasureConfig::DEFAULT_DATA
        );
    }
    // The strict read: every field known, every value of its type (missing fields are
    // filled below, from the flags' defaults, not from this read's).
    if let Err(e) = toml::from_str::<MeasureConfig>(text) {
        bail!("{file}: {}", describe(&e, text));
    }
    let optimizer = optimizer_of(&table);
    let mut merged = Table::try_from(MeasureConfig::measure_default(optimizer)?)
        .context("the default measurement serialises to TOML")?;
    overlay(&mut merged, &table, "");
    Value::Table(merged)
        .try_into()
        .with_context(|| format!("{file}: not a valid measurement config"))
}

/// The `--optimizer` a file's settings amount to, whose defaults fill the rest: `adam` or
/// `adamw` by the optimizer kind, else `gd` for full batch and `sgd` for minibatches.
fn optimizer_of(file: &Table) -> &'static str {
    let train = file.get("train").and_then(Value::as_table);
    let get = |table: &str| train.and_then(|t| t.get(table)).and_then(Value::as_table);
    let kind = get("optim")
        .and_then(|o| o.get("kind"))
        .and_then(Value::as_table)
        .and_then(|k| k.keys().next());
    match kind.map(String::as_str) {
        Some("Adam") => "adam",
        Some("AdamW") => "adamw",
        _ if get("batching").is_some_and(|b| b.contains_key("full")) => "gd",
        _ => "sgd",
    }
}

/// Writes `file`'s values over `base`, field by field inside [`STRUCT_TABLES`] (`at` is the
/// dotted path of `base`, empty at the top).
fn overlay(base: &mut Table, file: &Table, at: &str) {
    for (key, value) in file {
        let path = if at.is_empty() {
            key.clone()
        } else {
            format!("{at}.{key}")
        };
        match (base.get_mut(key), value) {
            (Some(Value::Table(b)), Value::Table(f)) if STRUCT_TABLES.contains(&path.as_str()) => {
                overlay(b, f, &path)
            }
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// The error of the strict read: for an unknown field (or variant), where it is, the known
/// names and the closest one; otherwise toml's own message (with the line).
fn describe(e: &toml::de::Error, text: &str) -> String {
    let Some((what, name, expected)) = unknown_name(e.message()) else {
        return format!("not a valid measurement config: {e}");
    };
    let expected = expected.as_slice();
    let span = e.span();
    let line = span
        .as_ref()
        .map(|s| text[..s.start].matches('\n').count() + 1);
    let table = span.as_ref().and_then(|s| {
        DeTable::parse(text)
            .ok()
            .and_then(|t| table_of(t.get_ref(), s, ""))
    });
    let mut out = format!("{what} `{name}`");
    match table.as_deref() {
        Some("") => out.push_str(" at the top level"),
        Some(t) => out.push_str(&format!(" in [{t}]")),
        None => {}
    }
    if let Some(line) = line {
        out.push_str(&format!(" (line {line})"));
    }
    if let Some(best) = closest(name, expected) {
        out.push_str(&format!("; did you mean `{best}`?"));
    }
    let list: Vec<String> = expected.iter().map(|n| format!("`{n}`")).collect();
    if list.is_empty() {
        out.push_str("; this table takes no field");
    } else {
        out.push_str(&format!("; expected one of {}", list.join(", ")));
    }
    out
}

/// From the message of an unknown field or variant: what it is, its name and the names
/// expected. serde writes "unknown field `x`, expected one of `a`, `b`"; toml, inside an
/// enum variant, "unexpected keys in table: x, available keys: a, b".
fn unknown_name(message: &str) -> Option<(&'static str, &str, Vec<&str>)> {
    if let Some(rest) = message.strip_prefix("unexpected keys in table: ") {
        let (keys, known) = rest.split_once(", available keys: ")?;
        let name = keys.split(", ").next()?;
        return Some(("unknown field", name, known.split(", ").collect()));
    }
    let what = ["unknown field", "unknown variant"]
        .into_iter()
        .find(|p| message.starts_with(p))?;
    let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let (name, expected) = names.split_first()?;
    Some((what, name, expected.to_vec()))
}

/// The dotted path of the table holding the key at `span` (empty for the top level).
fn table_of(table: &DeTable, span: &std::ops::Range<usize>, at: &str) -> Option<String> {
    for (key, value) in table {
        if key.span() == *span {
            return Some(at.to_string());
        }
        let path = if at.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{at}.{}", key.get_ref())
        };
        if let Some(found) = value_table_of(value, span, &path) {
            return Some(found);
        }
    }
    None
}

fn value_table_of(
    value: &Spanned<DeValue>,
    span: &std::ops::Range<usize>,
    at: &str,
) -> Option<String> {
    match value.get_ref() {
        DeValue::Table(t) => table_of(t, span, at),
        DeValue::Array(a) => a.iter().find_map(|v| value_table_of(v, span, at)),
        _ => None,
    }
}

/// The known name closest to `name` in edit distance, when close enough to be a typo (at
/// most a third of its length, and at least 1, edits away); else one that contains it or
/// that it contains (`warmup` for `warmup_steps`, `patience` for `plateau_patience`), for
/// names of 4 characters or more.
fn closest<'a>(name: &str, known: &[&'a str]) -> Option<&'a str> {
    let name = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    let near = known
        .iter()
        .map(|k| (edit_distance(&name, &k.to_lowercase()), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k);
    near.or_else(|| {
        known.iter().copied().find(|k| {
            let k = k.to_lowercase();
            name.chars().count() >= 4 && (k.contains(&name) || name.contains(&k))
        })
    })
}

/// Edits (insertions, deletions, substitutions, swaps of adjacent characters) that turn `a`
/// into `b`: the optimal string alignment distance.
fn edit_distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::MeasureArgs;
    use clap::Parser;

    /// `emc measure`'s flags alone.
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        args: MeasureArgs,
    }

    fn from_flags(flags: &[&str]) -> MeasureConfig {
        let mut argv = vec!["emc", "--out", "unused"];
        argv.extend(flags);
        Flags::try_parse_from(argv).unwrap().args.config().unwrap()
    }

    fn from_file(text: &str) -> Result<MeasureConfig> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.toml");
        std::fs::write(&path, text).unwrap();
        load(&path)
    }

    fn error_of(text: &str) -> String {
        format!("{:#}", from_file(text).unwrap_err())
    }

    #[test]
    fn a_misspelt_top_level_field_is_named_with_its_correction() {
        let err = error_of("modle = \"mlp:8:relu\"\ndata = \"mnist\"\n");
        for needle in [
            "m.toml",
            "unknown field `modle` at the top level (line 1)",
            "did you mean `model`?",
            "`variants`",
        ] {
            assert!(err.contains(needle), "`{needle}` not in: {err}");
        }
    }

    #[test]
    fn a_misspelt_nested_field_is_named_with_its_table_and_correction() {
        let err = error_of("model = \"mlp:8:relu\"\n\n[train.stop]\nmax_epoch = 50\n");
        for needle in [
            "m.toml",
            "unknown field `max_epoch` in [train.stop] (line 4)",
            "did you mean `max_epochs`?",
            "`plateau_patience`",
        ] {
            assert!(err.contains(needle), "`{needle}` not in: {err}");
        }
        let err = error_of("[search]\nabs_tl = 4\n");
        assert!(err.contains("`abs_tl` in [search]"), "{err}");
        assert!(err.contains("did you mean `abs_tol`?"), "{err}");
        let err = error_of("train = { optim = { lr = 0.1, warmup = 3 } }\n");
        assert!(err.contains("`warmup` in [train.optim]"), "{err}");
        assert!(err.contains("did you mean `warmup_steps`?"), "{err}");
        // Inside an enum variant, and a misspelt variant.
        let err =
            error_of("[train.optim.kind.Sgd]\nmomentun = 0.5\ndampening = 0.0\nnesterov = false\n");
        assert!(
            err.contains("`momentun` in [train.optim.kind.Sgd]"),
            "{err}"
        );
        assert!(err.contains("did you mean `momentum`?"), "{err}");
        let err = error_of("[train]\nbatching = { minii = 64 }\n");
        assert!(err.contains("unknown variant `minii`"), "{err}");
        assert!(err.contains("did you mean `mini`?"), "{err}");
        // Nothing close: the known fields, no guess.
        let err = error_of("colour = \"blue\"\n");
        assert!(err.contains("unknown field `colour`"), "{err}");
        assert!(!err.contains("did you mean"), "{err}");
    }

    #[test]
    fn an_empty_config_is_refused() {
        for text in ["", "\n  \n", "# only a comment\n"] {
            let err = error_of(text);
            assert!(
                err.contains("m.toml") && err.contains("empty measurement config"),
                "{err}"
            );
        }
        let err = error_of("model = \n");
        assert!(
            err.contains("m.toml") && err.contains("not a valid TOML"),
            "{err}"
        );
    }

    #[test]
    fn a_file_with_model_and_data_is_the_measurement_the_flags_give() {
        let file = from_file("model = \"mlp:8:relu\"\ndata = \"fashion-mnist\"\n").unwrap();
        let flags = from_flags(&["--model", "mlp:8:relu", "--data", "fashion-mnist"]);
        assert_eq!(file, flags);
        assert_eq!(file.config_hash(), flags.config_hash());
        // The flags' defaults, not the struct's `Default`.
        assert_eq!(file.train.stop.max_epochs, 2000);
        assert_eq!(file.train.stop.plateau_patience, 100);
        assert_eq!(file.train.optim, "sgd:momentum=0.9".parse().unwrap());
        let plain = MeasureConfig {
            model: file.model.clone(),
            data: file.data.clone(),
            ..MeasureConfig::default()
        };
        assert_ne!(file.config_hash(), plain.config_hash());
    }

    #[test]
    fn a_partial_table_keeps_the_flags_defaults_for_the_rest() {
        let cases: [(&str, &[&str]); 6] = [
            ("[train.stop]\nmax_epochs = 50\n", &["--max-epochs", "50"]),
            ("[train.optim]\nlr = 0.1\n", &["--lr", "0.1"]),
            (
                "[train.optim.kind.Adam]\nbeta1 = 0.9\nbeta2 = 0.999\neps = 1e-8\n",
                &["--optimizer", "adam"],
            ),
            (
                "[train.optim.kind.AdamW]\nbeta1 = 0.9\nbeta2 = 0.999\neps = 1e-8\n",
                &["--optimizer", "adamw"],
            ),
            (
                "[train.batching.full]\nchunk = 4096\n",
                &["--optimizer", "gd"],
            ),
            (
                "seeds = [4, 5]\n[search]\nn0 = 64\n[train]\nbatching = { mini = 32 }\n",
                &["--seeds", "4,5", "--n0", "64", "--batch", "32"],
            ),
        ];
        for (text, flags) in cases {
            let file = from_file(text).unwrap();
            assert_eq!(file, from_flags(flags), "{text}");
        }
    }

    #[test]
    fn the_struct_tables_are_exactly_the_structs_of_the_config() {
        for optimizer in MeasureConfig::OPTIMIZERS {
            let mut cfg = MeasureConfig::measure_default(optimizer).unwrap();
            cfg.train.optim.schedule = emc_optim::Schedule::Step {
                step_size: 3,
                gamma: 0.5,
            };
            let table = Table::try_from(&cfg).unwrap();
            let mut stack = vec![(String::new(), &table)];
            while let Some((at, t)) = stack.pop() {
                for (key, value) in t {
                    let path = if at.is_empty() {
                        key.clone()
                    } else {
                        format!("{at}.{key}")
                    };
                    let Value::Table(inner) = value else { continue };
                    if STRUCT_TABLES.contains(&path.as_str()) {
                        assert!(inner.len() > 1, "{path} is not a struct");
                        stack.push((path, inner));
                    } else {
                        // An enum: one variant, replaced whole by a file.
                        assert_eq!(
                            inner.len(),
                            1,
                            "{path} is a struct: add it to STRUCT_TABLES"
                        );
                    }
                }
            }
            for path in STRUCT_TABLES {
                let found = path
                    .split('.')
                    .try_fold(&table, |t, k| t.get(k).and_then(Value::as_table));
                assert!(found.is_some(), "{path} is not a table of the config");
            }
        }
    }

    #[test]
    fn label_smoothing_from_the_file_is_the_flag() {
        let file = from_file("model = \"mlp:8:relu\"\n[train]\nlabel_smoothing = 0.1\n").unwrap();
        let flags = from_flags(&["--model", "mlp:8:relu", "--label-smoothing", "0.1"]);
        assert_eq!(file, flags);
        assert_eq!(file.train.label_smoothing, 0.1);
        let plain = from_flags(&["--model", "mlp:8:relu"]);
        assert_ne!(file.probe_hash(), plain.probe_hash());
    }

    #[test]
    fn augmentation_from_the_file_is_the_flags() {
        let file =
            from_file("model = \"mlp:8:relu\"\n[train.augment]\ncrop_padding = 2\n").unwrap();
        let flags = from_flags(&["--model", "mlp:8:relu", "--crop-padding", "2"]);
        assert_eq!(file, flags);
        assert_eq!(file.train.augment.crop_padding, 2);
        assert!(!file.train.augment.hflip);
        let typo = "model = \"mlp:8:relu\"\n[train.augment]\nhflp = true\n";
        assert!(from_file(typo).is_err());
    }

    #[test]
    fn typos_are_a_few_edits_away() {
        assert_eq!(edit_distance("modle", "model"), 1);
        assert_eq!(edit_distance("max_epoch", "max_epochs"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(closest("sed", &["seeds", "data"]), None);
        assert_eq!(closest("seds", &["seeds", "data"]), Some("seeds"));
        assert_eq!(
            closest("patience", &["max_epochs", "plateau_patience"]),
            Some("plateau_patience")
        );
    }
}
