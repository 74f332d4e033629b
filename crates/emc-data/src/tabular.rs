//! Tabular classification data from CSV files (plain or gzipped): numeric feature columns,
//! the label in the last column.
//!
//! Three layouts are recognised from the first line: a header row of column names (any
//! cell that is not a number, e.g. UCI Wine Quality), scikit-learn's form (the first line
//! is `N,F[,class names...]`, then N rows of F features and an integer label, e.g.
//! `breast_cancer.csv`), or no header (every line a sample, e.g. `digits.csv.gz`). Labels
//! that are class indices of a scikit-learn header name their class; any other labels
//! become classes in sorted order (numerically when every label is an integer).
//!
//! A table is one file with no split of its own, so the test split is a seeded, stratified
//! holdout: per class, [`TEST_FRACTION`] of its rows (rounded, at least one row left for
//! training) drawn with [`SPLIT_SEED`]; both splits keep the file's row order. A sample is
//! stored as `F` channels of a 1×1 image, so the per-channel normalisation every
//! measurement computes over its training split is a per-feature standardisation; image
//! variants (resize, grayscale) refuse such data.
//!
//! The same tables stored as parquet on the Hugging Face Hub (`tabular:hub:...`, see
//! [`crate::hub::HubTable`]) are read into the same [`Dataset`]: one file gets the same
//! holdout; a train and a test file are each their own split.

use std::fmt;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, FileDigest, ImageShape, Metadata, Origin, Pixels, Split};
use crate::error::{DataError, Result};
use crate::idx::read_maybe_gz;

mod from_parquet;

pub use from_parquet::DEFAULT_LABEL;
pub(crate) use from_parquet::{load_parquet_split, open_parquet, parquet_error};

/// Fraction of each class's rows held out as the test split.
pub const TEST_FRACTION: f64 = 0.2;

/// Seed of the holdout draw (fixed: the split is part of the dataset, not of a run).
pub const SPLIT_SEED: u64 = 0;

/// Folder under a data directory that holds the known tables.
pub const TABULAR_FOLDER: &str = "tabular";

/// A tabular dataset known by name, read from [`TABULAR_FOLDER`] under the data directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum KnownTable {
    /// UCI Wine (Aeberhard, Forina 1991): 178 wines × 13 features, 3 cultivars.
    Wine,
    /// UCI Breast Cancer Wisconsin Diagnostic (Wolberg, Street, Mangasarian 1995): 569 × 30,
    /// malignant or benign.
    BreastCancer,
    /// UCI Optical Recognition of Handwritten Digits (Alpaydin, Kaynak 1998): 1,797 × 64
    /// pixel counts 0–16, 10 digits.
    Digits,
    /// UCI Wine Quality, red (Cortez, Cerdeira, Almeida, Matos, Reis 2009): 1,599 × 11,
    /// quality scores 3–8 as 6 classes.
    WineQualityRed,
}

/// What a known table holds, without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableShape {
    /// Feature columns.
    pub features: usize,
    /// Classes.
    pub classes: usize,
    /// Rows in the file.
    pub rows: usize,
    /// Rows in the training split (the rest are the test split).
    pub train: usize,
}

impl KnownTable {
    /// Every known table.
    pub const ALL: [KnownTable; 4] = [
        KnownTable::Wine,
        KnownTable::BreastCancer,
        KnownTable::Digits,
        KnownTable::WineQualityRed,
    ];

    /// The dataset name.
    pub fn name(self) -> &'static str {
        match self {
            KnownTable::Wine => "wine",
            KnownTable::BreastCancer => "breast-cancer",
            KnownTable::Digits => "digits",
            KnownTable::WineQualityRed => "wine-quality-red",
        }
    }

    /// The file name, as scikit-learn (or linfa-datasets) ships it.
    pub fn file(self) -> &'static str {
        match self {
            KnownTable::Wine => "wine_data.csv",
            KnownTable::BreastCancer => "breast_cancer.csv",
            KnownTable::Digits => "digits.csv.gz",
            KnownTable::WineQualityRed => "winequality-red.csv.gz",
        }
    }

    /// Its size (checked against the real files by the tests).
    pub fn shape(self) -> TableShape {
        let (features, classes, rows, train) = match self {
            KnownTable::Wine => (13, 3, 178, 142),
            KnownTable::BreastCancer => (30, 2, 569, 456),
            KnownTable::Digits => (64, 10, 1797, 1438),
            KnownTable::WineQualityRed => (11, 6, 1599, 1278),
        };
        TableShape {
            features,
            classes,
            rows,
            train,
        }
    }

    /// The citation line for model cards.
    pub fn credit(self) -> &'static str {
        match self {
            KnownTable::Wine => "UCI Wine (Aeberhard, Forina 1991)",
            KnownTable::BreastCancer => {
                "UCI Breast Cancer Wisconsin Diagnostic (Wolberg, Street, Mangasarian 1995)"
            }
            KnownTable::Digits => {
                "UCI Optical Recognition of Handwritten Digits (Alpaydin, Kaynak 1998)"
            }
            KnownTable::WineQualityRed => {
                "UCI Wine Quality (Cortez, Cerdeira, Almeida, Matos, Reis 2009)"
            }
        }
    }

    /// Where a user gets the file.
    pub fn source(self) -> &'static str {
        match self {
            KnownTable::WineQualityRed => {
                "the file the crate linfa-datasets ships in `data/`, or the UCI Machine \
                 Learning Repository's winequality-red.csv (semicolons replaced by commas), gzipped"
            }
            _ => "the file scikit-learn ships in `sklearn/datasets/data/`",
        }
    }

    /// The table of this name, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The file in `dir`, or in `dir/tabular/`, when it exists.
    pub fn find(self, dir: &Path) -> Option<PathBuf> {
        [
            dir.join(self.file()),
            dir.join(TABULAR_FOLDER).join(self.file()),
        ]
        .into_iter()
        .find(|p| p.exists())
    }
}

