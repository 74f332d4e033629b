//! End-to-end tests of the Hugging Face Hub source: parquet files in the Hub's layout are
//! served by a stand-in Hub on 127.0.0.1, downloaded through hf-hub into a temporary cache
//! and decoded by the same `emc_data::load` users run.

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use emc_data::hub::{self, HubOptions};
use emc_data::{load, DataError, Dataset, DatasetId, LoadOptions, Origin, Split};
use emc_tests::hub_server::{HubFile, HubServer};
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;
use sha2::{Digest, Sha256};

const MNIST_REPO: &str = "ylecun/mnist";
const MNIST_TRAIN: &str = "mnist/train-00000-of-00001.parquet";
const CIFAR_REPO: &str = "uoft-cs/cifar10";
const CIFAR_TEST: &str = "plain_text/test-00000-of-00001.parquet";
const N_MNIST: usize = 20;
const N_CIFAR: usize = 12;

/// MNIST-like pixel (row, col) of image `i`: a bright dot at row 3, col 20 on a gradient
/// that differs under transposition.
fn mnist_pixel(i: usize, row: usize, col: usize) -> u8 {
    if (row, col) == (3, 20) {
        255
    } else {
        ((row * 5 + col + i) % 100) as u8
    }
}

/// CIFAR-like pixel: red follows the row, green the column, blue the image index; a pure
/// red dot at row 2, col 29.
fn cifar_pixel(i: usize, row: usize, col: usize) -> [u8; 3] {
    if (row, col) == (2, 29) {
        [255, 0, 0]
    } else {
        [(row * 7) as u8, (col * 3) as u8, (i * 10 + 5) as u8]
    }
}

fn png_grey(i: usize) -> Vec<u8> {
    let img = image::GrayImage::from_fn(28, 28, |x, y| {
        image::Luma([mnist_pixel(i, y as usize, x as usize)])
    });
    let mut out = Cursor::new(vec![]);
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn png_rgb(i: usize) -> Vec<u8> {
    let img = image::RgbImage::from_fn(32, 32, |x, y| {
        image::Rgb(cifar_pixel(i, y as usize, x as usize))
    });
    let mut out = Cursor::new(vec![]);
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// One row of a Hub image parquet file.
struct Sample {
    png: Vec<u8>,
    path: Option<String>,
    label: i64,
}

/// A parquet file in the Hub's schema: `{image_col}: struct<bytes: binary, path: string>`
/// and `label: int64` (both nullable, as the Hub's arrow writer makes them), snappy
/// compressed, split into row groups of `group` rows.
fn hub_parquet(image_col: &str, samples: &[Sample], group: usize) -> Vec<u8> {
    let schema = parse_message_type(&format!(
        "message schema {{
            optional group {image_col} {{
                optional binary bytes;
                optional binary path (STRING);
            }}
            optional int64 label;
        }}"
    ))
    .unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut buf = vec![];
    let mut writer =
        SerializedFileWriter::new(&mut buf, Arc::new(schema), Arc::new(props)).unwrap();
    for chunk in samples.chunks(group) {
        let mut rg = writer.next_row_group().unwrap();
        let mut column = 0;
        while let Some(mut col) = rg.next_column().unwrap() {
            match column {
                0 => {
                    let values: Vec<ByteArray> = chunk
                        .iter()
                        .map(|s| ByteArray::from(s.png.clone()))
                        .collect();
                    let defs = vec![2i16; chunk.len()];
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
                1 => {
                    let values: Vec<ByteArray> = chunk
                        .iter()
                        .filter_map(|s| s.path.as_deref().map(ByteArray::from))
                        .collect();
                    let defs: Vec<i16> = chunk
                        .iter()
                        .map(|s| if s.path.is_some() { 2 } else { 1 })
                        .collect();
                    col.typed::<ByteArrayType>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
                _ => {
                    let values: Vec<i64> = chunk.iter().map(|s| s.label).collect();
                    let defs = vec![1i16; chunk.len()];
                    col.typed::<Int64Type>()
                        .write_batch(&values, Some(&defs), None)
                        .unwrap();
                }
            }
            col.close().unwrap();
            column += 1;
        }
        rg.close().unwrap();
    }
    writer.close().unwrap();
    buf
}

fn mnist_samples() -> Vec<Sample> {
    (0..N_MNIST)
        .map(|i| Sample {
            png: png_grey(i),
            path: None,
            label: (i % 10) as i64,
        })
        .collect()
}

fn mnist_parquet() -> Vec<u8> {
    hub_parquet("image", &mnist_samples(), 8)
}

fn cifar_parquet() -> Vec<u8> {
    let samples: Vec<Sample> = (0..N_CIFAR)
        .map(|i| Sample {
            png: png_rgb(i),
            path: Some(format!("{i}.png")),
            label: ((i * 3) % 10) as i64,
        })
        .collect();
    hub_parquet("img", &samples, 100)
}

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

fn hub_origin(ds: &Dataset) -> (String, String, bool) {
    match &ds.metadata().origin {
        Origin::Hub {
            repo,
            revision,
            from_cache,
        } => (repo.clone(), revision.clone(), *from_cache),
        other => panic!("expected a Hub origin, got {other:?}"),
    }
}

fn check_mnist(ds: &Dataset, served: &[u8]) {
    let shape = ds.shape();
    assert_eq!((shape.channels, shape.height, shape.width), (1, 28, 28));
    assert_eq!(ds.len(), N_MNIST);
    let want: Vec<u32> = (0..N_MNIST).map(|i| (i % 10) as u32).collect();
    assert_eq!(ds.labels(), want.as_slice());
    for i in 0..N_MNIST {
        let img = ds.image_f32(i);
        assert_eq!(
            img[3 * 28 + 20],
            255.0,
            "image {i}: the dot at row 3, col 20"
        );
        assert_ne!(
            img[20 * 28 + 3],
            255.0,
            "image {i}: height and width swapped"
        );
        for row in 0..28 {
            for col in 0..28 {
                assert_eq!(
                    img[row * 28 + col],
                    mnist_pixel(i, row, col) as f32,
                    "image {i} pixel (row {row}, col {col})"
                );
            }
        }
    }
    let files = &ds.metadata().files;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].sha256, sha256_hex(served));
    assert_eq!(files[0].bytes, served.len() as u64);
    assert_eq!(ds.metadata().name, "mnist");
    assert_eq!(ds.metadata().split, Split::Train);
}

