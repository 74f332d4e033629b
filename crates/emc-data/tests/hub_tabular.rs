//! Tables on the Hugging Face Hub (`tabular:hub:OWNER/NAME[/PATH.parquet][#LABEL]`): parquet
//! files written here from the real UCI CSV files (`../shared/data/tabular`, or
//! `EMC_DATA_DIR/tabular`) are served by the workspace's stand-in Hub on 127.0.0.1,
//! downloaded through hf-hub into a temporary cache and read by the same `emc_data::load`
//! users run; each must give exactly the dataset the CSV file gives. Then every kind of bad
//! file, each refused with an error naming the file and the column or row.
//!
//! Tests that need the real tables print why they are skipped when they are absent; with
//! `EMC_REQUIRE_DATA=1` (set by `.ci/run`) they fail instead, as the workspace tests do.

// The workspace's stand-in Hub (tests/support/hub_server), shared with the root tests
// rather than copied; its writable mode serves the publish tests and is unused here.
#[allow(dead_code, unused_imports)]
#[path = "../../../tests/support/hub_server/mod.rs"]
mod hub_server;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use emc_data::hub::HubOptions;
use emc_data::{
    load, DataError, Dataset, DatasetId, KnownTable, LoadOptions, Normalization, Origin, Split,
};
use hub_server::{HubFile, HubServer};
use parquet::basic::{LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, FloatType, Int64Type};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;
use sha2::{Digest, Sha256};

const REPO: &str = "emc-test/tables";

// ---------------------------------------------------------------------------------------
// Real data

