//! Dataset names: the built-in datasets, tables, image folders and Hub tables a user can
//! name (`mnist`, `cifar10-subset`, `tabular:wine`, `folder:PATH`, ...), parsed and printed
//! in one grammar, with what each holds when that is known without reading a file.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cifar::Cifar100Labels;
use crate::dataset::ImageShape;
use crate::error::{DataError, Result};
use crate::folder::FolderOptions;
use crate::hub::{self, HubContent, HubDataset, HubImages, HubTable};
use crate::names;
use crate::tabular::{self, KnownTable};

/// A dataset we know how to load.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum DatasetId {
    /// MNIST (LeCun, Cortes, Burges).
    Mnist,
    /// Fashion-MNIST (Xiao, Rasul, Vollgraf 2017).
    FashionMnist,
    /// CIFAR-10, the five official training batches and the test batch.
    Cifar10,
    /// CIFAR-10 from whatever batch files a `cifar10-jpeg` folder holds (the lossy copy in
    /// `shared/data`: 20,000 train, 10,000 test, pixels decoded from JPEG).
    Cifar10Jpeg,
    /// CIFAR-10 from the bit-exact subset folder (4,000 train, 1,000 test).
    Cifar10Subset,
    /// CIFAR-100 with fine or coarse labels.
    Cifar100(Cifar100Labels),
    /// An ImageNet-style folder: one sub-folder per class (optionally under `train/` and
    /// `val/`), images resized to a square resolution.
    Folder(FolderOptions),
    /// A known UCI table, read from `tabular/` under the data directory (see
    /// [`crate::tabular`]: seeded stratified holdout as the test split).
    Table(KnownTable),
    /// Any tabular CSV file (`tabular:PATH`), read like a known table; or, when the path
    /// starts with [`hub::HUB_TABLE_PREFIX`], a parquet table on the Hugging Face Hub
    /// (`tabular:hub:OWNER/NAME[/PATH.parquet][#LABEL]`, see [`HubTable`] and
    /// [`DatasetId::hub_table`]).
    TableFile(PathBuf),
}

/// The names [`DatasetId::from_str`] accepts (for messages).
pub const DATASET_NAMES: &str = "mnist, fashion-mnist, cifar10, cifar10-jpeg, cifar10-subset, \
cifar100 (fine labels), cifar100-coarse, folder:PATH[@RES] (ImageNet-style class folders), \
wine, breast-cancer, digits, wine-quality-red (UCI tables), tabular:PATH (a CSV file, label last), \
tabular:hub:OWNER/NAME[/PATH.parquet][#LABEL] (a parquet table on the Hugging Face Hub)";

impl FromStr for DatasetId {
    type Err = DataError;
    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "mnist" => DatasetId::Mnist,
            "fashion-mnist" | "fashion_mnist" | "fmnist" => DatasetId::FashionMnist,
            "cifar10" | "cifar-10" => DatasetId::Cifar10,
            "cifar10-jpeg" => DatasetId::Cifar10Jpeg,
            "cifar10-subset" => DatasetId::Cifar10Subset,
            "cifar100" | "cifar-100" | "cifar100-fine" => DatasetId::Cifar100(Cifar100Labels::Fine),
            "cifar100-coarse" => DatasetId::Cifar100(Cifar100Labels::Coarse),
            _ => {
                if let Some(rest) = s.strip_prefix("folder:") {
                    return Ok(DatasetId::Folder(rest.parse()?));
                }
                if let Some(rest) = s.strip_prefix("tabular:").filter(|r| !r.is_empty()) {
                    if rest.starts_with(hub::HUB_TABLE_PREFIX) {
                        rest.parse::<HubTable>()?;
                    }
                    return Ok(DatasetId::TableFile(PathBuf::from(rest)));
                }
                if let Some(t) = KnownTable::from_name(&s.to_ascii_lowercase()) {
                    return Ok(DatasetId::Table(t));
                }
                return Err(DataError::UnknownDataset {
                    name: s.to_string(),
                    expected: DATASET_NAMES.to_string(),
                });
            }
        })
    }
}

impl fmt::Display for DatasetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatasetId::Mnist => f.write_str("mnist"),
            DatasetId::FashionMnist => f.write_str("fashion-mnist"),
            DatasetId::Cifar10 => f.write_str("cifar10"),
            DatasetId::Cifar10Jpeg => f.write_str("cifar10-jpeg"),
            DatasetId::Cifar10Subset => f.write_str("cifar10-subset"),
            DatasetId::Cifar100(Cifar100Labels::Fine) => f.write_str("cifar100"),
            DatasetId::Cifar100(Cifar100Labels::Coarse) => f.write_str("cifar100-coarse"),
            DatasetId::Folder(o) => write!(f, "folder:{o}"),
            DatasetId::Table(t) => write!(f, "{t}"),
            DatasetId::TableFile(p) => write!(f, "tabular:{}", p.display()),
        }
    }
}

