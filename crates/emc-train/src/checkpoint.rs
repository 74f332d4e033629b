//! Safetensors checkpoints with their provenance: every variable of a model (including
//! batch-norm running statistics) plus string metadata (model spec, config, seed, crate
//! version, git commit). Writes are atomic: a temporary file renamed into place, so an
//! interrupted save never leaves a torn checkpoint.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{Device, Tensor};
use candle_nn::VarMap;

use crate::error::{Result, TrainError};
use crate::provenance::Provenance;

fn ckpt_err(path: &Path, message: impl Into<String>) -> TrainError {
    TrainError::Checkpoint {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Saves every variable of `varmap` to `path` with `metadata` plus the provenance keys
/// `crate_version` and `git_commit`.
pub fn save_checkpoint(
    varmap: &VarMap,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<()> {
    let tensors: Vec<(String, Tensor)> = {
        let data = varmap
            .data()
            .lock()
            .map_err(|_| ckpt_err(path, "variable map lock poisoned"))?;
        let mut v: Vec<(String, Tensor)> = data
            .iter()
            .map(|(k, var)| (k.clone(), var.as_tensor().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    let prov = Provenance::current();
    let mut meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    meta.insert("crate_version".into(), prov.crate_version);
    meta.insert("git_commit".into(), prov.git_commit);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| ckpt_err(path, format!("creating its folder: {e}")))?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    safetensors::serialize_to_file(tensors, Some(meta), &tmp)
        .map_err(|e| ckpt_err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| ckpt_err(path, format!("renaming {} into place: {e}", tmp.display())))?;
    Ok(())
}

/// The string metadata of a checkpoint.
pub fn read_checkpoint_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let bytes = std::fs::read(path).map_err(|e| ckpt_err(path, e.to_string()))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| ckpt_err(path, format!("not a safetensors file: {e}")))?;
    Ok(meta
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect())
}

/// Loads a checkpoint into `varmap`: every variable must be present with the same shape and
/// dtype (extra tensors in the file are an error too). Returns the metadata.
pub fn load_checkpoint(
    varmap: &VarMap,
    path: &Path,
    device: &Device,
) -> Result<BTreeMap<String, String>> {
    let meta = read_checkpoint_metadata(path)?;
    let mut tensors =
        candle_core::safetensors::load(path, device).map_err(|e| ckpt_err(path, e.to_string()))?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| ckpt_err(path, "variable map lock poisoned"))?;
    for (name, var) in data.iter() {
        let t = tensors.remove(name).ok_or_else(|| {
            ckpt_err(
                path,
                format!("tensor `{name}` missing; the model expects it"),
            )
        })?;
        if t.dims() != var.dims() || t.dtype() != var.dtype() {
            return Err(ckpt_err(
                path,
                format!(
                    "tensor `{name}` is {:?} {:?}; the model expects {:?} {:?}",
                    t.dtype(),
                    t.dims(),
                    var.dtype(),
                    var.dims()
                ),
            ));
        }
        var.set(&t)?;
    }
    if let Some(extra) = tensors.keys().next() {
        return Err(ckpt_err(
            path,
            format!("tensor `{extra}` is not part of the model; wrong model spec?"),
        ));
    }
    Ok(meta)
}