/// The real-data directory: `EMC_DATA_DIR`, else `../shared/data` beside the workspace.
fn data_dir() -> PathBuf {
    std::env::var_os(emc_data::DATA_DIR_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
}

/// The real table's file, or `None` after printing why the test is skipped (a panic with
/// `EMC_REQUIRE_DATA=1`).
fn real_table(t: KnownTable) -> Option<PathBuf> {
    let dir = data_dir();
    if let Some(path) = t.find(&dir) {
        return Some(path);
    }
    let msg = format!(
        "{} not found under {} (set EMC_DATA_DIR to the folder holding `tabular/`)",
        t.file(),
        dir.display()
    );
    if matches!(
        std::env::var("EMC_REQUIRE_DATA").as_deref(),
        Ok("1" | "true" | "yes")
    ) {
        panic!("EMC_REQUIRE_DATA=1 but {msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The CSV file's dataset: read from the data directory only.
fn csv_split(t: KnownTable, split: Split) -> Dataset {
    let opts = LoadOptions {
        data_dir: Some(data_dir()),
        hub: HubOptions {
            endpoint: Some("http://127.0.0.1:9".into()),
            cache_dir: Some(std::env::temp_dir().join("emc-data-no-hub-cache")),
            offline: true,
            revision: "main".into(),
        },
        allow_download: false,
    };
    load(&DatasetId::Table(t), split, &opts).unwrap()
}

/// The CSV file's records as text (gunzipped when needed), header lines included.
fn csv_records(path: &Path) -> Vec<Vec<String>> {
    let mut bytes = std::fs::read(path).unwrap();
    if path.extension().is_some_and(|e| e == "gz") {
        let mut out = vec![];
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_end(&mut out)
            .unwrap();
        bytes = out;
    }
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(&bytes[..])
        .records()
        .map(|r| r.unwrap().iter().map(|c| c.trim().to_string()).collect())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Writing parquet files

/// The values of one column; `None` is a null.
enum Values {
    Double(Vec<Option<f64>>),
    Float(Vec<Option<f32>>),
    Long(Vec<Option<i64>>),
    Text(Vec<Option<String>>),
    /// A repeated double column: a list of numbers per row (a ragged row).
    Repeated(Vec<Vec<f64>>),
}

struct Column {
    name: String,
    values: Values,
}

fn column(name: &str, values: Values) -> Column {
    Column {
        name: name.to_string(),
        values,
    }
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Double(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Long(v) => v.len(),
            Values::Text(v) => v.len(),
            Values::Repeated(v) => v.len(),
        }
    }
}

/// Definition levels of an optional column, and the values that are not null.
fn present<T: Clone>(values: &[Option<T>]) -> (Vec<T>, Vec<i16>) {
    let defs = values.iter().map(|v| i16::from(v.is_some())).collect();
    (values.iter().flatten().cloned().collect(), defs)
}

/// A parquet file of `columns` (optional, as arrow writes them), snappy compressed, in row
/// groups of `group` rows, with `huggingface` metadata when given.
fn parquet_file(columns: &[Column], group: usize, huggingface: Option<String>) -> Vec<u8> {
    let fields = columns
        .iter()
        .map(|c| {
            let (physical, logical, repetition) = match c.values {
                Values::Double(_) => (Physical::DOUBLE, None, Repetition::OPTIONAL),
                Values::Float(_) => (Physical::FLOAT, None, Repetition::OPTIONAL),
                Values::Long(_) => (Physical::INT64, None, Repetition::OPTIONAL),
                Values::Text(_) => (
                    Physical::BYTE_ARRAY,
                    Some(LogicalType::String),
                    Repetition::OPTIONAL,
                ),
                Values::Repeated(_) => (Physical::DOUBLE, None, Repetition::REPEATED),
            };
            Arc::new(
                Type::primitive_type_builder(&c.name, physical)
                    .with_repetition(repetition)
                    .with_logical_type(logical)
                    .build()
                    .unwrap(),
            )
        })
        .collect();
    let schema = Type::group_type_builder("schema")
        .with_fields(fields)
        .build()
        .unwrap();
    let props = WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_key_value_metadata(huggingface.map(|v| vec![KeyValue::new("huggingface".into(), v)]))
        .build();
    let rows = columns.first().map_or(0, |c| c.values.len());
    let mut buf = vec![];
    let mut writer =
        SerializedFileWriter::new(&mut buf, Arc::new(schema), Arc::new(props)).unwrap();
    let mut start = 0;
    while start < rows || (rows == 0 && start == 0) {
        let end = (start + group).min(rows);
        let mut rg = writer.next_row_group().unwrap();
        for c in columns {
            let mut col = rg.next_column().unwrap().unwrap();
            match &c.values {
                Values::Double(v) => {
                    let (values, defs) = present(&v[start..end]);
                    col.typed::<DoubleType>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
                Values::Float(v) => {
                    let (values, defs) = present(&v[start..end]);
                    col.typed::<FloatType>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
                Values::Long(v) => {
                    let (values, defs) = present(&v[start..end]);
                    col.typed::<Int64Type>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
                Values::Text(v) => {
                    let (values, defs) = present(&v[start..end]);
                    let values: Vec<ByteArray> =
                        values.iter().map(|s| ByteArray::from(s.as_str())).collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
                Values::Repeated(v) => {
                    let (mut values, mut defs, mut reps) = (vec![], vec![], vec![]);
                    for list in &v[start..end] {
                        for (k, x) in list.iter().enumerate() {
                            values.push(*x);
                            defs.push(1i16);
                            reps.push(i16::from(k > 0));
                        }
                    }
                    col.typed::<DoubleType>()
                        .write_batch(&values, Some(&defs), Some(&reps))
                        .unwrap();
                }
            }
            col.close().unwrap();
        }
        rg.close().unwrap();
        if rows == 0 {
            break;
        }
        start = end;
    }
    writer.close().unwrap();
    buf
}

/// `datasets`' metadata declaring `column` a `ClassLabel` with these names.
fn class_label(column: &str, names: &[&str]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    format!(
        r#"{{"info": {{"features": {{"{column}": {{"names": [{}], "_type": "ClassLabel"}}}}}}}}"#,
        names.join(", ")
    )
}

/// A whole CSV table as parquet columns: features as doubles parsed from the cells (as the
/// CSV reader parses them), named by the header when there is one (`f0`.. otherwise), and
/// the label column as `label` (Long, from the cells' integers) at the end.
fn csv_columns(records: &[Vec<String>], header: bool, label: &str) -> Vec<Column> {
    let width = records[1].len();
    let names: Vec<String> = if header {
        records[0].clone()
    } else {
        (0..width - 1).map(|j| format!("f{j}")).collect()
    };
    let rows = &records[1..];
    let mut columns: Vec<Column> = (0..width - 1)
        .map(|j| {
            column(
                &names[j],
                Values::Double(rows.iter().map(|r| Some(r[j].parse().unwrap())).collect()),
            )
        })
        .collect();
    columns.push(column(
        label,
        Values::Long(
            rows.iter()
                .map(|r| Some(r[width - 1].parse().unwrap()))
                .collect(),
        ),
    ));
    columns
}

/// A split's dataset as parquet columns: features as floats (stored f32, so exact) named
/// `f0`.., and the class names as a string column `label`.
fn dataset_columns(ds: &Dataset) -> Vec<Column> {
    let width = ds.shape().channels;
    let rows: Vec<Vec<f32>> = (0..ds.len()).map(|i| ds.image_f32(i)).collect();
    let mut columns: Vec<Column> = (0..width)
        .map(|j| {
            column(
                &format!("f{j}"),
                Values::Float(rows.iter().map(|r| Some(r[j])).collect()),
            )
        })
        .collect();
    let names = ds.class_names();
    columns.push(column(
        "label",
        Values::Text(
            ds.labels()
                .iter()
                .map(|&l| Some(names[l as usize].clone()))
                .collect(),
        ),
    ));
    columns
}

// ---------------------------------------------------------------------------------------
// Loading

fn options(endpoint: &str, cache: &Path, offline: bool) -> LoadOptions {
    LoadOptions {
        data_dir: None,
        hub: HubOptions {
            endpoint: Some(endpoint.to_string()),
            cache_dir: Some(cache.to_path_buf()),
            offline,
            revision: "main".into(),
        },
        allow_download: true,
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn from_cache(ds: &Dataset) -> bool {
    match &ds.metadata().origin {
        Origin::Hub {
            repo, from_cache, ..
        } => {
            assert_eq!(repo, REPO);
            *from_cache
        }
        other => panic!("expected a Hub origin, got {other:?}"),
    }
}

/// The Hub table named `tabular:hub:{REPO}{rest}`.
fn table_id(rest: &str) -> DatasetId {
    format!("tabular:hub:{REPO}{rest}").parse().unwrap()
}

/// Everything but the metadata (origin and files) is the same: features, labels, classes,
/// shape, and so the per-feature standardisation over the training split.
fn assert_same_table(hub: &Dataset, csv: &Dataset, what: &str) {
    assert_eq!(hub.shape(), csv.shape(), "{what}: shape");
    assert_eq!(hub.class_names(), csv.class_names(), "{what}: classes");
    assert_eq!(hub.labels(), csv.labels(), "{what}: labels");
    assert_eq!(hub.pixels(), csv.pixels(), "{what}: features");
    assert_eq!(
        Normalization::from_dataset(hub),
        Normalization::from_dataset(csv),
        "{what}: standardisation"
    );
    assert_eq!(hub.metadata().split, csv.metadata().split, "{what}");
}

#[test]
fn a_table_in_one_file_is_the_csv_table_downloaded_then_cached() {
    let Some(path) = real_table(KnownTable::BreastCancer) else {
        return;
    };
    // scikit-learn's file: `569,30,malignant,benign`, then 30 features and a class index;
    // the class names go where `datasets` puts them, a ClassLabel in the metadata.
    let records = csv_records(&path);
    assert_eq!(records[0][..2], ["569", "30"]);
    let bytes = parquet_file(
        &csv_columns(&records, false, "label"),
        200,
        Some(class_label("label", &["malignant", "benign"])),
    );
    let file = "breast_cancer.parquet";
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(REPO, file, bytes.clone())]).unwrap();
    let opts = options(server.url(), cache.path(), false);
    let id = table_id(&format!("/{file}"));
    assert_eq!(id.to_string(), format!("tabular:hub:{REPO}/{file}"));

    let mut first = vec![];
    for split in [Split::Train, Split::Test] {
        let hub = load(&id, split, &opts).unwrap();
        assert_same_table(
            &hub,
            &csv_split(KnownTable::BreastCancer, split),
            "breast-cancer",
        );
        assert_eq!(hub.metadata().name, id.to_string());
        let files = &hub.metadata().files;
        assert_eq!(files.len(), 1, "{files:?}");
        assert_eq!(files[0].sha256, sha256_hex(&bytes));
        assert_eq!(files[0].bytes, bytes.len() as u64);
        first.push(hub);
    }
    assert!(!from_cache(&first[0]), "the first load downloads");
    assert_eq!(first[0].len() + first[1].len(), 569);
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == &format!("HEAD /datasets/{REPO}/resolve/main/{file}")),
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|r| r.starts_with("GET /cdn/"))
            .count(),
        1,
        "downloaded once for both splits: {requests:?}"
    );
    server.stop();

    // From the cache, with the server gone, and offline.
    for offline in [false, true] {
        let opts = options("http://127.0.0.1:9", cache.path(), offline);
        let again = load(&id, Split::Test, &opts).unwrap();
        assert!(from_cache(&again));
        assert_same_table(&again, &first[1], "breast-cancer from the cache");
    }
}

#[test]
fn a_named_label_column_is_read_wherever_it_stands() {
    let Some(path) = real_table(KnownTable::WineQualityRed) else {
        return;
    };
    // A header row; the label `quality` (scores 3..8) moved to the front.
    let records = csv_records(&path);
    let mut columns = csv_columns(&records, true, "quality");
    assert_eq!(columns.len(), 12);
    columns.rotate_right(1);
    let bytes = parquet_file(&columns, 256, None);
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(REPO, "red.parquet", bytes)]).unwrap();
    let opts = options(server.url(), cache.path(), false);
    for split in [Split::Train, Split::Test] {
        let hub = load(&table_id("/red.parquet#quality"), split, &opts).unwrap();
        assert_same_table(
            &hub,
            &csv_split(KnownTable::WineQualityRed, split),
            "wine-quality-red",
        );
    }
    // Unnamed, the label is the last column: here `alcohol`, which holds no labels.
    let err = load(&table_id("/red.parquet"), Split::Train, &opts).unwrap_err();
    match &err {
        DataError::Format {
            path,
            field,
            message,
        } => {
            assert!(path.ends_with("red.parquet"), "{err}");
            assert_eq!(field, "column `alcohol` (label)", "{err}");
            assert!(
                message.contains("DOUBLE") && message.contains("integer or string labels"),
                "{err}"
            );
        }
        other => panic!("expected a format error, got {other}"),
    }
}

#[test]
fn train_and_test_files_are_each_their_own_split() {
    let Some(_) = real_table(KnownTable::Wine) else {
        return;
    };
    // The CSV table's own splits, written as `datasets`' push_to_hub lays out two splits.
    let csv: Vec<Dataset> = [Split::Train, Split::Test]
        .into_iter()
        .map(|s| csv_split(KnownTable::Wine, s))
        .collect();
    let train = parquet_file(&dataset_columns(&csv[0]), 64, None);
    let test = parquet_file(&dataset_columns(&csv[1]), 64, None);
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![
        HubFile::lfs(REPO, "data/train-00000-of-00001.parquet", train.clone()),
        HubFile::lfs(REPO, "data/test-00000-of-00001.parquet", test.clone()),
    ])
    .unwrap();
    let opts = options(server.url(), cache.path(), false);
    // The default layout, and the same files named with `{split}`.
    for rest in ["", "/data/{split}-00000-of-00001.parquet"] {
        let id = table_id(rest);
        for (k, split) in [Split::Train, Split::Test].into_iter().enumerate() {
            let hub = load(&id, split, &opts).unwrap();
            assert_same_table(&hub, &csv[k], &format!("wine {rest:?}"));
            let digests: Vec<&str> = hub
                .metadata()
                .files
                .iter()
                .map(|f| f.sha256.as_str())
                .collect();
            assert_eq!(digests, [sha256_hex(&train), sha256_hex(&test)]);
        }
    }
}

#[test]
fn the_classes_of_two_files_are_those_of_both() {
    // Labels 5 and 7 in training, 3 and 5 in the test file: three classes, sorted as numbers.
    let file = |labels: &[i64]| {
        let n = labels.len();
        parquet_file(
            &[
                column(
                    "x",
                    Values::Double((0..n).map(|i| Some(i as f64)).collect()),
                ),
                column(
                    "label",
                    Values::Long(labels.iter().map(|&l| Some(l)).collect()),
                ),
            ],
            100,
            None,
        )
    };
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![
        HubFile::lfs(REPO, "train.parquet", file(&[7, 5, 7, 5])),
        HubFile::lfs(REPO, "test.parquet", file(&[3, 5, 3])),
    ])
    .unwrap();
    let opts = options(server.url(), cache.path(), false);
    let id = table_id("/{split}.parquet");
    let train = load(&id, Split::Train, &opts).unwrap();
    let test = load(&id, Split::Test, &opts).unwrap();
    assert_eq!(train.class_names(), ["3", "5", "7"]);
    assert_eq!(test.class_names(), train.class_names());
    assert_eq!(train.labels(), [2, 1, 2, 1]);
    assert_eq!(test.labels(), [0, 1, 0]);
    assert_eq!(test.pixels().to_f32(), [0.0, 1.0, 2.0]);
}

// ---------------------------------------------------------------------------------------
// Bad files

/// A small good table: two features `a` (integers) and `b` (doubles), labels `x`/`y`.
fn small() -> Vec<Column> {
    vec![
        column("a", Values::Long((0..6).map(Some).collect())),
        column(
            "b",
            Values::Double((0..6).map(|i| Some(i as f64 / 4.0)).collect()),
        ),
        column(
            "label",
            Values::Text((0..6).map(|i| Some(["x", "y"][i % 2].into())).collect()),
        ),
    ]
}

/// Serves `bytes` as `t.parquet` and loads the training split of `tabular:hub:…/t.parquet{label}`.
fn load_served(bytes: Vec<u8>, label: &str) -> emc_data::Result<Dataset> {
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(REPO, "t.parquet", bytes)]).unwrap();
    load(
        &table_id(&format!("/t.parquet{label}")),
        Split::Train,
        &options(server.url(), cache.path(), false),
    )
}

