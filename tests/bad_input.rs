//! Every bad-input case returns a typed error naming the file and what was expected, on
//! truncated or corrupted copies of the real files written to a temporary folder.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use emc_data::{idx, DataError, DatasetId, FolderOptions, Split};
use emc_tests::real_folder;

fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = vec![];
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(vec![], flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// Real MNIST test images and labels, uncompressed.
fn mnist_test() -> Option<(Vec<u8>, Vec<u8>)> {
    let dir = real_folder("mnist")?;
    Some((
        gunzip(&dir.join("t10k-images-idx3-ubyte.gz")),
        gunzip(&dir.join("t10k-labels-idx1-ubyte.gz")),
    ))
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn load_pair(images: &Path, labels: &Path) -> Result<emc_data::Dataset, DataError> {
    idx::load_idx_pair(
        "mnist",
        Split::Test,
        images,
        labels,
        &emc_data::names::MNIST,
    )
}

#[test]
fn plain_and_gzipped_copies_load_identically() {
    let Some((images, labels)) = mnist_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let a = load_pair(
        &write(tmp.path(), "t10k-images-idx3-ubyte", &images),
        &write(tmp.path(), "t10k-labels-idx1-ubyte", &labels),
    )
    .unwrap();
    let b = load_pair(
        &write(tmp.path(), "i.gz", &gzip(&images)),
        &write(tmp.path(), "l.gz", &gzip(&labels)),
    )
    .unwrap();
    assert_eq!(a.pixels(), b.pixels());
    assert_eq!(a.labels(), b.labels());
    // The dotted official-name variant is found too.
    let dotted = tempfile::tempdir().unwrap();
    write(dotted.path(), "t10k-images.idx3-ubyte", &images);
    write(dotted.path(), "t10k-labels.idx1-ubyte", &labels);
    assert!(idx::find_files(dotted.path(), Split::Test).is_some());
}

#[test]
fn wrong_magic_names_the_file() {
    let Some((images, labels)) = mnist_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let i = write(tmp.path(), "images", &images);
    let l = write(tmp.path(), "labels", &labels);
    let err = load_pair(&l, &i).unwrap_err();
    assert!(
        matches!(err, DataError::BadMagic { found: 0x801, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("labels") && err.to_string().contains("0x00000803"));
}

#[test]
fn truncated_idx_is_rejected_not_shortened() {
    let Some((images, labels)) = mnist_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let i = write(tmp.path(), "short-images", &images[..images.len() - 100]);
    let l = write(tmp.path(), "labels", &labels);
    let err = load_pair(&i, &l).unwrap_err();
    match &err {
        DataError::Truncated {
            path,
            expected,
            found,
            ..
        } => {
            assert_eq!(path, &i);
            assert_eq!(*expected, 16 + 10_000 * 784);
            assert_eq!(*found, 16 + 10_000 * 784 - 100);
        }
        other => panic!("expected Truncated, got {other}"),
    }
    // A header cut short.
    let h = write(tmp.path(), "header-only", &images[..10]);
    assert!(matches!(
        load_pair(&h, &l).unwrap_err(),
        DataError::Truncated { .. }
    ));
}

#[test]
fn corrupt_gzip_is_a_gzip_error() {
    let Some((images, labels)) = mnist_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let gz = gzip(&images);
    let cut = write(tmp.path(), "cut.gz", &gz[..gz.len() / 2]);
    let l = write(tmp.path(), "labels", &labels);
    let err = load_pair(&cut, &l).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err}");
    assert!(err.to_string().contains("cut.gz"));
    let mut flipped = gz.clone();
    let mid = flipped.len() / 2;
    for b in &mut flipped[mid..mid + 64] {
        *b ^= 0xa5;
    }
    let f = write(tmp.path(), "flipped.gz", &flipped);
    let err = load_pair(&f, &l).unwrap_err();
    assert!(
        matches!(err, DataError::Gzip { .. } | DataError::Truncated { .. }),
        "{err}"
    );
}

#[test]
fn count_mismatch_and_label_out_of_range() {
    let Some((images, labels)) = mnist_test() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let i = write(tmp.path(), "images", &images);
    // Labels file claiming (and holding) one label fewer.
    let mut fewer = labels[..labels.len() - 1].to_vec();
    fewer[4..8].copy_from_slice(&9_999u32.to_be_bytes());
    let l = write(tmp.path(), "fewer-labels", &fewer);
    let err = load_pair(&i, &l).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::CountMismatch {
                images: 10_000,
                labels: 9_999,
                ..
            }
        ),
        "{err}"
    );
    let mut bad = labels.clone();
    bad[8 + 17] = 10;
    let l = write(tmp.path(), "bad-labels", &bad);
    let err = load_pair(&i, &l).unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 17,
                label: 10,
                classes: 10,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn cifar_records_must_be_whole_and_labels_in_range() {
    let Some(dir) = real_folder("cifar10-subset") else {
        return;
    };
    let bytes = std::fs::read(dir.join("test_batch.first1000.bin")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "test_batch.bin", &bytes[..bytes.len() - 100]);
    let err = DatasetId::Cifar10Subset
        .load_from_dir(tmp.path(), Split::Test)
        .unwrap_err();
    assert!(matches!(err, DataError::Truncated { .. }), "{err}");
    assert!(err.to_string().contains("test_batch.bin") && err.to_string().contains("3073-byte"));
    let mut bad = bytes.clone();
    bad[3073 * 5] = 12;
    write(tmp.path(), "test_batch.bin", &bad);
    let err = DatasetId::Cifar10Subset
        .load_from_dir(tmp.path(), Split::Test)
        .unwrap_err();
    assert!(
        matches!(
            err,
            DataError::LabelOutOfRange {
                index: 5,
                label: 12,
                ..
            }
        ),
        "{err}"
    );
    // Two files for one batch are ambiguous, not merged.
    write(tmp.path(), "test_batch.bin", &bytes);
    write(tmp.path(), "test_batch.first1000.bin", &bytes);
    assert!(DatasetId::Cifar10Subset
        .load_from_dir(tmp.path(), Split::Test)
        .is_err());
}

#[test]
fn cifar100_files_are_read_with_either_label() {
    // CIFAR-100 is not available offline: build a file in its format from CIFAR-10 pixels.
    let Some(dir) = real_folder("cifar10-subset") else {
        return;
    };
    let c10 = std::fs::read(dir.join("test_batch.first1000.bin")).unwrap();
    let mut c100 = vec![];
    for (i, rec) in c10.chunks_exact(3073).take(50).enumerate() {
        c100.push((i % 20) as u8);
        c100.push((i % 100) as u8);
        c100.extend_from_slice(&rec[1..]);
    }
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "test.bin", &c100);
    let fine = emc_data::load(
        &"cifar100".parse().unwrap(),
        Split::Test,
        &emc_tests::local_options().with_data_dir(Some(tmp.path().to_path_buf())),
    )
    .unwrap();
    assert_eq!(fine.num_classes(), 100);
    assert_eq!(fine.labels()[42], 42);
    assert_eq!(fine.class_names()[42], "leopard");
    let coarse = DatasetId::Cifar100(emc_data::Cifar100Labels::Coarse)
        .load_from_dir(tmp.path(), Split::Test)
        .unwrap()
        .unwrap();
    assert_eq!(coarse.num_classes(), 20);
    assert_eq!(coarse.labels()[42], 2);
    assert_eq!(&coarse.image_f32(0)[..], &fine.image_f32(0)[..]);
    c100[1 + 2 * 3074] = 100;
    write(tmp.path(), "test.bin", &c100);
    let err = DatasetId::Cifar100(emc_data::Cifar100Labels::Fine)
        .load_from_dir(tmp.path(), Split::Test)
        .unwrap_err();
    assert!(
        matches!(err, DataError::LabelOutOfRange { index: 2, .. }),
        "{err}"
    );
}

#[test]
fn image_folders_load_and_reject_empty_classes_and_bad_images() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("tiny-imagenet");
    for (class, colour) in [("n01_cat", [200u8, 10, 10]), ("n02_dog", [10, 10, 200])] {
        for split in ["train", "val"] {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for k in 0..3 {
                // Non-square images: 40 wide, 20 high, a bright column at x = 30.
                let img = image::RgbImage::from_fn(40, 20, |x, _| {
                    if x == 30 + k {
                        image::Rgb([255, 255, 255])
                    } else {
                        image::Rgb(colour)
                    }
                });
                img.save(d.join(format!("{k}.png"))).unwrap();
            }
        }
    }
    let opts: FolderOptions = format!("{}@16", root.display()).parse().unwrap();
    let id = DatasetId::Folder(opts.clone());
    let train = emc_data::load(&id, Split::Train, &emc_tests::local_options()).unwrap();
    assert_eq!(train.len(), 6);
    assert_eq!(train.shape().to_string(), "3x16x16");
    assert_eq!(train.class_names(), ["n01_cat", "n02_dog"]);
    assert_eq!(train.label_histogram(), [3, 3]);
    let img = train.image_f32(0);
    assert!(img[0] > 150.0 && img[2 * 256] < 60.0, "red image stays red");
    assert_eq!(train.metadata().files.len(), 1);
    assert!(emc_data::load(&id, Split::Test, &emc_tests::local_options()).is_ok());

    std::fs::create_dir_all(root.join("train/n03_empty")).unwrap();
    let err = emc_data::load(&id, Split::Train, &emc_tests::local_options()).unwrap_err();
    assert!(matches!(err, DataError::EmptyClass { .. }), "{err}");
    assert!(err.to_string().contains("n03_empty"));
    std::fs::write(root.join("train/n03_empty/broken.jpg"), b"not a jpeg").unwrap();
    let err = emc_data::load(&id, Split::Train, &emc_tests::local_options()).unwrap_err();
    assert!(matches!(err, DataError::Image { .. }), "{err}");
    assert!(err.to_string().contains("broken.jpg"));
}