impl From<DatasetId> for String {
    fn from(d: DatasetId) -> String {
        d.to_string()
    }
}

impl TryFrom<String> for DatasetId {
    type Error = DataError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl DatasetId {
    /// Folder names tried under a data directory, in order.
    pub fn folder_names(&self) -> &'static [&'static str] {
        match self {
            DatasetId::Mnist => &["mnist", "MNIST/raw", "MNIST"],
            DatasetId::FashionMnist => &["fashion-mnist", "FashionMNIST/raw", "fashion_mnist"],
            DatasetId::Cifar10 => &["cifar10", "cifar-10-batches-bin"],
            DatasetId::Cifar10Jpeg => &["cifar10-jpeg"],
            DatasetId::Cifar10Subset => &["cifar10-subset"],
            DatasetId::Cifar100(_) => &["cifar100", "cifar-100-binary"],
            DatasetId::Table(_) => &[tabular::TABULAR_FOLDER],
            DatasetId::Folder(_) | DatasetId::TableFile(_) => &[],
        }
    }

    /// Whether the samples are rows of a table (features, not images).
    pub fn is_table(&self) -> bool {
        matches!(self, DatasetId::Table(_) | DatasetId::TableFile(_))
    }

    /// The Hub table this names (`tabular:hub:...`), checked; `None` for any other dataset.
    pub fn hub_table(&self) -> Option<Result<HubTable>> {
        match self {
            DatasetId::TableFile(path) => path
                .to_str()
                .filter(|p| p.starts_with(hub::HUB_TABLE_PREFIX))
                .map(str::parse),
            _ => None,
        }
    }

    /// The Hub repository holding this dataset's parquet files, if there is one: the
    /// conversions of the built-in image datasets, and a table named on the Hub.
    pub fn hub(&self) -> Option<HubDataset> {
        // One parquet file per split, `<dir>/{train,test}-00000-of-00001.parquet`.
        let images =
            |repo: &str, dir: &str, columns: (&'static str, &'static str), shape, names| {
                let (channels, side) = shape;
                HubDataset {
                    repo: repo.to_string(),
                    train_file: format!("{dir}/train-00000-of-00001.parquet"),
                    test_file: format!("{dir}/test-00000-of-00001.parquet"),
                    content: HubContent::Images(HubImages {
                        image_column: columns.0,
                        label_column: columns.1,
                        channels,
                        height: side,
                        width: side,
                        class_names: names,
                    }),
                }
            };
        let grey = |repo, dir, names| images(repo, dir, ("image", "label"), (1, 28), names);
        let cifar = |repo, dir, label, names| images(repo, dir, ("img", label), (3, 32), names);
        match self {
            DatasetId::Mnist => Some(grey("ylecun/mnist", "mnist", &names::MNIST)),
            DatasetId::FashionMnist => Some(grey(
                "zalando-datasets/fashion_mnist",
                "fashion_mnist",
                &names::FASHION_MNIST,
            )),
            DatasetId::Cifar10 => Some(cifar(
                "uoft-cs/cifar10",
                "plain_text",
                "label",
                &names::CIFAR10,
            )),
            DatasetId::Cifar100(Cifar100Labels::Fine) => Some(cifar(
                "uoft-cs/cifar100",
                "cifar100",
                "fine_label",
                &names::CIFAR100_FINE,
            )),
            DatasetId::Cifar100(Cifar100Labels::Coarse) => Some(cifar(
                "uoft-cs/cifar100",
                "cifar100",
                "coarse_label",
                &names::CIFAR100_COARSE,
            )),
            DatasetId::TableFile(_) => self.hub_table()?.ok().map(|t| t.dataset()),
            DatasetId::Cifar10Jpeg
            | DatasetId::Cifar10Subset
            | DatasetId::Folder(_)
            | DatasetId::Table(_) => None,
        }
    }
}

/// What a built-in dataset's training split holds, known without reading a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitShape {
    /// Image geometry.
    pub image: ImageShape,
    /// Number of classes.
    pub classes: usize,
    /// Number of samples.
    pub len: usize,
}

