//! `emc report DIR` end to end on a small hand-written results directory (two MLPs on
//! MNIST, three seeds each, searched by doubling then bisection): the table, the four plot
//! files, and errors that name the file, line and column of malformed input.

use std::path::Path;
use std::process::{Command, Output};

const HASH_A: &str = "3f9c2a71b04e8d15";
const HASH_B: &str = "a0c4e6f218b37d59";

/// Each seed's search: every probe's n in the order it ran, `+` fitted, `-` failed.
const SEARCHES: [(&str, u64, &str); 6] = [
    (HASH_A, 0, "128+ 256+ 512+ 1024- 768- 640- 576+ 608+"),
    (HASH_A, 1, "128+ 256+ 512+ 1024- 768- 640+ 704- 672-"),
    (HASH_A, 2, "128+ 256+ 512+ 1024- 768- 640- 576+ 608-"),
    (
        HASH_B,
        0,
        "128+ 256+ 512+ 1024+ 2048+ 4096- 3072- 2560+ 2816+ 2944+",
    ),
    (
        HASH_B,
        1,
        "128+ 256+ 512+ 1024+ 2048+ 4096- 3072- 2560+ 2816+ 2944-",
    ),
    // Non-monotone: 3160 failed below the fitted 3200.
    (
        HASH_B,
        2,
        "128+ 256+ 512+ 1024+ 2048+ 4096- 3072+ 3584- 3328- 3200+ 3160-",
    ),
];

/// Per seed: EMC (largest fitted n) and the smallest failed n above it. Aggregates:
/// A: EMC 608, 640, 576 -> median 608, mean 608, sample std 32, mean ln 6.409250,
///    608 / 970 = 0.626804. B: 2944, 2816, 3200 -> median 2944, mean 2986.6667,
///    std 195.5232, mean ln 8.000501, 2944 / 50890 = 0.057850.
const SUMMARY: &str = "\
config_hash,model,params,dataset,variants,optimizer,seed,emc,upper,probes,non_monotone,saturated,median,mean,std,min,max,mean_log_emc,efficiency
3f9c2a71b04e8d15,mlp:16:relu,970,mnist,resize:7 random-labels,sgd:momentum=0.9,0,608,640,8,false,false,,,,,,,
3f9c2a71b04e8d15,mlp:16:relu,970,mnist,resize:7 random-labels,sgd:momentum=0.9,1,640,672,8,false,false,,,,,,,
3f9c2a71b04e8d15,mlp:16:relu,970,mnist,resize:7 random-labels,sgd:momentum=0.9,2,576,608,8,false,false,,,,,,,
3f9c2a71b04e8d15,mlp:16:relu,970,mnist,resize:7 random-labels,sgd:momentum=0.9,all,,,24,false,false,608,608.0000,32.0000,576,640,6.409250,0.626804
a0c4e6f218b37d59,mlp:64:relu,50890,mnist,,\"adam:betas=0.9,0.999\",0,2944,3072,10,false,false,,,,,,,
a0c4e6f218b37d59,mlp:64:relu,50890,mnist,,\"adam:betas=0.9,0.999\",1,2816,2944,10,false,false,,,,,,,
a0c4e6f218b37d59,mlp:64:relu,50890,mnist,,\"adam:betas=0.9,0.999\",2,3200,3328,11,true,false,,,,,,,
a0c4e6f218b37d59,mlp:64:relu,50890,mnist,,\"adam:betas=0.9,0.999\",all,,,31,true,false,2944,2986.6667,195.5232,2816,3200,8.000501,0.057850
";

const MANIFEST: &str = r#"emc_version = "0.1.0"
command = "emc measure --model mlp:16:relu --model mlp:64:relu --dataset mnist --seeds 3"

[search]
start = 128
"#;