/// The format error's field and message, after checking it names the served file.
fn format_error(result: emc_data::Result<Dataset>) -> (String, String) {
    match result {
        Err(DataError::Format {
            path,
            field,
            message,
        }) => {
            assert!(path.ends_with("t.parquet"), "{}", path.display());
            (field, message)
        }
        Err(other) => panic!("expected a format error, got {other}"),
        Ok(ds) => panic!("expected an error, got {} rows", ds.len()),
    }
}

#[test]
fn the_small_table_loads() {
    // The baseline every bad case below departs from.
    let ds = load_served(parquet_file(&small(), 4, None), "").unwrap();
    assert_eq!(ds.class_names(), ["x", "y"]);
    assert_eq!(ds.shape().channels, 2);
    assert_eq!(ds.len() + 2, 6, "two rows held out");
}

#[test]
fn a_missing_label_column_lists_the_columns() {
    let (field, message) = format_error(load_served(parquet_file(&small(), 4, None), "#class"));
    assert_eq!(field, "column `class` (label)");
    assert!(message.contains("a, b, label"), "{message}");
}

#[test]
fn a_text_feature_column_is_refused_by_name() {
    let mut columns = small();
    columns[1] = column(
        "b",
        Values::Text((0..6).map(|i| Some(format!("{i}"))).collect()),
    );
    let (field, message) = format_error(load_served(parquet_file(&columns, 4, None), ""));
    assert_eq!(field, "column `b`");
    assert!(
        message.contains("BYTE_ARRAY (String)") && message.contains("expected numbers"),
        "{message}"
    );
}