impl fmt::Display for KnownTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole table as read: features row-major, labels as class indices.
#[derive(Debug, Clone, PartialEq)]
struct Table {
    features: Vec<f32>,
    labels: Vec<u32>,
    width: usize,
    class_names: Vec<String>,
}

/// How the first line of a file reads.
enum Layout {
    /// Column names; data from the second line.
    Header(Vec<String>),
    /// scikit-learn's `N,F[,class names]`; data from the second line.
    Sklearn {
        rows: usize,
        features: usize,
        classes: Vec<String>,
    },
    /// No header; data from the first line.
    Bare,
}

/// One CSV record with the 1-based line it starts on.
struct Row {
    line: u64,
    cells: Vec<String>,
}

fn records(path: &Path, bytes: &[u8]) -> Result<Vec<Row>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let mut rows = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            DataError::format(
                path,
                format!("line {line}"),
                format!("unreadable CSV ({e}); expected comma-separated UTF-8 text"),
            )
        })?;
        let line = record.position().map_or(0, |p| p.line());
        // A blank line (e.g. a trailing newline pair) is no sample.
        if record.len() == 1 && record[0].is_empty() {
            continue;
        }
        rows.push(Row {
            line,
            cells: record.iter().map(str::to_string).collect(),
        });
    }
    Ok(rows)
}

fn layout(first: &Row, second: Option<&Row>) -> Layout {
    let numeric = |c: &String| c.parse::<f64>().is_ok();
    let count = |c: &String| c.parse::<usize>().ok();
    if let (Some(n), Some(f), Some(next)) = (
        first.cells.first().and_then(count),
        first.cells.get(1).and_then(count),
        second,
    ) {
        // scikit-learn's header: the next line has F features and a label, and the first
        // line is not itself such a sample.
        if f >= 1 && next.cells.len() == f + 1 && first.cells.len() != f + 1 {
            return Layout::Sklearn {
                rows: n,
                features: f,
                classes: first.cells[2..].to_vec(),
            };
        }
    }
    if first.cells.iter().all(numeric) {
        Layout::Bare
    } else {
        Layout::Header(first.cells.clone())
    }
}