#[test]
fn mnist_downloads_then_loads_from_cache() {
    let bytes = mnist_parquet();
    let cache = tempfile::tempdir().unwrap();
    let server =
        HubServer::start(vec![HubFile::lfs(MNIST_REPO, MNIST_TRAIN, bytes.clone())]).unwrap();
    let opts = options(server.url(), cache.path(), false);

    let first = load(&DatasetId::Mnist, Split::Train, &opts).unwrap();
    check_mnist(&first, &bytes);
    assert_eq!(
        hub_origin(&first),
        (MNIST_REPO.to_string(), "main".to_string(), false)
    );
    let requests = server.requests();
    assert!(
        requests
            .iter()
            .any(|r| r == &format!("HEAD /datasets/{MNIST_REPO}/resolve/main/{MNIST_TRAIN}")),
        "{requests:?}"
    );
    assert!(
        requests.iter().any(|r| r.starts_with("GET /cdn/")),
        "{requests:?}"
    );
    // The Hub cache layout, as hf-hub and Python huggingface_hub share it.
    let repo_dir = cache.path().join("datasets--ylecun--mnist");
    let commit = std::fs::read_to_string(repo_dir.join("refs/main")).unwrap();
    assert_eq!(commit.trim(), emc_tests::hub_server::COMMIT);
    assert!(repo_dir
        .join("snapshots")
        .join(commit.trim())
        .join(MNIST_TRAIN)
        .is_file());
    assert!(repo_dir.join("blobs").join(sha256_hex(&bytes)).is_file());

    // Fetching again revalidates with the ETag (304) and keeps the cached copy.
    let hd = DatasetId::Mnist.hub().unwrap();
    let path = hub::fetch(&hd, Split::Train, &opts.hub).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(
        server
            .requests()
            .iter()
            .filter(|r| r.starts_with("GET /cdn/"))
            .count(),
        1,
        "the file was downloaded twice: {:?}",
        server.requests()
    );

    server.stop();

    let again = load(&DatasetId::Mnist, Split::Train, &opts).unwrap();
    assert!(hub_origin(&again).2, "second load must come from the cache");
    assert_eq!(again.pixels(), first.pixels());
    assert_eq!(again.labels(), first.labels());
    assert_eq!(
        again.metadata().files[0].sha256,
        first.metadata().files[0].sha256
    );

    // Offline with a filled cache: still loads, without a server.
    let offline = load(
        &DatasetId::Mnist,
        Split::Train,
        &options("http://127.0.0.1:9", cache.path(), true),
    )
    .unwrap();
    assert_eq!(offline.pixels(), first.pixels());
    assert!(hub::cached(
        &hd,
        Split::Train,
        &options("http://127.0.0.1:9", cache.path(), true).hub
    )
    .unwrap()
    .is_some());
}