#[test]
fn a_ragged_list_column_is_refused_by_name() {
    let mut columns = small();
    columns[0] = column(
        "a",
        Values::Repeated((0..6).map(|i| vec![1.0; 1 + i % 2]).collect()),
    );
    let (field, message) = format_error(load_served(parquet_file(&columns, 4, None), ""));
    assert_eq!(field, "column `a`");
    assert!(message.contains("repeated DOUBLE"), "{message}");
}

#[test]
fn nulls_and_non_finite_values_name_the_row_and_column() {
    let mut columns = small();
    if let Values::Double(v) = &mut columns[1].values {
        v[3] = None;
    }
    let (field, message) = format_error(load_served(parquet_file(&columns, 4, None), ""));
    assert_eq!(field, "row 3, column `b`");
    assert!(message.contains("null"), "{message}");

    let mut columns = small();
    if let Values::Double(v) = &mut columns[1].values {
        v[5] = Some(f64::INFINITY);
    }
    let (field, message) = format_error(load_served(parquet_file(&columns, 4, None), ""));
    assert_eq!(field, "row 5, column `b`");
    assert!(message.contains("expected a finite number"), "{message}");

    for missing in [None, Some(String::new())] {
        let mut columns = small();
        if let Values::Text(v) = &mut columns[2].values {
            v[4] = missing.clone();
        }
        let (field, message) = format_error(load_served(parquet_file(&columns, 4, None), ""));
        assert_eq!(field, "row 4, column `label` (label)", "{missing:?}");
        assert!(message.contains("missing"), "{message}");
    }
}