/// `probes.csv` for [`SEARCHES`]: fitted probes stop at `fitted` with accuracy 1, failed
/// ones at `max-epochs` or `plateau`; a diverged-looking probe has a NaN loss.
fn probes_csv() -> String {
    let mut csv = String::from(
        "run_id,config_hash,model,params,dataset,variants,optimizer,lr,batch,seed,n,fitted,\
         stop,epochs,steps,train_accuracy,train_loss,grad_norm,seconds\n",
    );
    for (hash, seed, probes) in SEARCHES {
        let (model, params, variants, optimizer, lr, batch) = if hash == HASH_A {
            (
                "mlp:16:relu",
                970,
                "resize:7 random-labels",
                "sgd:momentum=0.9",
                "0.05",
                "128",
            )
        } else {
            (
                "mlp:64:relu",
                50890,
                "",
                "\"adam:betas=0.9,0.999\"",
                "0.001",
                "full",
            )
        };
        for (i, probe) in probes.split(' ').enumerate() {
            let (n, sign) = probe.split_at(probe.len() - 1);
            let (n, fitted): (u64, bool) = (n.parse().unwrap(), sign == "+");
            let (stop, epochs, acc, loss) = match (fitted, i % 2) {
                (true, _) => ("fitted", 120, "1.0", "0.0021"),
                (false, 0) => ("max-epochs", 500, "0.9772", "0.1168"),
                (false, _) => ("plateau", 310, "0.9914", "NaN"),
            };
            csv.push_str(&format!(
                "{}-s{seed}-{i:02},{hash},{model},{params},mnist,{variants},{optimizer},{lr},\
                 {batch},{seed},{n},{fitted},{stop},{epochs},{},{acc},{loss},0.0135,{:.2}\n",
                &hash[..8],
                epochs * n.div_ceil(128),
                0.002 * n as f64,
            ));
        }
    }
    csv
}

fn write_results(dir: &Path) {
    std::fs::write(dir.join("probes.csv"), probes_csv()).unwrap();
    std::fs::write(dir.join("summary.csv"), SUMMARY).unwrap();
    std::fs::write(dir.join("manifest.toml"), MANIFEST).unwrap();
}

fn report(dir: &Path, extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_emc"))
        .arg("report")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run emc")
}

fn tmp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".tmp"))
        .collect()
}

const PLOTS: [&str; 4] = [
    "emc_vs_params.svg",
    "emc_vs_params.png",
    "probes.svg",
    "probes.png",
];

#[test]
fn report_prints_the_table_and_writes_both_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_results(dir);
    let out = report(dir, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // probes.csv agrees with summary.csv's probe counts: no notes.
    assert!(!stderr.contains("note:"), "{stderr}");

    assert!(stdout.contains("manifest.toml"), "{stdout}");
    assert!(stdout.contains("search.start = 128"), "{stdout}");
    let line_of = |model: &str| {
        stdout
            .lines()
            .find(|l| !l.starts_with(' ') && l.contains(model))
            .unwrap_or_else(|| panic!("no table line for {model} in:\n{stdout}"))
    };
    let a = line_of("mlp:16:relu");
    for cell in [
        HASH_A,
        "resize:7 random-labels",
        " 970 ",
        " 608 ",
        "576–640",
        "6.409",
        "0.627",
    ] {
        assert!(a.contains(cell), "`{cell}` missing from `{a}`");
    }
    let b = line_of("mlp:64:relu");
    for cell in [
        "adam:betas=0.9,0.999",
        " 50890 ",
        " 2944 ",
        "2816–3200",
        "195.5",
        "non-monotone",
    ] {
        assert!(b.contains(cell), "`{cell}` missing from `{b}`");
    }
    for seed_line in ["seed 1    EMC       640", "seed 2    EMC      3200"] {
        assert!(
            stdout.contains(seed_line),
            "missing `{seed_line}` in:\n{stdout}"
        );
    }

    for name in PLOTS {
        let path = dir.join(name);
        assert!(path.is_file(), "{name} not written");
        assert!(
            stdout.contains(&format!("wrote {}", path.display())),
            "{name} not announced in:\n{stdout}"
        );
    }
    // Sizes: EMC_VS_PARAMS_SIZE, and probes_size(6 rows) = 1000 x max(420, 170 + 6 * 32).
    for (name, size) in [
        ("emc_vs_params.png", (900, 700)),
        ("probes.png", (1000, 420)),
    ] {
        let img = image::open(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!((img.width(), img.height()), size, "{name}");
        // Text and markers are drawn: far from a blank white canvas.
        let rgb = img.to_rgb8();
        let inked = rgb.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        assert!(inked > 5_000, "{name}: only {inked} non-white pixels");
    }
    let svg = std::fs::read_to_string(dir.join("emc_vs_params.svg")).unwrap();
    for text in [
        "EMC = parameters",
        "trainable parameters",
        "EMC (training samples fitted to 100% accuracy)",
        "mlp:16:relu",
        "mlp:64:relu",
    ] {
        assert!(svg.contains(text), "emc_vs_params.svg lacks `{text}`");
    }
    let svg = std::fs::read_to_string(dir.join("probes.svg")).unwrap();
    for text in [
        "training samples n",
        "configuration, seed",
        "mlp:64:relu, seed 2",
        "EMC 3200",
        "failed",
    ] {
        assert!(svg.contains(text), "probes.svg lacks `{text}`");
    }
    assert!(
        tmp_files(dir).is_empty(),
        "left behind: {:?}",
        tmp_files(dir)
    );
}

#[test]
fn a_missing_manifest_is_reported_not_fatal_and_no_plots_skips_plots() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_results(dir);
    std::fs::remove_file(dir.join("manifest.toml")).unwrap();
    let out = report(dir, &["--no-plots"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("manifest: none"), "{stdout}");
    assert!(stdout.contains(" 2944 "), "{stdout}");
    for name in PLOTS {
        assert!(!dir.join(name).exists(), "--no-plots wrote {name}");
    }
}

/// Runs the report on the fixture after `spoil` and returns its error output, checking
/// that it failed and wrote nothing.
fn failure(spoil: impl FnOnce(&Path)) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    write_results(dir);
    spoil(dir);
    let out = report(dir, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded on bad input");
    for name in PLOTS {
        assert!(!dir.join(name).exists(), "wrote {name} from bad input");
    }
    assert!(
        tmp_files(dir).is_empty(),
        "left behind: {:?}",
        tmp_files(dir)
    );
    stderr
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} has no `{from}`", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap();
}

