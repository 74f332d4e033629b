//! Tables stored as parquet files (the Hub's format): one column per feature, numeric
//! (integers or floats), and a label column of integers or strings, read into the same
//! [`Table`] a CSV file becomes, so that both give the same [`Dataset`].
//!
//! The label column is the one named, else the column named [`DEFAULT_LABEL`], else the
//! last column; every other column is a feature, in file order. When the file's Hugging
//! Face metadata (key `huggingface`) declares the label a `ClassLabel`, its names are the
//! classes and the labels their indices (as a scikit-learn header's class names are for a
//! CSV file); otherwise labels become classes in sorted order, numerically when they are
//! integers, as in a CSV file.

use std::fs::File;
use std::path::Path;

use parquet::basic::{ConvertedType, LogicalType, Repetition, Type as Physical};
use parquet::file::metadata::KeyValue;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::{Type, TypePtr};

use super::{class_indices, class_names_of, holdout_split, table_dataset, Table};
use crate::dataset::{Dataset, FileDigest, Origin, Split};
use crate::error::{DataError, Result};

/// The label column when none is named and the file has a column of this name.
pub const DEFAULT_LABEL: &str = "label";

/// Labels as read from one file.
#[derive(Debug, Clone, PartialEq)]
enum Labels {
    /// Text of each label (integers written out); classes are the sorted distinct values.
    Text(Vec<String>),
    /// Class indices into the `ClassLabel` names of the file's metadata.
    Indexed {
        labels: Vec<u32>,
        names: Vec<String>,
    },
}

/// One parquet file as read.
#[derive(Debug, Clone, PartialEq)]
struct ParquetTable {
    /// Feature column names, in file order.
    columns: Vec<String>,
    /// The label column's name.
    label: String,
    /// Features, row-major.
    features: Vec<f32>,
    labels: Labels,
}

impl ParquetTable {
    /// The whole table with its own classes.
    fn into_table(self) -> Table {
        let width = self.columns.len();
        let (labels, class_names) = match self.labels {
            Labels::Text(text) => {
                let names = class_names_of(text.iter().map(String::as_str));
                (
                    class_indices(text.iter().map(String::as_str), &names),
                    names,
                )
            }
            Labels::Indexed { labels, names } => (labels, names),
        };
        Table {
            features: self.features,
            labels,
            width,
            class_names,
        }
    }
}

/// What a column holds, as far as a table is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Integers (a feature or a label).
    Integer,
    /// Floating point numbers (a feature only).
    Float,
    /// UTF-8 strings (a label only).
    Text,
    /// Anything else.
    Other,
}

fn kind(t: &Type) -> Kind {
    if t.is_group() {
        return Kind::Other;
    }
    let info = t.get_basic_info();
    if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        return Kind::Other;
    }
    let logical = info.logical_type_ref();
    let converted = info.converted_type();
    match t.get_physical_type() {
        Physical::INT32 | Physical::INT64 => {
            let integer_logical = matches!(logical, None | Some(LogicalType::Integer { .. }));
            let integer_converted = matches!(
                converted,
                ConvertedType::NONE
                    | ConvertedType::INT_8
                    | ConvertedType::INT_16
                    | ConvertedType::INT_32
                    | ConvertedType::INT_64
                    | ConvertedType::UINT_8
                    | ConvertedType::UINT_16
                    | ConvertedType::UINT_32
                    | ConvertedType::UINT_64
            );
            if integer_logical && integer_converted {
                Kind::Integer
            } else {
                Kind::Other
            }
        }
        Physical::FLOAT | Physical::DOUBLE if logical.is_none() => Kind::Float,
        Physical::BYTE_ARRAY
            if matches!(logical, Some(LogicalType::String | LogicalType::Enum))
                || matches!(converted, ConvertedType::UTF8 | ConvertedType::ENUM) =>
        {
            Kind::Text
        }
        _ => Kind::Other,
    }
}