#[test]
fn empty_and_label_only_files_are_refused() {
    let empty: Vec<Column> = small()
        .into_iter()
        .map(|c| column(&c.name, Values::Long(vec![])))
        .collect();
    let (field, message) = format_error(load_served(parquet_file(&empty, 4, None), ""));
    assert_eq!(field, "rows");
    assert!(message.contains("no row"), "{message}");

    let only_label = small().pop().unwrap();
    let (field, message) = format_error(load_served(parquet_file(&[only_label], 4, None), ""));
    assert_eq!(field, "column `label` (label)");
    assert!(message.contains("only column"), "{message}");

    let (field, message) = format_error(load_served(vec![], ""));
    assert_eq!(field, "parquet", "{message}");
}

#[test]
fn truncated_and_damaged_files_are_format_errors_never_panics() {
    let good = parquet_file(&small(), 2, None);
    let mut half = good.clone();
    half.truncate(good.len() / 2);
    let (field, _) = format_error(load_served(half, ""));
    assert_eq!(field, "parquet");
    // Overwrite stretches of the body (page headers and data) with junk, one at a time;
    // damage may hit a spot that decodes anyway, but an error must be one of ours.
    let mut refused = 0;
    for start in (4..good.len() - 40).step_by(good.len() / 12) {
        let mut bytes = good.clone();
        for (k, b) in bytes[start..start + 24].iter_mut().enumerate() {
            *b = (k as u8).wrapping_mul(37) ^ 0xA5;
        }
        match load_served(bytes, "") {
            Ok(_) | Err(DataError::Degenerate { .. }) => {}
            Err(DataError::Format { path, .. }) => {
                assert!(path.ends_with("t.parquet"), "offset {start}");
                refused += 1;
            }
            Err(other) => panic!("offset {start}: {other}"),
        }
    }
    assert!(refused > 0, "no damage was noticed");
}

