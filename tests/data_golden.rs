//! Golden tests on the real datasets in `../shared/data`: counts, first labels, shapes,
//! value ranges, file digests and known channel statistics.

use emc_data::{load, DataError, DatasetId, Origin, Pixels, Split};
use emc_tests::{data_dir, load_real, local_options, real_folder};

/// The digest our loader records equals the one in `SHA256SUMS`.
fn assert_digests_match_sums(ds: &emc_data::Dataset) {
    let sums = std::fs::read_to_string(data_dir().join("SHA256SUMS")).expect("SHA256SUMS");
    for f in &ds.metadata().files {
        let name = f.path.file_name().unwrap().to_string_lossy().into_owned();
        let folder = f
            .path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let key = format!("{folder}/{name}");
        let line = sums
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(key.as_str()))
            .unwrap_or_else(|| panic!("{key} not in SHA256SUMS"));
        assert_eq!(line.split_whitespace().next().unwrap(), f.sha256, "{key}");
    }
}

#[test]
fn mnist_train_matches_published_counts_and_first_labels() {
    let Some(ds) = load_real(DatasetId::Mnist, Split::Train) else {
        return;
    };
    assert_eq!(ds.len(), 60_000);
    assert_eq!(ds.shape().to_string(), "1x28x28");
    assert_eq!(
        ds.label_histogram(),
        [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    );
    assert_eq!(&ds.labels()[..10], &[5, 0, 4, 1, 9, 2, 1, 3, 1, 4]);
    assert!(matches!(ds.pixels(), Pixels::U8(_)));
    assert!(matches!(ds.metadata().origin, Origin::Directory { .. }));
    assert_eq!(ds.metadata().files.len(), 2);
    assert_digests_match_sums(&ds);
    // torchvision's well-known normalisation constants for MNIST: mean 0.1307, std 0.3081.
    let (mean, std) = ds.channel_stats()[0];
    assert!(
        (mean / 255.0 - 0.1307).abs() < 1e-4,
        "mean {}",
        mean / 255.0
    );
    assert!((std / 255.0 - 0.3081).abs() < 1e-4, "std {}", std / 255.0);
}

#[test]
fn mnist_test_split() {
    let Some(ds) = load_real(DatasetId::Mnist, Split::Test) else {
        return;
    };
    assert_eq!(ds.len(), 10_000);
    // First test digits of MNIST: 7 2 1 0 4 1 4 9 5 9.
    assert_eq!(&ds.labels()[..10], &[7, 2, 1, 0, 4, 1, 4, 9, 5, 9]);
    let max = ds.pixels().to_f32().into_iter().fold(0f32, f32::max);
    assert_eq!(max, 255.0);
}

#[test]
fn fashion_mnist_is_balanced() {
    let Some(train) = load_real(DatasetId::FashionMnist, Split::Train) else {
        return;
    };
    let Some(test) = load_real(DatasetId::FashionMnist, Split::Test) else {
        return;
    };
    assert_eq!(train.label_histogram(), vec![6000; 10]);
    assert_eq!(test.label_histogram(), vec![1000; 10]);
    assert_eq!(train.class_names()[9], "Ankle boot");
    assert_digests_match_sums(&train);
    let (mean, _) = train.channel_stats()[0];
    assert!(
        (mean / 255.0 - 0.2860).abs() < 1e-3,
        "mean {}",
        mean / 255.0
    );
}

#[test]
fn cifar10_subset_first_test_labels() {
    let Some(test) = load_real(DatasetId::Cifar10Subset, Split::Test) else {
        return;
    };
    assert_eq!(test.len(), 1000);
    assert_eq!(test.shape().to_string(), "3x32x32");
    assert_eq!(&test.labels()[..10], &[3, 8, 8, 0, 6, 6, 1, 6, 3, 1]);
    assert_eq!(test.class_names()[0], "airplane");
    let Some(train) = load_real(DatasetId::Cifar10Subset, Split::Train) else {
        return;
    };
    assert_eq!(train.len(), 4000);
    assert_digests_match_sums(&train);
}

#[test]
fn cifar10_jpeg_holds_two_batches_in_canonical_order() {
    let Some(train) = load_real(DatasetId::Cifar10Jpeg, Split::Train) else {
        return;
    };
    assert_eq!(train.len(), 20_000);
    let first = train.select(&(0..10_000).collect::<Vec<_>>()).unwrap();
    assert_eq!(
        first.label_histogram(),
        [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    );
    // Same labels as the exact subset: both are data_batch_1 in canonical order.
    let Some(subset) = load_real(DatasetId::Cifar10Subset, Split::Train) else {
        return;
    };
    assert_eq!(&train.labels()[..4000], subset.labels());
    let Some(test) = load_real(DatasetId::Cifar10Jpeg, Split::Test) else {
        return;
    };
    assert_eq!(test.len(), 10_000);
}

#[test]
fn full_cifar10_name_refuses_partial_copies() {
    // `cifar10` means all five official batches; shared/data has none of them under that
    // name, and the copies are not silently taken for the full dataset.
    if real_folder("cifar10-jpeg").is_none() {
        return;
    }
    let err = DatasetId::Cifar10
        .load_from_dir(&data_dir().join("cifar10-jpeg"), Split::Train)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("data_batch_3.bin") && msg.contains("cifar10-jpeg"),
        "{msg}"
    );
    // And with no folder at all, the error lists where it looked and how to fix it.
    let err = load(&DatasetId::Cifar10, Split::Train, &local_options()).unwrap_err();
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("emc data fetch cifar10") && msg.contains("EMC_DATA_DIR"),
        "{msg}"
    );
    assert!(msg.contains("HF_HUB_OFFLINE"), "{msg}");
}

#[test]
fn tensors_are_normalised_per_channel() {
    let Some(ds) = load_real(DatasetId::Cifar10Subset, Split::Test) else {
        return;
    };
    let norm = emc_data::Normalization::from_dataset(&ds);
    let t = ds.to_tensors(&candle_core_device(), &norm, false).unwrap();
    assert_eq!(t.images.dims(), &[1000, 3, 32, 32]);
    let per_channel = t.images.transpose(0, 1).unwrap().flatten_from(1).unwrap();
    let mean: Vec<f32> = per_channel.mean(1).unwrap().to_vec1().unwrap();
    for m in mean {
        assert!(m.abs() < 1e-3, "channel mean {m}");
    }
    let flat = ds
        .to_tensors(
            &candle_core_device(),
            &emc_data::Normalization::UnitRange,
            true,
        )
        .unwrap();
    assert_eq!(flat.images.dims(), &[1000, 3072]);
    let max: f32 = flat.images.max_all().unwrap().to_scalar().unwrap();
    assert!(max <= 1.0 && max > 0.9);
    assert_eq!(flat.labels.to_vec1::<u32>().unwrap()[..3], [3, 8, 8]);
}

fn candle_core_device() -> candle_core::Device {
    candle_core::Device::Cpu
}
