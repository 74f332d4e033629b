//! Safetensors checkpoints with their provenance: every variable of a model (including
//! batch-norm running statistics) plus string metadata (model spec, config, seed, crate
//! version, git commit). Writes are atomic: a temporary file renamed into place, so an
//! interrupted save never leaves a torn checkpoint; and canonical: the header's keys are
//! sorted, so identical weights and metadata give identical bytes (and SHA-256s) in every
//! run. Reading the metadata reads the header only, bounded, never the whole file.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
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
    let bytes = safetensors::serialize(tensors, Some(meta))
        .map_err(|e| ckpt_err(&tmp, e.to_string()))
        .and_then(|b| sorted_header(b).map_err(|e| ckpt_err(&tmp, e)))?;
    std::fs::write(&tmp, bytes).map_err(|e| ckpt_err(&tmp, e.to_string()))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| ckpt_err(path, format!("renaming {} into place: {e}", tmp.display())))?;
    Ok(())
}

/// The largest header safetensors accepts (its `MAX_HEADER_SIZE`).
const MAX_HEADER: u64 = 100_000_000;

/// Bytes of the little-endian header length that opens a safetensors file.
const HEADER_LEN: usize = 8;

/// `bytes`, a serialised safetensors file, with its JSON header's keys in sorted order
/// (safetensors writes the metadata from a `HashMap`, in an order that changes from run to
/// run). Same keys and values, so the same length: only the order of the bytes changes.
fn sorted_header(mut bytes: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let mut len = [0u8; HEADER_LEN];
    len.copy_from_slice(&bytes[..HEADER_LEN]);
    let n = u64::from_le_bytes(len) as usize;
    let header = &bytes[HEADER_LEN..HEADER_LEN + n];
    // serde_json's maps are sorted (no `preserve_order` in this workspace).
    let value: serde_json::Value =
        serde_json::from_slice(header).map_err(|e| format!("re-reading its header: {e}"))?;
    let mut sorted = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    if sorted.len() > n {
        return Err(format!(
            "its sorted header is {} bytes, more than the {n} written",
            sorted.len()
        ));
    }
    sorted.resize(n, b' ');
    bytes[HEADER_LEN..HEADER_LEN + n].copy_from_slice(&sorted);
    Ok(bytes)
}

/// The string metadata of a checkpoint, from its header alone: the file must be a regular
/// file whose header length fits both the file and safetensors' limit (100 MB), so that a
/// forged or foreign file is refused without reading more than its header.
pub fn read_checkpoint_metadata(path: &Path) -> Result<BTreeMap<String, String>> {
    let io = |e: std::io::Error| ckpt_err(path, e.to_string());
    let mut file = std::fs::File::open(path).map_err(io)?;
    let info = file.metadata().map_err(io)?;
    if !info.is_file() {
        return Err(ckpt_err(
            path,
            "not a regular file; expected a safetensors checkpoint",
        ));
    }
    let mut len = [0u8; HEADER_LEN];
    file.read_exact(&mut len).map_err(|_| {
        ckpt_err(
            path,
            format!(
                "not a safetensors file: {} bytes, fewer than its 8-byte header length",
                info.len()
            ),
        )
    })?;
    let n = u64::from_le_bytes(len);
    if n > MAX_HEADER || n > info.len() - HEADER_LEN as u64 {
        return Err(ckpt_err(
            path,
            format!(
                "not a safetensors file: its header length says {n} bytes, but the file holds \
                 {} bytes after it (and headers are at most {MAX_HEADER})",
                info.len() - HEADER_LEN as u64
            ),
        ));
    }
    let mut header = vec![0u8; n as usize];
    file.read_exact(&mut header).map_err(io)?;
    #[derive(serde::Deserialize)]
    struct Header {
        #[serde(rename = "__metadata__", default)]
        metadata: BTreeMap<String, String>,
    }
    let header: Header = serde_json::from_slice(&header)
        .map_err(|e| ckpt_err(path, format!("not a safetensors header: {e}")))?;
    Ok(header.metadata)
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

#[cfg(test)]
mod tests {
    use candle_core::DType;
    use candle_nn::Init;

    use super::*;

    fn varmap() -> VarMap {
        let varmap = VarMap::new();
        for (name, shape) in [("b", (3, 2)), ("a", (2, 5)), ("c.weight", (1, 4))] {
            varmap
                .get(shape, name, Init::Const(0.5), DType::F32, &Device::Cpu)
                .unwrap();
        }
        varmap
    }

    fn metadata() -> BTreeMap<String, String> {
        (0..16)
            .map(|i| (format!("key{i:02}"), format!("value {i}")))
            .collect()
    }

    #[test]
    fn identical_saves_are_identical_bytes_with_sorted_headers() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (
            dir.path().join("a.safetensors"),
            dir.path().join("b.safetensors"),
        );
        // Two saves in one process: their metadata maps hash with different random keys.
        save_checkpoint(&varmap(), &a, &metadata()).unwrap();
        save_checkpoint(&varmap(), &b, &metadata()).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap());
        let header = String::from_utf8_lossy(&bytes[8..]).to_string();
        let at = |key: &str| header.find(&format!("\"{key}\"")).unwrap();
        assert!(
            at("key00") < at("key01") && at("key14") < at("key15"),
            "{header}"
        );
        assert!(at("crate_version") < at("git_commit") && at("git_commit") < at("key00"));
        // Still a safetensors file: the weights and metadata read back.
        let meta = load_checkpoint(&varmap(), &a, &Device::Cpu).unwrap();
        assert_eq!(meta["key07"], "value 7");
    }

    #[test]
    fn forged_files_are_refused_from_their_header_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("forged.safetensors");
        let refused = |bytes: &[u8], text: &str| {
            std::fs::write(&path, bytes).unwrap();
            let err = read_checkpoint_metadata(&path).unwrap_err().to_string();
            assert!(
                err.contains("forged.safetensors") && err.contains(text),
                "{err}"
            );
        };
        refused(b"abc", "3 bytes, fewer than its 8-byte header length");
        // A header length of 2^60 bytes in a 16-byte file: nothing that large is read.
        let mut huge = (1u64 << 60).to_le_bytes().to_vec();
        huge.extend(b"{}      ");
        refused(&huge, "its header length says 1152921504606846976 bytes");
        let mut junk = 4u64.to_le_bytes().to_vec();
        junk.extend(b"nope");
        refused(&junk, "not a safetensors header");
        // A device, not a file (a checkpoint linked to /dev/zero would never end).
        let err = read_checkpoint_metadata(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }
}