#[test]
fn a_bad_integer_names_file_line_and_column() {
    let err = failure(|dir| edit(&dir.join("summary.csv"), ",2,576,608,", ",2,abc,608,"));
    assert!(
        err.contains("summary.csv line 4: column `emc`: `abc` is not an integer"),
        "{err}"
    );
}

#[test]
fn a_bad_boolean_in_probes_names_file_line_and_column() {
    // Line 5 is seed 0's fourth probe (n = 1024, failed).
    let err = failure(|dir| edit(&dir.join("probes.csv"), ",1024,false,", ",1024,nope,"));
    assert!(
        err.contains("probes.csv line 5: column `fitted`: `nope` is not `true` or `false`"),
        "{err}"
    );
}

#[test]
fn a_missing_column_names_file_and_column() {
    let err = failure(|dir| {
        let path = dir.join("probes.csv");
        let text = std::fs::read_to_string(&path).unwrap();
        // Drop the `stop` column (the 13th) from every line.
        let cut: String = text
            .lines()
            .map(|l| {
                let mut rec = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .from_reader(l.as_bytes());
                let fields: Vec<String> = rec
                    .records()
                    .next()
                    .unwrap()
                    .unwrap()
                    .iter()
                    .map(String::from)
                    .collect();
                let mut w = csv::Writer::from_writer(vec![]);
                let kept: Vec<&String> = fields
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != 12)
                    .map(|(_, f)| f)
                    .collect();
                w.write_record(kept).unwrap();
                String::from_utf8(w.into_inner().unwrap()).unwrap()
            })
            .collect();
        std::fs::write(&path, cut).unwrap();
    });
    assert!(
        err.contains("probes.csv line 1: missing column `stop`"),
        "{err}"
    );
}

#[test]
fn a_short_row_names_file_and_line() {
    let err = failure(|dir| {
        edit(
            &dir.join("summary.csv"),
            ",2,576,608,8,false,false,,,,,,,",
            ",2,576",
        )
    });
    assert!(
        err.contains("summary.csv line 4: 8 fields, but the header has 19"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err = failure(|dir| std::fs::remove_file(dir.join("probes.csv")).unwrap());
    assert!(err.contains("probes.csv"), "{err}");
    assert!(err.contains("No such file"), "{err}");
}

#[test]
fn a_config_without_its_aggregate_row_is_named() {
    let err = failure(|dir| {
        let path = dir.join("summary.csv");
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: String = text
            .lines()
            .filter(|l| !(l.starts_with(HASH_B) && l.contains(",all,")))
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(&path, kept).unwrap();
    });
    assert!(
        err.contains(&format!(
            "config_hash {HASH_B} (first at line 6) has no `seed = all` row"
        )),
        "{err}"
    );
}
