//! `cargo run -p claim-random-labels-vs-linear [-- --scale smoke|cpu|paper] [--dry-run]`:
//! measures whether networks fit fewer random labels per parameter than the linear model,
//! and says whether it holds. The claim itself is in `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_random_labels_vs_linear::SPEC);
}