/// An IDX image file with the header's sizes and one byte per value.
fn idx_images(n: u32, rows: u32, cols: u32) -> Vec<u8> {
    let mut b = [0x803u32, n, rows, cols]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect::<Vec<u8>>();
    b.extend((0..n as usize * rows as usize * cols as usize).map(|i| (i * 7 % 256) as u8));
    b
}

/// An IDX label file holding `labels`.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = [0x801u32, labels.len() as u32]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    b.extend_from_slice(labels);
    b
}

/// Loads the MNIST train split from `dir`, which holds the two named files.
fn load_mnist_train(dir: &Path) -> DataError {
    DatasetId::Mnist
        .load_from_dir(dir, Split::Train)
        .expect_err("a degenerate split must not load")
}

// Regression: a header saying 0 images made `emc measure` panic in the search's data
// preparation; one saying 0 rows (or 0 columns) measured `EMC 1` and verified OK.
#[test]
fn idx_headers_of_zero_images_rows_or_columns_are_refused_by_name() {
    for (n, rows, cols, found) in [
        (0, 28, 28, "0 samples"),
        (20, 0, 28, "images of 1x0x28"),
        (20, 28, 0, "images of 1x28x0"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let images = write(
            tmp.path(),
            "train-images-idx3-ubyte",
            &idx_images(n, rows, cols),
        );
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        write(tmp.path(), "train-labels-idx1-ubyte", &idx_labels(&labels));
        let err = load_mnist_train(tmp.path());
        let msg = err.to_string();
        assert!(matches!(err, DataError::Degenerate { .. }), "{msg}");
        assert!(
            msg.contains(&images.display().to_string()) && msg.contains(found),
            "{msg}"
        );
    }
}

#[test]
fn a_split_with_one_class_present_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "train-images-idx3-ubyte", &idx_images(12, 4, 4));
    let labels = write(tmp.path(), "train-labels-idx1-ubyte", &idx_labels(&[3; 12]));
    let msg = load_mnist_train(tmp.path()).to_string();
    assert!(
        msg.contains(&labels.display().to_string())
            && msg.contains("has label 3")
            && msg.contains("at least 2 classes"),
        "{msg}"
    );
    // Two classes present are enough for the loader.
    write(
        tmp.path(),
        "train-labels-idx1-ubyte",
        &idx_labels(&[3, 4].repeat(6)),
    );
    let ds = DatasetId::Mnist
        .load_from_dir(tmp.path(), Split::Train)
        .unwrap()
        .unwrap();
    assert_eq!(ds.len(), 12);
    // An image folder with one class folder.
    let root = tmp.path().join("one-class");
    std::fs::create_dir_all(root.join("n01_cat")).unwrap();
    image::RgbImage::new(8, 8)
        .save(root.join("n01_cat/0.png"))
        .unwrap();
    let id = DatasetId::Folder(format!("{}@8", root.display()).parse().unwrap());
    let err = emc_data::load(&id, Split::Train, &emc_tests::local_options()).unwrap_err();
    assert!(
        matches!(err, DataError::Degenerate { .. })
            && err.to_string().contains("a single class (`n01_cat`)"),
        "{err}"
    );
}