fn parse_table(path: &Path, bytes: &[u8]) -> Result<Table> {
    let rows = records(path, bytes)?;
    let Some(first) = rows.first() else {
        return Err(DataError::format(
            path,
            "file",
            "empty; expected CSV rows of numeric features with the label last",
        ));
    };
    let layout = layout(first, rows.get(1));
    let (data, columns, width, header_classes) = match layout {
        Layout::Header(names) => (&rows[1..], Some(names.clone()), names.len(), None),
        Layout::Sklearn {
            rows: n,
            features,
            classes,
        } => {
            if rows.len() - 1 != n {
                return Err(DataError::format(
                    path,
                    "line 1 (scikit-learn header)",
                    format!(
                        "says {n} samples of {features} features, but {} data rows follow; \
                         expected the counts to agree (is the file truncated?)",
                        rows.len() - 1
                    ),
                ));
            }
            let classes = (!classes.is_empty()).then_some(classes);
            (&rows[1..], None, features + 1, classes)
        }
        Layout::Bare => (&rows[..], None, first.cells.len(), None),
    };
    if width < 2 {
        return Err(DataError::format(
            path,
            format!("line {}", first.line),
            format!("{width} column; expected at least one feature column and the label column"),
        ));
    }
    if data.is_empty() {
        return Err(DataError::format(
            path,
            "file",
            "a header but no data row; expected at least one sample",
        ));
    }
    let column = |j: usize| match &columns {
        Some(names) => format!("column {} (`{}`)", j + 1, names[j]),
        None => format!("column {}", j + 1),
    };
    let features = width - 1;
    let mut values = Vec::with_capacity(data.len() * features);
    let mut raw_labels = Vec::with_capacity(data.len());
    for row in data {
        if row.cells.len() != width {
            return Err(DataError::format(
                path,
                format!("line {}", row.line),
                format!(
                    "{} cells; expected {width} ({features} features and the label), as on \
                     the {}",
                    row.cells.len(),
                    if columns.is_some() {
                        "header row"
                    } else {
                        "first data row"
                    }
                ),
            ));
        }
        for (j, cell) in row.cells[..features].iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v as f32),
                _ => {
                    return Err(DataError::format(
                        path,
                        format!("line {}, {}", row.line, column(j)),
                        format!("`{cell}`; expected a finite number"),
                    ))
                }
            }
        }
        let label = &row.cells[features];
        if label.is_empty() {
            return Err(DataError::format(
                path,
                format!("line {}, {} (label)", row.line, column(features)),
                "missing; expected a class label in the last column",
            ));
        }
        raw_labels.push((row.line, label.clone()));
    }
    let (labels, class_names) = match header_classes {
        Some(names) => {
            let field = |line: u64| format!("line {line}, {} (label)", column(features));
            let labels = raw_labels
                .iter()
                .map(|(line, l)| match l.parse::<usize>() {
                    Ok(k) if k < names.len() => Ok(k as u32),
                    _ => Err(DataError::format(
                        path,
                        field(*line),
                        format!(
                            "`{l}`; expected a class index 0..{} (line 1 names {} classes)",
                            names.len(),
                            names.len()
                        ),
                    )),
                })
                .collect::<Result<Vec<_>>>()?;
            (labels, names)
        }
        None => index_labels(&raw_labels),
    };
    Ok(Table {
        features: values,
        labels,
        width: features,
        class_names,
    })
}

/// Labels to class indices, classes sorted (numerically when every label is an integer).
fn index_labels(raw: &[(u64, String)]) -> (Vec<u32>, Vec<String>) {
    let names = class_names_of(raw.iter().map(|(_, l)| l.as_str()));
    let labels = class_indices(raw.iter().map(|(_, l)| l.as_str()), &names);
    (labels, names)
}

/// The distinct labels, sorted (numerically when every label is an integer).
fn class_names_of<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names: Vec<String> = labels.map(str::to_string).collect();
    names.sort();
    names.dedup();
    if names.iter().all(|n| n.parse::<i64>().is_ok()) {
        names.sort_by_key(|n| n.parse::<i64>().expect("checked"));
    }
    names
}

/// Each label's index in `names` (which holds every label).
fn class_indices<'a>(labels: impl Iterator<Item = &'a str>, names: &[String]) -> Vec<u32> {
    let index: std::collections::HashMap<&str, u32> = names
        .iter()
        .enumerate()
        .map(|(k, n)| (n.as_str(), k as u32))
        .collect();
    labels
        .map(|l| *index.get(l).expect("names hold every label"))
        .collect()
}

/// The rows of each split: per class, a seeded [`TEST_FRACTION`] of its rows is held out.
fn holdout(labels: &[u32], classes: usize) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(SPLIT_SEED);
    let mut test = vec![];
    for class in 0..classes as u32 {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        let take = ((rows.len() as f64 * TEST_FRACTION).round() as usize)
            .min(rows.len().saturating_sub(1));
        rows.shuffle(&mut rng);
        test.extend_from_slice(&rows[..take]);
    }
    test.sort_unstable();
    let train = (0..labels.len())
        .filter(|i| test.binary_search(i).is_err())
        .collect();
    (train, test)
}

/// Reads a split of a tabular CSV file (see the module docs for layouts and the holdout).
///
/// # Errors
/// An empty file, ragged rows, non-numeric or non-finite feature cells, a missing label, a
/// scikit-learn header whose counts disagree with the rows, a corrupt gzip stream: each
/// names the file, the line and the column. A table with a single class is refused by
/// [`Dataset::check_usable`].
pub fn load_table(name: &str, split: Split, path: &Path) -> Result<Dataset> {
    let (bytes, digest) = read_maybe_gz(path)?;
    let table = parse_table(path, &bytes)?;
    let origin = Origin::Directory {
        path: path.parent().map(Path::to_path_buf).unwrap_or_default(),
    };
    holdout_split(name, split, table, origin, vec![digest])
}

