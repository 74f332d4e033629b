//! ImageNet-style image folders: one sub-folder per class holding JPEG/PNG files, as
//! torchvision's `ImageFolder` reads them. Classes are the sub-folders in sorted order;
//! images are resized (shorter side to the resolution, triangle filter) and centre-cropped
//! to a square RGB image.
//!
//! Layout: `ROOT/train/<class>/*.jpg` and `ROOT/val/<class>/*.jpg` (or `test/`), or simply
//! `ROOT/<class>/*.jpg`, which is then the train split.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::{
    read_with_digest, Dataset, FileDigest, ImageShape, Metadata, Origin, Pixels, Split,
};
use crate::error::{DataError, Result};

/// Default side length of images read from a folder.
pub const DEFAULT_RESOLUTION: usize = 64;

/// Where an image folder is and what resolution to read it at.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FolderOptions {
    /// The root folder.
    pub root: PathBuf,
    /// Side length of the square images produced.
    pub resolution: usize,
}

impl FromStr for FolderOptions {
    type Err = DataError;
    /// Parses `PATH` or `PATH@RES`.
    fn from_str(s: &str) -> Result<Self> {
        let (root, resolution) = match s.rsplit_once('@') {
            Some((p, r)) if !r.is_empty() && r.bytes().all(|b| b.is_ascii_digit()) => {
                let res: usize = r.parse().map_err(|_| {
                    DataError::variant(s, "resolution after `@` must be a positive integer")
                })?;
                (p, res)
            }
            _ => (s, DEFAULT_RESOLUTION),
        };
        if root.is_empty() || resolution == 0 {
            return Err(DataError::variant(
                s,
                "expected folder:PATH or folder:PATH@RES with RES > 0",
            ));
        }
        Ok(FolderOptions {
            root: PathBuf::from(root),
            resolution,
        })
    }
}

impl fmt::Display for FolderOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.root.display(), self.resolution)
    }
}

/// The folder holding a split's class folders.
fn split_dir(root: &Path, split: Split) -> Result<PathBuf> {
    let names: &[&str] = match split {
        Split::Train => &["train"],
        Split::Test => &["val", "test"],
    };
    if let Some(d) = names.iter().map(|n| root.join(n)).find(|d| d.is_dir()) {
        return Ok(d);
    }
    let has_split_dirs = ["train", "val", "test"]
        .iter()
        .any(|n| root.join(n).is_dir());
    match split {
        Split::Train if !has_split_dirs => Ok(root.to_path_buf()),
        _ => Err(DataError::NotFound {
            dataset: format!("folder:{}", root.display()),
            split: split.to_string(),
            looked: names
                .iter()
                .map(|n| format!("{}: no such folder", root.join(n).display()))
                .collect(),
            hint: format!(
                "put the {split} split's class folders under {}",
                root.join(names[0]).display()
            ),
        }),
    }
}

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        .unwrap_or(false)
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v = vec![];
    for e in std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))? {
        v.push(e.map_err(|e| DataError::io(dir, e))?.path());
    }
    v.sort();
    Ok(v)
}

/// Decodes one image and turns it into a `res`x`res` RGB image, planar `[3, res, res]`.
fn decode(path: &Path, bytes: &[u8], res: usize) -> Result<Vec<u8>> {
    let img = image::load_from_memory(bytes).map_err(|e| DataError::Image {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let rgb = img.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    if w == 0 || h == 0 {
        return Err(DataError::Image {
            path: path.to_path_buf(),
            message: "image has no pixel".into(),
        });
    }
    // Shorter side to `res`, keeping the aspect ratio, then a centre crop.
    let (nw, nh) = if w <= h {
        (res, (h * res).div_ceil(w).max(res))
    } else {
        ((w * res).div_ceil(h).max(res), res)
    };
    let resized = image::imageops::resize(
        &rgb,
        nw as u32,
        nh as u32,
        image::imageops::FilterType::Triangle,
    );
    let (x0, y0) = ((nw - res) / 2, (nh - res) / 2);
    let mut out = vec![0u8; 3 * res * res];
    for y in 0..res {
        for x in 0..res {
            let p = resized.get_pixel((x0 + x) as u32, (y0 + y) as u32);
            for c in 0..3 {
                out[c * res * res + y * res + x] = p[c];
            }
        }
    }
    Ok(out)
}

/// Loads one split of an image folder.
///
/// The metadata records one digest for the whole split: the SHA-256 of the list of
/// `relative/path<TAB>sha256` lines of every image read, in load order.
///
/// # Errors
/// A missing split folder, a class folder without images, an undecodable image, fewer
/// than two class folders.
pub fn load_image_folder(name: &str, split: Split, opts: &FolderOptions) -> Result<Dataset> {
    if !opts.root.is_dir() {
        return Err(DataError::NotFound {
            dataset: name.to_string(),
            split: split.to_string(),
            looked: vec![format!("{}: not a folder", opts.root.display())],
            hint: "pass folder:PATH where PATH holds one sub-folder per class".into(),
        });
    }
    let dir = split_dir(&opts.root, split)?;
    let classes: Vec<PathBuf> = sorted_entries(&dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if classes.is_empty() {
        return Err(DataError::format(
            &dir,
            "class folders",
            "no sub-folder; expected one folder per class",
        ));
    }
    let res = opts.resolution;
    let (mut pixels, mut labels, mut names) = (vec![], vec![], vec![]);
    let mut listing = String::new();
    let mut total_bytes = 0u64;
    for (k, class_dir) in classes.iter().enumerate() {
        let files: Vec<PathBuf> = sorted_entries(class_dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_image(p))
            .collect();
        if files.is_empty() {
            return Err(DataError::EmptyClass {
                path: class_dir.clone(),
            });
        }
        names.push(
            class_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        for f in files {
            let (bytes, digest) = read_with_digest(&f)?;
            total_bytes += digest.bytes;
            let rel = f.strip_prefix(&dir).unwrap_or(&f);
            listing.push_str(&format!("{}\t{}\n", rel.display(), digest.sha256));
            pixels.extend(decode(&f, &bytes, res)?);
            labels.push(k as u32);
        }
    }
    let sha256 = Sha256::digest(listing.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ds = Dataset::new(
        Pixels::U8(pixels),
        labels,
        ImageShape {
            channels: 3,
            height: res,
            width: res,
        },
        names,
        Metadata {
            name: name.to_string(),
            split,
            origin: Origin::Directory { path: dir.clone() },
            files: vec![FileDigest {
                path: dir,
                bytes: total_bytes,
                sha256,
            }],
            variants: vec![],
        },
    )?;
    ds.check_usable()?;
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_path_and_resolution() {
        let o: FolderOptions = "/data/imagenette@32".parse().unwrap();
        assert_eq!(o.root, PathBuf::from("/data/imagenette"));
        assert_eq!(o.resolution, 32);
        let o: FolderOptions = "/data/a@b".parse().unwrap();
        assert_eq!(o.root, PathBuf::from("/data/a@b"));
        assert_eq!(o.resolution, DEFAULT_RESOLUTION);
        assert!("/x@0".parse::<FolderOptions>().is_err());
    }
}