#[test]
fn offline_with_empty_cache_is_not_found_and_makes_no_request() {
    let cache = tempfile::tempdir().unwrap();
    let server =
        HubServer::start(vec![HubFile::lfs(MNIST_REPO, MNIST_TRAIN, mnist_parquet())]).unwrap();
    let opts = options(server.url(), cache.path(), true);

    let err = load(&DatasetId::Mnist, Split::Train, &opts).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");

    let hd = DatasetId::Mnist.hub().unwrap();
    assert!(hub::cached(&hd, Split::Train, &opts.hub).unwrap().is_none());
    let err = hub::fetch(&hd, Split::Train, &opts.hub).unwrap_err();
    assert!(matches!(err, DataError::Hub { .. }), "{err}");
    assert!(err.to_string().contains("HF_HUB_OFFLINE"), "{err}");

    assert!(server.requests().is_empty(), "{:?}", server.requests());
}

#[test]
fn cifar10_rgb_planes_are_channel_height_width() {
    let bytes = cifar_parquet();
    let cache = tempfile::tempdir().unwrap();
    // Served like a non-LFS file: 200 with a git-style ETag, no redirect.
    let server =
        HubServer::start(vec![HubFile::plain(CIFAR_REPO, CIFAR_TEST, bytes.clone())]).unwrap();
    let ds = load(
        &DatasetId::Cifar10,
        Split::Test,
        &options(server.url(), cache.path(), false),
    )
    .unwrap();
    assert_eq!(
        hub_origin(&ds),
        (CIFAR_REPO.to_string(), "main".to_string(), false)
    );
    let shape = ds.shape();
    assert_eq!((shape.channels, shape.height, shape.width), (3, 32, 32));
    assert_eq!(ds.len(), N_CIFAR);
    let want: Vec<u32> = (0..N_CIFAR).map(|i| ((i * 3) % 10) as u32).collect();
    assert_eq!(ds.labels(), want.as_slice());
    assert_eq!(ds.class_names()[0], "airplane");
    assert_eq!(ds.metadata().files[0].sha256, sha256_hex(&bytes));
    let plane = 32 * 32;
    for i in 0..N_CIFAR {
        let img = ds.image_f32(i);
        // The red dot at row 2, col 29: red plane bright, green and blue dark.
        assert_eq!(
            [
                img[2 * 32 + 29],
                img[plane + 2 * 32 + 29],
                img[2 * plane + 2 * 32 + 29]
            ],
            [255.0, 0.0, 0.0]
        );
        for c in 0..3 {
            for row in 0..32 {
                for col in 0..32 {
                    assert_eq!(
                        img[c * plane + row * 32 + col],
                        cifar_pixel(i, row, col)[c] as f32,
                        "image {i} channel {c} (row {row}, col {col})"
                    );
                }
            }
        }
    }
}

/// Serves `bytes` as the MNIST train file and loads it into a fresh cache.
fn load_served(bytes: Vec<u8>) -> emc_data::Result<Dataset> {
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![HubFile::lfs(MNIST_REPO, MNIST_TRAIN, bytes)]).unwrap();
    load(
        &DatasetId::Mnist,
        Split::Train,
        &options(server.url(), cache.path(), false),
    )
}

