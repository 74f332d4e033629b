//! Properties of the data variants: determinism per seed, nesting, per-sample random
//! labels, relabelled class subsets, stated moments of random inputs, exact resizing.

use emc_data::{ClassSelection, DatasetId, Pixels, RandomInputs, Split, Variant};
use emc_tests::{generated, load_real};

#[test]
fn nested_subsets_are_prefixes_and_deterministic() {
    let ds = generated(500, 10, 1, 4);
    for balanced in [false, true] {
        let small = ds.nested_subset(50, 7, balanced).unwrap();
        let large = ds.nested_subset(200, 7, balanced).unwrap();
        assert_eq!(small.labels(), &large.labels()[..50]);
        assert_eq!(small.image_f32(49), large.image_f32(49));
        assert_eq!(
            ds.nested_subset(200, 7, balanced).unwrap(),
            large,
            "same seed, same subset"
        );
        let other = ds.nested_subset(200, 8, balanced).unwrap();
        assert_ne!(
            other.labels(),
            large.labels(),
            "different seed, different order"
        );
    }
    let sub = ds.nested_subset(50, 7, false).unwrap();
    let v = &sub.metadata().variants;
    assert_eq!((v[0].spec.as_str(), v[0].seed), ("subset:50", Some(7)));
    assert!(ds.nested_subset(501, 0, false).is_err());
}

#[test]
fn balanced_prefixes_differ_by_at_most_one_per_class() {
    let ds = generated(1000, 10, 1, 2).with_label_noise(0.5, 3).unwrap(); // uneven classes
    let order = ds.nested_order(11, true);
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "a permutation");
    for n in [10, 37, 80, 95] {
        let h = ds.nested_subset(n, 11, true).unwrap().label_histogram();
        let (lo, hi) = (h.iter().min().unwrap(), h.iter().max().unwrap());
        assert!(hi - lo <= 1, "n={n}: {h:?}");
    }
}

#[test]
fn random_labels_stay_with_their_sample_in_every_subset() {
    let ds = generated(400, 10, 1, 3);
    let random = ds.clone().with_random_labels(5).unwrap();
    assert_eq!(random, ds.clone().with_random_labels(5).unwrap());
    assert_ne!(
        random.labels(),
        ds.clone().with_random_labels(6).unwrap().labels()
    );
    // Roughly uniform, and unrelated to the true label (agreement near 1/10).
    let agree = random
        .labels()
        .iter()
        .zip(ds.labels())
        .filter(|(a, b)| a == b)
        .count();
    assert!((15..=70).contains(&agree), "agreement {agree}/400");
    let order = ds.nested_order(1, false);
    let sub_small = random.nested_subset(30, 1, false).unwrap();
    let sub_large = random.nested_subset(300, 1, false).unwrap();
    for (k, &i) in order[..30].iter().enumerate() {
        assert_eq!(sub_small.labels()[k], random.labels()[i]);
        assert_eq!(sub_large.labels()[k], random.labels()[i]);
    }
}

#[test]
fn label_noise_replaces_exactly_the_stated_fraction_by_other_classes() {
    let ds = generated(1000, 10, 1, 2);
    let noisy = ds.clone().with_label_noise(0.3, 9).unwrap();
    let changed = noisy
        .labels()
        .iter()
        .zip(ds.labels())
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(changed, 300);
    assert_eq!(noisy.metadata().variants[0].spec, "noise:0.3");
    assert!(ds.clone().with_label_noise(1.2, 0).is_err());
}

#[test]
fn class_subsets_are_relabelled_in_selection_order() {
    let ds = generated(100, 10, 1, 2);
    let first = ds.clone().with_classes(&ClassSelection::First(3)).unwrap();
    assert_eq!(first.len(), 30);
    assert_eq!(first.num_classes(), 3);
    assert_eq!(first.label_histogram(), [10, 10, 10]);
    let list = ds
        .clone()
        .with_classes(&ClassSelection::List(vec![7, 2]))
        .unwrap();
    assert_eq!(list.class_names(), ["class7", "class2"]);
    // Sample 2 (class 2) comes first and is now label 1; sample 7 (class 7) is label 0.
    assert_eq!(&list.labels()[..2], &[1, 0]);
    assert_eq!(list.image_f32(0), ds.image_f32(2));
    assert!(ds
        .clone()
        .with_classes(&ClassSelection::List(vec![3, 10]))
        .is_err());
    assert!(ds.with_classes(&ClassSelection::List(vec![3, 3])).is_err());
}

