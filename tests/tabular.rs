//! Golden tests on the four UCI tables in `../shared/data/tabular/`: sizes, class counts,
//! the first row of each file, digests, the holdout split; and a corrupted copy of each
//! refused with an error naming the file, the line and what was expected.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use emc_data::{load, DatasetId, KnownTable, Normalization, Split, Variant};
use emc_tests::{data_dir, local_options, real_folder};

/// Per known table: class counts over the whole file (as published) and the first row of
/// the file (features, class index).
fn golden(t: KnownTable) -> (Vec<usize>, Vec<f32>, u32) {
    match t {
        KnownTable::Wine => (
            vec![59, 71, 48],
            vec![
                14.23, 1.71, 2.43, 15.6, 127.0, 2.8, 3.06, 0.28, 2.29, 5.64, 1.04, 3.92, 1065.0,
            ],
            0,
        ),
        KnownTable::BreastCancer => (
            vec![212, 357],
            vec![
                17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
                1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003,
                0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601,
                0.1189,
            ],
            0,
        ),
        KnownTable::Digits => (
            vec![178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
            vec![
                0., 0., 5., 13., 9., 1., 0., 0., 0., 0., 13., 15., 10., 15., 5., 0., 0., 3., 15.,
                2., 0., 11., 8., 0., 0., 4., 12., 0., 0., 8., 8., 0., 0., 5., 8., 0., 0., 9., 8.,
                0., 0., 4., 11., 0., 1., 12., 7., 0., 0., 2., 14., 5., 10., 12., 0., 0., 0., 0.,
                6., 13., 10., 0., 0., 0.,
            ],
            0,
        ),
        // Quality 5 is the third class (3, 4, 5, ...).
        KnownTable::WineQualityRed => (
            vec![10, 53, 681, 638, 199, 18],
            vec![
                7.4, 0.7, 0.0, 1.9, 0.076, 11.0, 34.0, 0.9978, 3.51, 0.56, 9.4,
            ],
            2,
        ),
    }
}

fn tables_dir() -> Option<PathBuf> {
    real_folder("tabular")
}

#[test]
fn the_four_tables_match_their_published_sizes_and_first_rows() {
    let Some(_) = tables_dir() else { return };
    let sums = std::fs::read_to_string(data_dir().join("SHA256SUMS")).expect("SHA256SUMS");
    for t in KnownTable::ALL {
        let id = DatasetId::Table(t);
        assert_eq!(id.to_string().parse::<DatasetId>().unwrap(), id);
        let train = load(&id, Split::Train, &local_options()).unwrap();
        let test = load(&id, Split::Test, &local_options()).unwrap();
        let shape = t.shape();
        let (classes, first, first_label) = golden(t);
        assert_eq!(train.shape().channels, shape.features, "{t}");
        assert_eq!(first.len(), shape.features, "{t}");
        assert_eq!((train.shape().height, train.shape().width), (1, 1));
        assert_eq!(train.num_classes(), shape.classes, "{t}");
        assert_eq!(train.len(), shape.train, "{t}: train");
        assert_eq!(train.len() + test.len(), shape.rows, "{t}");
        assert_eq!(id.train_shape().unwrap().len, train.len(), "{t}");
        let whole: Vec<usize> = train
            .label_histogram()
            .iter()
            .zip(test.label_histogram())
            .map(|(a, b)| a + b)
            .collect();
        assert_eq!(whole, classes, "{t}");
        // Stratified: each class's test share is its rounded 20%.
        for (c, (&all, held)) in classes.iter().zip(test.label_histogram()).enumerate() {
            assert_eq!(held, (all as f64 * 0.2).round() as usize, "{t} class {c}");
        }
        // The file's first row lies in exactly one split, unchanged (Wine Quality holds it
        // twice: its rows 1 and 5 are a known duplicate of the UCI file).
        let copies = if t == KnownTable::WineQualityRed {
            2
        } else {
            1
        };
        let holds = |ds: &emc_data::Dataset| {
            (0..ds.len())
                .filter(|&i| ds.image_f32(i) == first && ds.labels()[i] == first_label)
                .count()
        };
        assert_eq!(holds(&train) + holds(&test), copies, "{t}: first row");
        let digest = &train.metadata().files[0];
        let key = format!("tabular/{}", t.file());
        let line = sums
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(key.as_str()))
            .unwrap_or_else(|| panic!("{key} not in SHA256SUMS"));
        assert_eq!(line.split_whitespace().next().unwrap(), digest.sha256);
        // Per-feature standardisation over the training split: mean 0, std 1 per feature.
        let norm = Normalization::from_dataset(&train);
        let data = train
            .to_tensors(&candle_core::Device::Cpu, &norm, true)
            .unwrap();
        let x = data.images.to_vec2::<f32>().unwrap();
        for j in 0..shape.features {
            let col: Vec<f64> = x.iter().map(|r| r[j] as f64).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!(mean.abs() < 1e-4, "{t} feature {j}: mean {mean}");
            // A constant feature (digits has pixels that are always 0) stays at 0.
            assert!(
                (var.sqrt() - 1.0).abs() < 1e-3 || var < 1e-12,
                "{t} feature {j}: std {}",
                var.sqrt()
            );
        }
        // The tabular split is the same on every load.
        assert_eq!(load(&id, Split::Test, &local_options()).unwrap(), test);
    }
}