#[test]
fn truncated_parquet_is_a_format_error() {
    let mut bytes = mnist_parquet();
    bytes.truncate(bytes.len() / 2);
    let err = load_served(bytes).unwrap_err();
    match &err {
        DataError::Format { path, field, .. } => {
            assert_eq!(field, "parquet", "{err}");
            assert!(path.ends_with(MNIST_TRAIN), "{err}");
        }
        other => panic!("expected a parquet format error, got {other}"),
    }
}

#[test]
fn damaged_parquet_never_panics() {
    let good = mnist_parquet();
    // Overwrite stretches of the body (page headers and data) with junk, one at a time.
    for start in (4..good.len().saturating_sub(64)).step_by(good.len() / 16) {
        let mut bytes = good.clone();
        for (k, b) in bytes[start..start + 48].iter_mut().enumerate() {
            *b = (k as u8).wrapping_mul(37) ^ 0xA5;
        }
        let cache = tempfile::tempdir().unwrap();
        let hd = DatasetId::Mnist.hub().unwrap();
        let path = cache.path().join("damaged.parquet");
        std::fs::write(&path, &bytes).unwrap();
        let opts = options("http://127.0.0.1:9", cache.path(), true).hub;
        // Damage may hit a spot that decodes anyway; an error must be one of ours.
        if let Err(e) = hub::load_parquet("mnist", Split::Train, &path, &hd, &opts, true) {
            assert!(
                matches!(
                    e,
                    DataError::Format { .. }
                        | DataError::Image { .. }
                        | DataError::LabelOutOfRange { .. }
                ),
                "offset {start}: {e}"
            );
        }
    }
}

#[test]
fn missing_column_names_the_columns_present() {
    let bytes = hub_parquet("picture", &mnist_samples(), 100);
    let err = load_served(bytes).unwrap_err();
    match &err {
        DataError::Format { field, message, .. } => {
            assert_eq!(field, "image", "{err}");
            assert!(
                message.contains("picture") && message.contains("label"),
                "{err}"
            );
        }
        other => panic!("expected a missing-column error, got {other}"),
    }
}

#[test]
fn undecodable_png_names_the_row() {
    let mut samples = mnist_samples();
    samples[13].png.truncate(30);
    let err = load_served(hub_parquet("image", &samples, 8)).unwrap_err();
    match &err {
        DataError::Image { path, message } => {
            assert!(path.ends_with(MNIST_TRAIN), "{err}");
            assert!(message.contains("row 13"), "{err}");
        }
        other => panic!("expected an image error, got {other}"),
    }
}

#[test]
fn wrong_image_size_is_rejected() {
    let mut samples = mnist_samples();
    samples[4].png = png_rgb(0); // 32x32 RGB in a 28x28 grey dataset
    let err = load_served(hub_parquet("image", &samples, 8)).unwrap_err();
    assert!(
        matches!(&err, DataError::Format { field, .. } if field.contains("row 4")),
        "{err}"
    );
}

#[test]
fn label_out_of_range_is_reported() {
    let mut samples = mnist_samples();
    samples[7].label = 10;
    let err = load_served(hub_parquet("image", &samples, 8)).unwrap_err();
    match err {
        DataError::LabelOutOfRange {
            index,
            label,
            classes,
            ..
        } => assert_eq!((index, label, classes), (7, 10, 10)),
        other => panic!("expected LabelOutOfRange, got {other}"),
    }
}

#[test]
fn bad_transfer_is_rejected_and_not_cached() {
    let bytes = mnist_parquet();
    let cache = tempfile::tempdir().unwrap();
    let mut file = HubFile::lfs(MNIST_REPO, MNIST_TRAIN, bytes);
    file.etag_override = Some("ab".repeat(32));
    let server = HubServer::start(vec![file]).unwrap();
    let opts = options(server.url(), cache.path(), false);
    let err = load(&DatasetId::Mnist, Split::Train, &opts).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("ETag"), "{err}");
    let hd = DatasetId::Mnist.hub().unwrap();
    assert!(hub::cached(&hd, Split::Train, &opts.hub).unwrap().is_none());
}

#[test]
fn missing_file_on_the_hub_is_not_found() {
    let cache = tempfile::tempdir().unwrap();
    let server = HubServer::start(vec![]).unwrap();
    let err = load(
        &DatasetId::FashionMnist,
        Split::Test,
        &options(server.url(), cache.path(), false),
    )
    .unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("file not found"), "{err}");
}