#[test]
fn random_inputs_have_the_stated_moments() {
    let Some(mnist) = load_real(DatasetId::Mnist, Split::Train) else {
        return;
    };
    let mnist = mnist.nested_subset(5000, 0, false).unwrap();
    let (mean, std) = mnist.channel_stats()[0];
    let g = mnist
        .clone()
        .with_random_inputs(RandomInputs::Gaussian, 1)
        .unwrap();
    let (gm, gs) = g.channel_stats()[0];
    assert!(
        (gm - mean).abs() < 0.05 * std,
        "gaussian mean {gm} vs {mean}"
    );
    assert!((gs / std - 1.0).abs() < 0.01, "gaussian std {gs} vs {std}");
    assert_eq!(g.labels(), mnist.labels());
    let u = mnist
        .clone()
        .with_random_inputs(RandomInputs::Uniform, 1)
        .unwrap();
    let (um, us) = u.channel_stats()[0];
    assert!((um - 127.5).abs() < 0.5, "uniform mean {um}");
    assert!((us - 255.0 / 12f64.sqrt()).abs() < 0.5, "uniform std {us}");
    // Shuffled pixels: every image keeps its multiset of values, all under one permutation.
    let s = mnist
        .clone()
        .with_random_inputs(RandomInputs::ShuffledPixels, 1)
        .unwrap();
    assert!(matches!(s.pixels(), Pixels::U8(_)));
    let (mut a, mut b) = (mnist.image_f32(3), s.image_f32(3));
    assert_ne!(a, b);
    a.sort_by(f32::total_cmp);
    b.sort_by(f32::total_cmp);
    assert_eq!(a, b);
    assert_eq!(
        s,
        mnist
            .with_random_inputs(RandomInputs::ShuffledPixels, 1)
            .unwrap()
    );
}

#[test]
fn resize_averages_areas_and_grayscale_uses_luma() {
    let ds = generated(3, 2, 3, 4);
    let small = ds.clone().resized(2, 2).unwrap();
    assert_eq!(small.shape().to_string(), "3x2x2");
    let src = ds.image_f32(1);
    let want = (src[0] + src[1] + src[4] + src[5]) / 4.0;
    assert!((small.image_f32(1)[0] - want).abs() < 1e-4);
    // 4 -> 2 -> 1 equals the image mean per channel.
    let one = small.resized(1, 1).unwrap();
    let mean0: f32 = src[..16].iter().sum::<f32>() / 16.0;
    assert!((one.image_f32(1)[0] - mean0).abs() < 1e-3);
    let grey = ds.clone().grayscale().unwrap();
    assert_eq!(grey.shape().channels, 1);
    let want = 0.299 * src[5] + 0.587 * src[16 + 5] + 0.114 * src[32 + 5];
    assert!((grey.image_f32(1)[5] - want).abs() < 1e-3);
    let specs: Vec<String> = Variant::apply_all(
        &["resize:2".parse().unwrap(), "grayscale".parse().unwrap()],
        ds,
        0,
    )
    .unwrap()
    .metadata()
    .variants
    .iter()
    .map(|v| v.spec.clone())
    .collect();
    assert_eq!(specs, ["resize:2", "grayscale"]);
}

#[test]
fn mnist_downsamples_28_14_7() {
    let Some(mnist) = load_real(DatasetId::Mnist, Split::Test) else {
        return;
    };
    let first = mnist.select(&[0]).unwrap();
    let m14 = first.clone().resized(14, 14).unwrap();
    let m7 = m14.clone().resized(7, 7).unwrap();
    let direct = first.clone().resized(7, 7).unwrap();
    for (a, b) in m7.image_f32(0).iter().zip(direct.image_f32(0)) {
        assert!((a - b).abs() < 1e-3);
    }
    let img = first.image_f32(0);
    let sum: f32 = img.iter().sum();
    let sum7: f32 = m7.image_f32(0).iter().sum::<f32>() * 16.0;
    assert!(
        (sum - sum7).abs() < 0.5,
        "area averaging keeps the total mass"
    );
}
