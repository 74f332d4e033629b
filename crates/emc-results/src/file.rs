//! Opening a result file to read it: a regular file (not a device, a pipe or a directory)
//! of at most [`MAX_RESULT_FILE`] bytes, so that a results directory holding something
//! else (a `probes.csv` linked to `/dev/zero`, a file of many gigabytes) is refused before
//! it is read, instead of filling memory.

use std::fs::File;
use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// The largest result file read (1 GiB; a paper-scale `probes.csv` is tens of MB).
pub const MAX_RESULT_FILE: u64 = 1 << 30;

/// Opens `path` for reading after checking that it is a regular file of at most
/// [`MAX_RESULT_FILE`] bytes.
///
/// # Errors
/// The error of opening it (`NotFound` stays `NotFound`), or `InvalidData` saying what the
/// path is instead and what was expected.
pub fn open_result_file(path: &Path) -> std::io::Result<File> {
    let file = File::open(path)?;
    let info = file.metadata()?;
    if !info.is_file() {
        return Err(Error::new(
            ErrorKind::InvalidData,
            "not a regular file (a device, a pipe or a directory); expected a result file",
        ));
    }
    if info.len() > MAX_RESULT_FILE {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} bytes, more than the {MAX_RESULT_FILE} a result file may hold; expected a \
                 file written by emc",
                info.len()
            ),
        ));
    }
    Ok(file)
}

/// Reads a whole result file opened by [`open_result_file`], as bytes.
pub fn read_result_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![];
    // The bound also holds for a file that grows while it is read.
    open_result_file(path)?
        .take(MAX_RESULT_FILE)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Reads a whole result file opened by [`open_result_file`], as UTF-8 text.
pub fn read_result_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_result_bytes(path)?)
        .map_err(|e| Error::new(ErrorKind::InvalidData, format!("not UTF-8 text: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_and_directories_are_refused_files_are_read() {
        for path in ["/dev/zero", "/dev/full", "/"] {
            let err = read_result_text(Path::new(path)).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidData, "{path}");
            assert!(
                err.to_string().contains("not a regular file"),
                "{path}: {err}"
            );
        }
        let dir = std::env::temp_dir().join(format!("emc-results-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("summary.csv");
        std::fs::write(&ok, "a,b\n1,2\n").unwrap();
        assert_eq!(read_result_text(&ok).unwrap(), "a,b\n1,2\n");
        let missing = read_result_text(&dir.join("absent.csv")).unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::NotFound);
        std::fs::write(&ok, [0xff, 0xfe]).unwrap();
        assert!(read_result_text(&ok)
            .unwrap_err()
            .to_string()
            .contains("UTF-8"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_beyond_the_bound_is_refused_unread() {
        let dir = std::env::temp_dir().join(format!("emc-results-big-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("probes.csv");
        // A sparse file: its length is past the bound, nothing is written or read.
        File::create(&big)
            .unwrap()
            .set_len(MAX_RESULT_FILE + 1)
            .unwrap();
        let err = open_result_file(&big).unwrap_err().to_string();
        assert!(err.contains("1073741825 bytes, more than"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
