//! Reading the Hub's parquet files, once they are local: image datasets decoded from their
//! PNG or JPEG bytes ([`load_parquet`]) and tables read as [`crate::tabular`] reads a CSV
//! file ([`load_table`]). Each file's SHA-256 is checked against its cache blob's ETag first.

use std::path::Path;

use parquet::file::reader::FileReader;
use parquet::record::{Field, Row};
use parquet::schema::types::{Type, TypePtr};

use super::{verified_digest, HubContent, HubDataset, HubImages, HubOptions};
use crate::dataset::{Dataset, ImageShape, Metadata, Origin, Pixels, Split};
use crate::error::{DataError, Result};
use crate::tabular::{open_parquet, parquet_error};

/// Reads a split of a Hub table (`ds.content` is [`HubContent::Table`]) from its local
/// files: `train`, and `test` unless the table is held in one file
/// ([`HubDataset::one_file`]). Each file's SHA-256 is checked against its cache blob's
/// ETag, then the files are read as [`crate::tabular`] reads a table: a table in one file
/// gets the seeded stratified holdout, exactly as the same table in a CSV file; with two
/// files each split is its own file, and the classes are those of both files together.
///
/// # Errors
/// [`DataError::Hub`] when a cached blob does not match its SHA-256 ETag, when `ds` holds
/// images, or when the test file is missing for a two-file table; [`DataError::Format`]
/// naming the file, and the column and row where there is one, for an unreadable parquet
/// file, a missing label column, a column that is not numeric, a null or non-finite value,
/// a file without rows, or test columns that differ from the train columns;
/// [`DataError::Degenerate`] for fewer than two classes present.
pub fn load_table(
    name: &str,
    split: Split,
    train: &Path,
    test: Option<&Path>,
    ds: &HubDataset,
    opts: &HubOptions,
    from_cache: bool,
) -> Result<Dataset> {
    let HubContent::Table { label_column } = &ds.content else {
        return Err(ds.error(
            split,
            "an image dataset, not a table; read it with hub::load_parquet",
        ));
    };
    let train_digest = verified_digest(ds, Split::Train, train)?;
    let test = match (ds.one_file(), test) {
        (true, _) => None,
        (false, Some(test)) => Some((test, verified_digest(ds, Split::Test, test)?)),
        (false, None) => {
            return Err(ds.error(
                Split::Test,
                "no local copy given; a table in a train and a test file needs both",
            ))
        }
    };
    let origin = Origin::Hub {
        repo: ds.repo.clone(),
        revision: opts.revision.clone(),
        from_cache,
    };
    crate::tabular::load_parquet_split(
        name,
        split,
        (train, train_digest),
        test,
        label_column.as_deref(),
        origin,
    )
}

