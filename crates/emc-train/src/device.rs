//! `--device cpu|cuda[:N]`: the one place a device name becomes a candle device.

use candle_core::Device;

use crate::error::{Result, TrainError};

/// Parses `cpu`, `cuda` or `cuda:N`. CUDA needs the `cuda` cargo feature (not built in CI,
/// which has no GPU); without it the error says how to rebuild.
pub fn parse_device(name: &str) -> Result<Device> {
    let bad = |message: String| TrainError::Config {
        field: "device".into(),
        message,
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "cpu" => Ok(Device::Cpu),
        other if other == "cuda" || other.starts_with("cuda:") => {
            let ordinal = match other.strip_prefix("cuda:") {
                Some(k) => k
                    .parse::<usize>()
                    .map_err(|_| bad(format!("`{name}`: expected cuda:N with N a GPU index")))?,
                None => 0,
            };
            if !cfg!(feature = "cuda") {
                return Err(bad(format!(
                    "`{name}`: this binary was built without CUDA; rebuild with `--features cuda`"
                )));
            }
            Device::new_cuda(ordinal).map_err(|e| bad(format!("`{name}`: {e}")))
        }
        _ => Err(bad(format!("`{name}`; expected cpu, cuda or cuda:N"))),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_device;

    #[test]
    fn parses_cpu_and_rejects_unknown_names() {
        assert!(parse_device("cpu").unwrap().is_cpu());
        assert!(parse_device("tpu")
            .unwrap_err()
            .to_string()
            .contains("expected cpu, cuda"));
        assert!(parse_device("cuda:x").is_err());
        if !cfg!(feature = "cuda") {
            assert!(parse_device("cuda")
                .unwrap_err()
                .to_string()
                .contains("--features cuda"));
        }
    }
}