/// The column's type in words, for messages: `DOUBLE`, `BYTE_ARRAY (String)`, `a struct,
/// list or map`.
fn describe(t: &Type) -> String {
    if t.is_group() {
        return "a struct, list or map".into();
    }
    let info = t.get_basic_info();
    let repeated = if info.has_repetition() && info.repetition() == Repetition::REPEATED {
        "repeated "
    } else {
        ""
    };
    let annotation = match (info.logical_type_ref(), info.converted_type()) {
        (Some(l), _) => format!(" ({l:?})"),
        (None, ConvertedType::NONE) => String::new(),
        (None, c) => format!(" ({c})"),
    };
    format!("{repeated}{}{annotation}", t.get_physical_type())
}

/// The `ClassLabel` names the file's Hugging Face metadata gives `column`, if any.
fn class_label_names(kv: Option<&Vec<KeyValue>>, column: &str) -> Option<Vec<String>> {
    let json = kv?
        .iter()
        .find(|k| k.key == "huggingface")?
        .value
        .as_deref()?;
    let meta: serde_json::Value = serde_json::from_str(json).ok()?;
    let feature = meta.get("info")?.get("features")?.get(column)?;
    if feature.get("_type")?.as_str()? != "ClassLabel" {
        return None;
    }
    feature
        .get("names")?
        .as_array()?
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect()
}

/// A feature value as a number, if it is one.
fn number(field: &Field) -> Option<f64> {
    Some(match *field {
        Field::Byte(v) => v.into(),
        Field::Short(v) => v.into(),
        Field::Int(v) => v.into(),
        Field::Long(v) => v as f64,
        Field::UByte(v) => v.into(),
        Field::UShort(v) => v.into(),
        Field::UInt(v) => v.into(),
        Field::ULong(v) => v as f64,
        Field::Float(v) => v.into(),
        Field::Double(v) => v,
        _ => return None,
    })
}

/// An integer label, if it is one.
fn integer(field: &Field) -> Option<i128> {
    Some(match *field {
        Field::Byte(v) => v.into(),
        Field::Short(v) => v.into(),
        Field::Int(v) => v.into(),
        Field::Long(v) => v.into(),
        Field::UByte(v) => v.into(),
        Field::UShort(v) => v.into(),
        Field::UInt(v) => v.into(),
        Field::ULong(v) => v.into(),
        _ => return None,
    })
}

/// A parquet reader error as the format error of `path`.
pub(crate) fn parquet_error(path: &Path, e: parquet::errors::ParquetError) -> DataError {
    DataError::format(
        path,
        "parquet",
        format!("{e}; expected a complete parquet file"),
    )
}

/// Opens `path` as a parquet file (its footer read and checked).
pub(crate) fn open_parquet(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    SerializedFileReader::new(file).map_err(|e| parquet_error(path, e))
}