impl DatasetId {
    /// The training split's image shape, class count and size, without reading anything
    /// (for plans and cost estimates); `cifar10-jpeg` counts the 20,000 images of the copy
    /// in `shared/data`. `None` for an image folder, known only from its files.
    pub fn train_shape(&self) -> Option<SplitShape> {
        let (channels, side, classes, len) = match self {
            DatasetId::Mnist | DatasetId::FashionMnist => (1, 28, 10, 60_000),
            DatasetId::Cifar10 => (3, 32, 10, 50_000),
            DatasetId::Cifar10Jpeg => (3, 32, 10, 20_000),
            DatasetId::Cifar10Subset => (3, 32, 10, 4_000),
            DatasetId::Cifar100(Cifar100Labels::Fine) => (3, 32, 100, 50_000),
            DatasetId::Cifar100(Cifar100Labels::Coarse) => (3, 32, 20, 50_000),
            DatasetId::Table(t) => {
                let shape = t.shape();
                return Some(SplitShape {
                    image: ImageShape {
                        channels: shape.features,
                        height: 1,
                        width: 1,
                    },
                    classes: shape.classes,
                    len: shape.train,
                });
            }
            DatasetId::Folder(_) | DatasetId::TableFile(_) => return None,
        };
        Some(SplitShape {
            image: ImageShape {
                channels,
                height: side,
                width: side,
            },
            classes,
            len,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::dataset::Split;
    use crate::source::{load, LoadOptions};

    #[test]
    fn train_shapes_agree_with_the_hub_conversions_and_class_names() {
        let shape = |name: &str| name.parse::<DatasetId>().unwrap().train_shape().unwrap();
        for name in [
            "mnist",
            "fashion-mnist",
            "cifar10",
            "cifar100",
            "cifar100-coarse",
        ] {
            let id: DatasetId = name.parse().unwrap();
            let (known, hub) = (shape(name), id.hub().unwrap());
            let HubContent::Images(hub) = hub.content else {
                panic!("{name}: not images")
            };
            let hub_image = ImageShape {
                channels: hub.channels,
                height: hub.height,
                width: hub.width,
            };
            assert_eq!(known.image, hub_image, "{name}");
            assert_eq!(known.classes, hub.class_names.len(), "{name}");
        }
        assert_eq!(shape("mnist").len, 60_000);
        assert_eq!(shape("cifar10").len, 50_000);
        assert_eq!(shape("cifar10-subset").len, 4_000);
        assert_eq!(shape("cifar10-jpeg").len, 20_000);
        let folder: DatasetId = "folder:/nowhere".parse().unwrap();
        assert_eq!(folder.train_shape(), None);
    }

    #[test]
    fn hub_tables_are_named_after_tabular_and_round_trip() {
        let id: DatasetId = "tabular:hub:me/wine/wine.parquet#target".parse().unwrap();
        assert_eq!(id.to_string(), "tabular:hub:me/wine/wine.parquet#target");
        assert_eq!(id.to_string().parse::<DatasetId>().unwrap(), id);
        let hd = id.hub().unwrap();
        assert_eq!(
            (hd.repo.as_str(), hd.file(Split::Test), hd.one_file()),
            ("me/wine", "wine.parquet", true)
        );
        assert_eq!(
            hd.content,
            HubContent::Table {
                label_column: Some("target".into())
            }
        );
        let two: DatasetId = "tabular:hub:me/wine".parse().unwrap();
        let hd = two.hub().unwrap();
        assert_eq!(hd.train_file, "data/train-00000-of-00001.parquet");
        assert_eq!(hd.test_file, "data/test-00000-of-00001.parquet");
        assert_eq!(hd.content, HubContent::Table { label_column: None });
        let named: DatasetId = "tabular:hub:me/wine/splits/{split}.parquet"
            .parse()
            .unwrap();
        let hd = named.hub().unwrap();
        assert_eq!(
            (hd.train_file.as_str(), hd.test_file.as_str()),
            ("splits/train.parquet", "splits/test.parquet")
        );
        // A table file is not on the Hub, and reads nothing from a data directory.
        let local: DatasetId = "tabular:data/wine.csv".parse().unwrap();
        assert!(local.hub().is_none() && local.hub_table().is_none());
        assert!(two
            .load_from_dir(Path::new("/nowhere"), Split::Train)
            .unwrap()
            .is_none());
    }

    #[test]
    fn malformed_hub_table_names_say_what_is_wrong() {
        for (name, why) in [
            ("tabular:hub:", "OWNER/NAME"),
            ("tabular:hub:me", "OWNER/NAME"),
            ("tabular:hub:me/", "OWNER/NAME"),
            ("tabular:hub:me/wi ne", "OWNER/NAME"),
            ("tabular:hub:me/wine#", "nothing after `#`"),
            ("tabular:hub:me/wine/wine.csv", "`.parquet` file"),
            ("tabular:hub:me/wine/../x.parquet", "`..` segment"),
            ("tabular:hub:me/wine//x.parquet", "empty or `..` segment"),
        ] {
            let err = name.parse::<DatasetId>().unwrap_err().to_string();
            assert!(
                err.contains(why) && err.contains("tabular:hub:OWNER/NAME[/PATH.parquet][#LABEL]"),
                "{name}: {err}"
            );
        }
        // Built without parsing, the name is checked when loaded.
        let id = DatasetId::TableFile(PathBuf::from("hub:nobody"));
        let err = load(&id, Split::Train, &LoadOptions::from_env()).unwrap_err();
        assert!(matches!(err, DataError::UnknownDataset { .. }), "{err}");
    }
}