/// Decodes a parquet file of `ds`'s image layout (an image struct column `{bytes, path}`
/// holding PNG or JPEG bytes, and an integer label column) into a [`Dataset`] named `name`,
/// with pixels stored `[N, C, H, W]` and the file's SHA-256 recorded in the metadata. A
/// table is read by [`load_table`] instead.
///
/// # Errors
/// [`DataError::Format`] for an unreadable parquet file, a missing column (the message lists
/// the columns present) or an image of the wrong size or channel count;
/// [`DataError::Image`] for undecodable image bytes (the message names the row);
/// [`DataError::LabelOutOfRange`]; [`DataError::Hub`] when a cached blob does not match its
/// SHA-256 ETag, or when `ds` is a table; [`DataError::Degenerate`] for fewer than two
/// classes present.
pub fn load_parquet(
    name: &str,
    split: Split,
    path: &Path,
    ds: &HubDataset,
    opts: &HubOptions,
    from_cache: bool,
) -> Result<Dataset> {
    let HubContent::Images(images) = &ds.content else {
        return Err(ds.error(
            split,
            "a table, not an image dataset; read it with hub::load_table",
        ));
    };
    let digest = verified_digest(ds, split, path)?;
    let pq = |e| parquet_error(path, e);
    let reader = open_parquet(path)?;
    let schema = reader.metadata().file_metadata().schema();
    let columns: &[TypePtr] = if schema.is_group() {
        schema.get_fields()
    } else {
        &[]
    };
    let column = |wanted: &str| -> Result<TypePtr> {
        columns
            .iter()
            .find(|c| c.name() == wanted)
            .cloned()
            .ok_or_else(|| {
                DataError::format(
                    path,
                    wanted,
                    format!(
                        "no column `{wanted}`; the file has: {}",
                        columns
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
    };
    let image_type = column(images.image_column)?;
    let label_type = column(images.label_column)?;
    if !image_type.is_group() || !image_type.get_fields().iter().any(|f| f.name() == "bytes") {
        return Err(DataError::format(
            path,
            images.image_column,
            "expected a struct column {bytes: binary, path: string}",
        ));
    }
    if label_type.is_group() {
        return Err(DataError::format(
            path,
            images.label_column,
            "expected an integer column, found a struct",
        ));
    }
    let projection = Type::group_type_builder(schema.name())
        .with_fields(vec![image_type, label_type])
        .build()
        .map_err(pq)?;

    let shape = ImageShape {
        channels: images.channels,
        height: images.height,
        width: images.width,
    };
    let rows = usize::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    // Trust the footer's row count for the allocation only within reason.
    let reserve = rows.min((1 << 30) / shape.len().max(1));
    let mut pixels = Vec::with_capacity(reserve * shape.len());
    let mut labels = Vec::with_capacity(reserve);
    for group in 0..reader.num_row_groups() {
        let group = reader.get_row_group(group).map_err(pq)?;
        for row in group.get_row_iter(Some(projection.clone())).map_err(pq)? {
            let index = labels.len();
            let row = row.map_err(pq)?;
            let (image, label) = split_row(row, images, path, index)?;
            decode_image(&image, images, path, index, &mut pixels)?;
            labels.push(label);
        }
    }
    if labels.is_empty() {
        return Err(DataError::format(
            path,
            "rows",
            "the file holds no row; expected at least one image",
        ));
    }
    let dataset = Dataset::new(
        Pixels::U8(pixels),
        labels,
        shape,
        images.class_names.iter().map(|s| s.to_string()).collect(),
        Metadata {
            name: name.to_string(),
            split,
            origin: Origin::Hub {
                repo: ds.repo.clone(),
                revision: opts.revision.clone(),
                from_cache,
            },
            files: vec![digest],
            variants: vec![],
        },
    )?;
    dataset.check_usable()?;
    Ok(dataset)
}

/// The image bytes and the checked label of one row.
fn split_row(row: Row, ds: &HubImages, path: &Path, index: usize) -> Result<(Vec<u8>, u32)> {
    let mut image = None;
    let mut label = None;
    for (column, field) in row.into_columns() {
        if column == ds.image_column {
            image = Some(field);
        } else if column == ds.label_column {
            label = Some(field);
        }
    }
    let at = |column: &str| format!("{column} (row {index})");
    let bytes = match image {
        Some(Field::Group(image)) => image
            .into_columns()
            .into_iter()
            .find(|(c, _)| c == "bytes")
            .and_then(|(_, f)| match f {
                Field::Bytes(b) => Some(b.data().to_vec()),
                _ => None,
            }),
        _ => None,
    }
    .ok_or_else(|| {
        DataError::format(
            path,
            at(ds.image_column),
            "no image bytes (null or not binary); expected {bytes: binary, path: string}",
        )
    })?;
    let value: i64 = match label {
        Some(Field::Byte(v)) => v.into(),
        Some(Field::Short(v)) => v.into(),
        Some(Field::Int(v)) => v.into(),
        Some(Field::Long(v)) => v,
        Some(Field::UByte(v)) => v.into(),
        Some(Field::UShort(v)) => v.into(),
        Some(Field::UInt(v)) => v.into(),
        Some(Field::ULong(v)) => i64::try_from(v).unwrap_or(i64::MAX),
        other => {
            return Err(DataError::format(
                path,
                at(ds.label_column),
                format!(
                    "expected an integer label, found {}",
                    other.map_or("nothing".to_string(), |f| format!("{f:?}"))
                ),
            ))
        }
    };
    let classes = ds.class_names.len();
    match u32::try_from(value) {
        Ok(l) if (l as usize) < classes => Ok((bytes, l)),
        _ => Err(DataError::LabelOutOfRange {
            path: path.to_path_buf(),
            index,
            label: value,
            classes,
        }),
    }
}

/// Decodes one image and appends its pixels as `[C, H, W]` (row-major planes).
fn decode_image(
    bytes: &[u8],
    ds: &HubImages,
    path: &Path,
    index: usize,
    out: &mut Vec<u8>,
) -> Result<()> {
    let img = image::load_from_memory(bytes).map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        message: format!("row {index} (column `{}`): {e}", ds.image_column),
    })?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let found = usize::from(img.color().channel_count());
    if (w, h) != (ds.width, ds.height) || found != ds.channels {
        return Err(DataError::format(
            path,
            format!("{} (row {index})", ds.image_column),
            format!(
                "image is {h}x{w} (height x width) with {found} channel(s) ({:?}), expected \
                 {}x{} with {}",
                img.color(),
                ds.height,
                ds.width,
                ds.channels
            ),
        ));
    }
    match ds.channels {
        1 => out.extend_from_slice(img.to_luma8().as_raw()),
        3 => {
            // Interleaved HWC → planar CHW; the raw buffer is row-major (y, x).
            let rgb = img.to_rgb8();
            let raw = rgb.as_raw();
            for c in 0..3 {
                out.extend(raw.iter().skip(c).step_by(3));
            }
        }
        n => {
            return Err(DataError::format(
                path,
                ds.image_column,
                format!("{n} channels requested; expected 1 (grey) or 3 (RGB)"),
            ))
        }
    }
    Ok(())
}