/// Reads one parquet table; `label` names the label column (see the module docs for the
/// default).
fn read(path: &Path, label: Option<&str>) -> Result<ParquetTable> {
    let pq = |e| parquet_error(path, e);
    let reader = open_parquet(path)?;
    let meta = reader.metadata().file_metadata();
    let schema = meta.schema();
    let fields: &[TypePtr] = if schema.is_group() {
        schema.get_fields()
    } else {
        &[]
    };
    let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
    let label_index = match label {
        Some(wanted) => names.iter().position(|n| *n == wanted).ok_or_else(|| {
            DataError::format(
                path,
                format!("column `{wanted}` (label)"),
                format!(
                    "no such column; the file has: {}",
                    if names.is_empty() {
                        "no column".to_string()
                    } else {
                        names.join(", ")
                    }
                ),
            )
        })?,
        None => match names.iter().position(|n| *n == DEFAULT_LABEL) {
            Some(i) => i,
            None if !names.is_empty() => names.len() - 1,
            None => {
                return Err(DataError::format(
                    path,
                    "columns",
                    "none; expected numeric feature columns and a label column",
                ))
            }
        },
    };
    let label_name = names[label_index].to_string();
    if fields.len() < 2 {
        return Err(DataError::format(
            path,
            format!("column `{label_name}` (label)"),
            "the only column; expected at least one feature column besides the label",
        ));
    }
    let class_names = class_label_names(meta.key_value_metadata(), &label_name);
    for (j, field) in fields.iter().enumerate() {
        let k = kind(field);
        let (ok, expected) = if j == label_index {
            if class_names.is_some() {
                (
                    k == Kind::Integer,
                    "integer class indices (its metadata says ClassLabel)",
                )
            } else {
                (
                    matches!(k, Kind::Integer | Kind::Text),
                    "integer or string labels",
                )
            }
        } else {
            (
                matches!(k, Kind::Integer | Kind::Float),
                "numbers (integer, float or double)",
            )
        };
        if !ok {
            let role = if j == label_index { " (label)" } else { "" };
            return Err(DataError::format(
                path,
                format!("column `{}`{role}", field.name()),
                format!(
                    "a column of {}; expected {expected}{}",
                    describe(field),
                    if j == label_index {
                        String::new()
                    } else {
                        format!(
                            " (every column but the label `{label_name}` is a feature; name \
                             the label with `#COLUMN`)"
                        )
                    }
                ),
            ));
        }
    }

    let width = fields.len() - 1;
    let rows = usize::try_from(meta.num_rows()).unwrap_or(0);
    // Trust the footer's row count for the allocation only within reason.
    let reserve = rows.min((1 << 26) / width);
    let mut features = Vec::with_capacity(reserve * width);
    let mut text = vec![];
    let mut indexed = vec![];
    let mut count = 0usize;
    for row in reader.get_row_iter(None).map_err(pq)? {
        let row = row.map_err(pq)?;
        let at = |column: &str| format!("row {count}, column `{column}`");
        if row.len() != fields.len() {
            return Err(DataError::format(
                path,
                format!("row {count}"),
                format!(
                    "{} values; expected {} (one per column)",
                    row.len(),
                    fields.len()
                ),
            ));
        }
        for (j, (column, field)) in row.get_column_iter().enumerate() {
            if j == label_index {
                let missing = || {
                    DataError::format(
                        path,
                        format!("{} (label)", at(column)),
                        "missing (null or empty); expected a class label",
                    )
                };
                match (&class_names, field) {
                    (_, Field::Null) => return Err(missing()),
                    (Some(names), f) => {
                        let index = integer(f)
                            .and_then(|v| u32::try_from(v).ok())
                            .filter(|&v| (v as usize) < names.len());
                        let Some(index) = index else {
                            return Err(DataError::format(
                                path,
                                format!("{} (label)", at(column)),
                                format!(
                                    "`{f}`; expected a class index 0..{} (the file's ClassLabel \
                                     names {} classes)",
                                    names.len(),
                                    names.len()
                                ),
                            ));
                        };
                        indexed.push(index);
                    }
                    (None, Field::Str(s)) if s.is_empty() => return Err(missing()),
                    (None, Field::Str(s)) => text.push(s.clone()),
                    (None, f) => match integer(f) {
                        Some(v) => text.push(v.to_string()),
                        None => {
                            return Err(DataError::format(
                                path,
                                format!("{} (label)", at(column)),
                                format!("`{f}`; expected an integer or string label"),
                            ))
                        }
                    },
                }
            } else {
                match number(field) {
                    Some(v) if v.is_finite() => features.push(v as f32),
                    _ => {
                        let found = match field {
                            Field::Null => "null (a missing value)".to_string(),
                            f => format!("`{f}`"),
                        };
                        return Err(DataError::format(
                            path,
                            at(column),
                            format!("{found}; expected a finite number"),
                        ));
                    }
                }
            }
        }
        count += 1;
    }
    if count == 0 {
        return Err(DataError::format(
            path,
            "rows",
            "the file holds no row; expected at least one sample",
        ));
    }
    let labels = match class_names {
        Some(names) => Labels::Indexed {
            labels: indexed,
            names,
        },
        None => Labels::Text(text),
    };
    Ok(ParquetTable {
        columns: names
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != label_index)
            .map(|(_, n)| n.to_string())
            .collect(),
        label: label_name,
        features,
        labels,
    })
}