#[test]
fn class_label_metadata_bounds_the_labels() {
    let mut columns = small();
    columns[2] = column(
        "label",
        Values::Long(vec![Some(0), Some(1), Some(0), Some(2), Some(1), Some(0)]),
    );
    let meta = Some(class_label("label", &["x", "y"]));
    let (field, message) = format_error(load_served(parquet_file(&columns, 4, meta.clone()), ""));
    assert_eq!(field, "row 3, column `label` (label)");
    assert!(message.contains("class index 0..2"), "{message}");
    // In range, the names are the classes, even one absent from the rows.
    let meta3 = Some(class_label("label", &["x", "y", "z"]));
    let ds = load_served(parquet_file(&columns, 4, meta3), "").unwrap();
    assert_eq!(ds.class_names(), ["x", "y", "z"]);
    // A string column cannot carry ClassLabel indices.
    let (field, message) = format_error(load_served(parquet_file(&small(), 4, meta), ""));
    assert_eq!(field, "column `label` (label)");
    assert!(message.contains("integer class indices"), "{message}");
}

#[test]
fn a_single_class_is_degenerate() {
    let mut columns = small();
    columns[2] = column("label", Values::Text(vec![Some("x".into()); 6]));
    let err = load_served(parquet_file(&columns, 4, None), "").unwrap_err();
    assert!(matches!(err, DataError::Degenerate { .. }), "{err}");
    assert!(err.to_string().contains("t.parquet"), "{err}");
}

