//! # emc-train
//!
//! Trains a model on an in-memory subset until it classifies every sample correctly, or
//! stops and says why it did not (budget, loss plateau, small gradient, optional Hessian
//! check, divergence); only a small full-data gradient or a divergence certifies that more
//! budget would not fit ([`StopReason::more_budget_may_fit`]). This is the only place a
//! probe of the EMC search is trained. It knows models only through [`emc_models::Model`] and data only as tensors;
//! it knows nothing of the search or of specific datasets.
//!
//! ```no_run
//! use candle_core::{DType, Device};
//! use emc_models::{InputShape, ModelSpec};
//! use emc_train::{fit, TrainConfig, TrainData};
//! # fn main() -> anyhow::Result<()> {
//! # let (images, labels): (candle_core::Tensor, candle_core::Tensor) = unimplemented!();
//! let spec: ModelSpec = "mlp:512x512:relu".parse()?;
//! let input = InputShape { channels: 1, height: 28, width: 28 };
//! let built = spec.build(input, 10, 0, DType::F32, &Device::Cpu)?;
//! let report = fit(built.model.as_ref(), &built.trainable,
//!                  TrainData { images: &images, labels: &labels },
//!                  &TrainConfig::default(), 0, None)?;
//! println!("fitted: {} after {} epochs ({})", report.fitted, report.epochs, report.stop);
//! # Ok(()) }
//! ```

pub mod allocator;
mod augment;
pub mod bench;
mod checkpoint;
mod config;
mod device;
mod error;
mod eval;
mod hessian;
mod lockstep;
mod provenance;
mod run;
mod trainer;

pub use augment::Augment;
pub use checkpoint::{load_checkpoint, read_checkpoint_metadata, save_checkpoint};
pub use config::{Batching, StopRules, TrainConfig};
pub use device::parse_device;
pub use error::{Result, TrainError};
pub use eval::{evaluate, full_gradient, full_gradient_smoothed, Evaluation};
pub use hessian::min_hessian_eigenvalue;
pub use lockstep::{can_lockstep, fit_lockstep, lockstep_key, Member, ProgressFn};
pub use provenance::Provenance;
// Stop reasons are part of the result files' format, owned by emc-results.
pub use emc_results::{stands_with_more_budget, StopReason};
pub use trainer::{fit, full_batch_step, minibatch_step, FitReport, Progress, TrainData};