/// Reads a split of a parquet table: from one file with the seeded stratified holdout (the
/// same split a CSV file of the same table gets), or from a train and a test file, each
/// its own split, with the classes of both files together. `origin` is recorded in the
/// metadata with the digests of every file read.
///
/// # Errors
/// What [`read`] refuses, in either file; test columns or label classes that differ from
/// the train file's; a split with fewer than two classes present.
pub(crate) fn load_parquet_split(
    name: &str,
    split: Split,
    train: (&Path, FileDigest),
    test: Option<(&Path, FileDigest)>,
    label: Option<&str>,
    origin: Origin,
) -> Result<Dataset> {
    let (train_path, train_digest) = train;
    let first = read(train_path, label)?;
    let Some((test_path, test_digest)) = test else {
        return holdout_split(name, split, first.into_table(), origin, vec![train_digest]);
    };
    // The test file's label column is the train file's, whatever its position.
    let second = read(test_path, Some(&first.label))?;
    if second.columns != first.columns {
        return Err(DataError::format(
            test_path,
            "columns",
            format!(
                "features {}; expected the train file's ({}, in {}), in the same order",
                second.columns.join(", "),
                first.columns.join(", "),
                train_path.display()
            ),
        ));
    }
    let width = first.columns.len();
    let label_field = format!("column `{}` (label)", first.label);
    let (train_labels, test_labels, class_names) = match (first.labels, second.labels) {
        (Labels::Text(a), Labels::Text(b)) => {
            let names = class_names_of(a.iter().chain(&b).map(String::as_str));
            (
                class_indices(a.iter().map(String::as_str), &names),
                class_indices(b.iter().map(String::as_str), &names),
                names,
            )
        }
        (
            Labels::Indexed { labels: a, names },
            Labels::Indexed {
                labels: b,
                names: other,
            },
        ) => {
            if other != names {
                return Err(DataError::format(
                    test_path,
                    label_field,
                    format!(
                        "ClassLabel names {}; expected the train file's ({})",
                        other.join(", "),
                        names.join(", ")
                    ),
                ));
            }
            (a, b, names)
        }
        (Labels::Indexed { .. }, Labels::Text(_)) | (Labels::Text(_), Labels::Indexed { .. }) => {
            return Err(DataError::format(
                test_path,
                label_field,
                "ClassLabel names in one file's metadata and not in the other's; expected both \
                 files to describe the label alike",
            ))
        }
    };
    let (features, labels) = match split {
        Split::Train => (first.features, train_labels),
        Split::Test => (second.features, test_labels),
    };
    table_dataset(
        name,
        split,
        Table {
            features,
            labels,
            width,
            class_names,
        },
        origin,
        vec![train_digest, test_digest],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_label_names_come_from_the_huggingface_metadata() {
        let kv = |value: &str| {
            vec![KeyValue {
                key: "huggingface".into(),
                value: Some(value.into()),
            }]
        };
        let hf = kv(r#"{"info": {"features": {
            "x": {"dtype": "float64", "_type": "Value"},
            "label": {"names": ["malignant", "benign"], "_type": "ClassLabel"}}}}"#);
        assert_eq!(
            class_label_names(Some(&hf), "label"),
            Some(vec!["malignant".to_string(), "benign".to_string()])
        );
        assert_eq!(class_label_names(Some(&hf), "x"), None, "a Value");
        assert_eq!(class_label_names(Some(&hf), "y"), None, "no such feature");
        assert_eq!(class_label_names(Some(&kv("{not json")), "label"), None);
        assert_eq!(class_label_names(None, "label"), None);
    }
}