#[test]
fn test_columns_must_match_the_train_columns() {
    let mut other = small();
    other.swap(0, 1);
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![
        HubFile::lfs(REPO, "train.parquet", parquet_file(&small(), 4, None)),
        HubFile::lfs(REPO, "test.parquet", parquet_file(&other, 4, None)),
    ])
    .unwrap();
    let opts = options(server.url(), cache.path(), false);
    let err = load(&table_id("/{split}.parquet"), Split::Train, &opts).unwrap_err();
    match &err {
        DataError::Format {
            path,
            field,
            message,
        } => {
            assert!(path.ends_with("test.parquet"), "{err}");
            assert_eq!(field, "columns");
            assert!(
                message.contains("features b, a") && message.contains("(a, b, in"),
                "{err}"
            );
        }
        other => panic!("expected a format error, got {other}"),
    }
}

#[test]
fn a_missing_test_file_is_not_found_with_the_layouts_in_the_hint() {
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(
        REPO,
        "data/train-00000-of-00001.parquet",
        parquet_file(&small(), 4, None),
    )])
    .unwrap();
    let err = load(
        &table_id(""),
        Split::Train,
        &options(server.url(), cache.path(), false),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("data/test-00000-of-00001.parquet") && text.contains("file not found"),
        "{text}"
    );
    assert!(
        text.contains("tabular:hub:OWNER/NAME/PATH.parquet"),
        "{text}"
    );
}

#[test]
fn offline_with_an_empty_cache_makes_no_request() {
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(
        REPO,
        "t.parquet",
        parquet_file(&small(), 4, None),
    )])
    .unwrap();
    let opts = options(server.url(), cache.path(), true);
    let err = load(&table_id("/t.parquet"), Split::Train, &opts).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");
    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn a_bad_transfer_is_rejected_and_a_damaged_cache_copy_is_caught() {
    let bytes = parquet_file(&small(), 4, None);
    // The Hub announces another SHA-256 than the bytes have: refused, not cached.
    let cache = tempfile::tempdir().unwrap();
    let mut file = HubFile::lfs(REPO, "t.parquet", bytes.clone());
    file.etag_override = Some("ab".repeat(32));
    let server = HubServer::start(vec![file]).unwrap();
    let opts = options(server.url(), cache.path(), false);
    let err = load(&table_id("/t.parquet"), Split::Train, &opts).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("ETag"), "{err}");
    server.stop();

    // A good download whose cached blob is changed afterwards: caught on the next read.
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(REPO, "t.parquet", bytes.clone())]).unwrap();
    let opts = options(server.url(), cache.path(), false);
    load(&table_id("/t.parquet"), Split::Train, &opts).unwrap();
    let blob = cache
        .path()
        .join("datasets--emc-test--tables/blobs")
        .join(sha256_hex(&bytes));
    let mut damaged = std::fs::read(&blob).unwrap();
    damaged[10] ^= 0xFF;
    std::fs::write(&blob, damaged).unwrap();
    let err = load(&table_id("/t.parquet"), Split::Test, &opts).unwrap_err();
    match &err {
        DataError::Hub {
            repo,
            file,
            message,
        } => {
            assert_eq!((repo.as_str(), file.as_str()), (REPO, "t.parquet"));
            assert!(
                message.contains("ETag") && message.contains("delete"),
                "{err}"
            );
        }
        other => panic!("expected a Hub error, got {other}"),
    }
}