/// A split of a whole table: the rows [`holdout`] gives it, in file order.
fn holdout_split(
    name: &str,
    split: Split,
    table: Table,
    origin: Origin,
    files: Vec<FileDigest>,
) -> Result<Dataset> {
    let (train, test) = holdout(&table.labels, table.class_names.len());
    let rows = match split {
        Split::Train => train,
        Split::Test => test,
    };
    let w = table.width;
    let mut features = Vec::with_capacity(rows.len() * w);
    for &i in &rows {
        features.extend_from_slice(&table.features[i * w..(i + 1) * w]);
    }
    let labels = rows.iter().map(|&i| table.labels[i]).collect();
    let part = Table {
        features,
        labels,
        width: w,
        class_names: table.class_names,
    };
    table_dataset(name, split, part, origin, files)
}

/// The dataset of every row of `table`: `F` channels of a 1×1 image per row, checked usable.
fn table_dataset(
    name: &str,
    split: Split,
    table: Table,
    origin: Origin,
    files: Vec<FileDigest>,
) -> Result<Dataset> {
    let meta = Metadata {
        name: name.to_string(),
        split,
        origin,
        files,
        variants: vec![],
    };
    let ds = Dataset::new(
        Pixels::F32(table.features),
        table.labels,
        ImageShape {
            channels: table.width,
            height: 1,
            width: 1,
        },
        table.class_names,
        meta,
    )?;
    ds.check_usable()?;
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Table> {
        parse_table(Path::new("t.csv"), text.as_bytes())
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_three_layouts_read_alike() {
        let header = parse("a,b,label\n1,2,x\n3,4.5,y\n5,6,x\n").unwrap();
        assert_eq!(header.features, vec![1.0, 2.0, 3.0, 4.5, 5.0, 6.0]);
        assert_eq!(header.labels, vec![0, 1, 0]);
        assert_eq!(header.class_names, vec!["x", "y"]);
        let sklearn = parse("3,2,x,y\n1,2,0\n3,4.5,1\n5,6,0\n").unwrap();
        assert_eq!(sklearn, header);
        let bare = parse("1,2,10\n3,4.5,9\n5,6,10\n").unwrap();
        assert_eq!(bare.features, header.features);
        // Integer labels sort numerically, not as text.
        assert_eq!(bare.labels, vec![1, 0, 1]);
        assert_eq!(bare.class_names, vec!["9", "10"]);
        // A bare file whose first two cells are small integers is still bare.
        let digits = parse("0,0,5,1\n0,1,3,2\n").unwrap();
        assert_eq!(digits.width, 3);
        assert_eq!(digits.labels, vec![0, 1]);
    }

    #[test]
    fn bad_tables_name_the_line_and_column() {
        let e = err("");
        assert!(e.contains("t.csv: file: empty"), "{e}");
        let e = err("a,b,label\n");
        assert!(e.contains("no data row"), "{e}");
        let e = err("a,b,label\n1,2,x\n3,4\n");
        assert!(
            e.contains("line 3") && e.contains("2 cells; expected 3"),
            "{e}"
        );
        let e = err("a,b,label\n1,2,x\n3,oops,y\n");
        assert!(
            e.contains("line 3, column 2 (`b`)") && e.contains("`oops`; expected a finite"),
            "{e}"
        );
        let e = err("1,2,0\n3,nan,1\n");
        assert!(e.contains("line 2, column 2") && e.contains("`nan`"), "{e}");
        let e = err("a,b,label\n1,2,x\n3,4,\n");
        assert!(
            e.contains("line 3, column 3 (`label`) (label): missing"),
            "{e}"
        );
        let e = err("4,2,x,y\n1,2,0\n3,4,1\n");
        assert!(
            e.contains("says 4 samples") && e.contains("2 data rows"),
            "{e}"
        );
        let e = err("2,2,x,y\n1,2,0\n3,4,2\n");
        assert!(
            e.contains("line 3, column 3 (label)") && e.contains("class index 0..2"),
            "{e}"
        );
        let e = err("1\n2\n");
        assert!(e.contains("1 column"), "{e}");
    }

    #[test]
    fn the_holdout_is_stratified_seeded_and_leaves_every_class_in_training() {
        let labels: Vec<u32> = (0..100).map(|i| (i % 3 == 0) as u32).collect();
        let (train, test) = holdout(&labels, 2);
        assert_eq!(train.len() + test.len(), 100);
        let count = |rows: &[usize], c| rows.iter().filter(|&&i| labels[i] == c).count();
        assert_eq!((count(&test, 0), count(&test, 1)), (13, 7));
        assert_eq!(holdout(&labels, 2), (train.clone(), test));
        assert!(train.windows(2).all(|w| w[0] < w[1]), "file order kept");
        // A class of one row stays in training.
        let (train, test) = holdout(&[0, 0, 0, 0, 0, 1], 2);
        assert!(train.contains(&5), "{train:?}");
        assert_eq!(test.len(), 1);
        assert!(test[0] < 5, "{test:?}");
    }
}