#[test]
fn a_table_takes_label_variants_and_refuses_image_variants() {
    let Some(_) = tables_dir() else { return };
    let wine = load(
        &DatasetId::Table(KnownTable::Wine),
        Split::Train,
        &local_options(),
    )
    .unwrap();
    let random = Variant::RandomLabels.apply(wine.clone(), 3).unwrap();
    assert_eq!(random.len(), wine.len());
    assert_ne!(random.labels(), wine.labels());
    let gaussian = "gaussian-inputs".parse::<Variant>().unwrap();
    assert_eq!(
        gaussian.apply(wine.clone(), 0).unwrap().shape(),
        wine.shape()
    );
    for v in ["resize:14", "grayscale"] {
        let err = v
            .parse::<Variant>()
            .unwrap()
            .apply(wine.clone(), 0)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`wine` holds 13 features per sample") && err.contains("not images"),
            "{v}: {err}"
        );
    }
}

/// The file's text (gunzipped).
fn text_of(path: &Path) -> String {
    let raw = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(raw).unwrap()
    }
}

/// Writes `text` under `name` in `dir`, gzipped when the name ends in `.gz`.
fn write_as(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut f = std::fs::File::create(&path).unwrap();
    if name.ends_with(".gz") {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        f.write_all(&gz.finish().unwrap()).unwrap();
    } else {
        f.write_all(text.as_bytes()).unwrap();
    }
    path
}

#[test]
fn a_corrupted_copy_of_each_table_is_refused_with_file_line_and_field() {
    let Some(dir) = tables_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for t in KnownTable::ALL {
        let text = text_of(&dir.join(t.file()));
        let lines: Vec<&str> = text.lines().collect();
        // Data starts on line 2 of the files with a header (all but digits).
        let first_data = if t == KnownTable::Digits { 1 } else { 2 };
        let with_line = |line: usize, edit: &dyn Fn(&str) -> String| -> String {
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[line - 1] = edit(lines[line - 1]);
            out.join("\n") + "\n"
        };
        let ragged_line = first_data + 4;
        let cases: Vec<(&str, String, Vec<String>)> = vec![
            (
                "ragged row",
                with_line(ragged_line, &|l| l.rsplit_once(',').unwrap().0.to_string()),
                vec![
                    format!("line {ragged_line}"),
                    format!("expected {}", t.shape().features + 1),
                ],
            ),
            (
                "non-numeric cell",
                with_line(first_data + 2, &|l| {
                    format!("x1{}", &l[l.find(',').unwrap()..])
                }),
                vec![
                    format!("line {}, column 1", first_data + 2),
                    "`x1`; expected a finite number".into(),
                ],
            ),
            (
                "missing label",
                with_line(first_data + 3, &|l| {
                    format!("{},", l.rsplit_once(',').unwrap().0)
                }),
                vec![
                    format!("line {}, column {}", first_data + 3, t.shape().features + 1),
                    "missing; expected a class label".into(),
                ],
            ),
            ("empty file", String::new(), vec!["empty".into()]),
        ];
        for (what, corrupted, expect) in cases {
            let sub = tmp.path().join(format!("{t}-{}", what.replace(' ', "-")));
            std::fs::create_dir_all(&sub).unwrap();
            let path = write_as(&sub, t.file(), &corrupted);
            // By name from a data directory, and as a file.
            let mut opts = local_options();
            opts.data_dir = Some(sub.clone());
            for id in [DatasetId::Table(t), DatasetId::TableFile(path.clone())] {
                let err = load(&id, Split::Train, &opts).unwrap_err().to_string();
                assert!(
                    err.contains(&path.display().to_string()),
                    "{t} {what}: {err}"
                );
                for e in &expect {
                    assert!(err.contains(e.as_str()), "{t} {what}: `{e}` not in {err}");
                }
            }
        }
        if t.file().ends_with(".gz") {
            let raw = std::fs::read(dir.join(t.file())).unwrap();
            let sub = tmp.path().join(format!("{t}-truncated"));
            std::fs::create_dir_all(&sub).unwrap();
            let path = sub.join(t.file());
            std::fs::write(&path, &raw[..raw.len() / 2]).unwrap();
            let err = load(
                &DatasetId::TableFile(path.clone()),
                Split::Train,
                &local_options(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                err.contains(&path.display().to_string()) && err.contains("corrupt gzip"),
                "{t}: {err}"
            );
        }
    }
}

#[test]
fn a_table_named_without_its_file_says_where_to_put_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut opts = local_options();
    opts.data_dir = Some(tmp.path().to_path_buf());
    let err = load(&DatasetId::Table(KnownTable::Wine), Split::Train, &opts)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("wine_data.csv") && err.contains("tabular"),
        "{err}"
    );
}