// Regression: sizes whose product overflows panicked (debug) or wrapped to a small size
// that a header-only file matched (release).
#[test]
fn idx_header_sizes_that_overflow_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let header: Vec<u8> = [0x803u32, 1 << 16, 1 << 24, 1 << 24]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    let i = write(tmp.path(), "images", &header);
    let l = write(tmp.path(), "labels", &idx_labels(&[0; 4]));
    let err = load_pair(&i, &l).unwrap_err();
    assert!(
        matches!(err, DataError::Format { .. })
            && err.to_string().contains("65536 x 16777216 x 16777216"),
        "{err}"
    );
}

// Regression: a directory under a data file's name was skipped, and the dataset reported as
// "not found".
#[test]
fn a_directory_in_place_of_a_data_file_is_named_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    let images = tmp.path().join("train-images-idx3-ubyte");
    std::fs::create_dir(&images).unwrap();
    write(tmp.path(), "train-labels-idx1-ubyte", &idx_labels(&[0, 1]));
    let err = load_mnist_train(tmp.path());
    assert!(matches!(err, DataError::IsDirectory { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!("{}: is a directory; expected a data file", images.display())
    );
    for (id, name) in [
        ("cifar100", "train.bin"),
        ("cifar10", "data_batch_1.bin"),
        ("cifar10-subset", "data_batch_1.bin"),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for k in 2..=5 {
            write(tmp.path(), &format!("data_batch_{k}.bin"), &[0; 3073]);
        }
        let err = id
            .parse::<DatasetId>()
            .unwrap()
            .load_from_dir(tmp.path(), Split::Train)
            .unwrap_err();
        assert!(matches!(err, DataError::IsDirectory { .. }), "{id}: {err}");
        assert!(
            err.to_string().contains(&dir.display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn an_empty_data_directory_is_refused_by_the_variable_name() {
    let opts = emc_tests::local_options().with_data_dir(Some(PathBuf::new()));
    let err = emc_data::load(&DatasetId::Mnist, Split::Train, &opts).unwrap_err();
    assert!(matches!(err, DataError::DataDir { .. }), "{err}");
    assert!(
        err.to_string().contains("EMC_DATA_DIR is set but empty"),
        "{err}"
    );
}
