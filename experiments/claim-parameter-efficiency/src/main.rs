//! `cargo run -p claim-parameter-efficiency [-- --scale smoke|cpu|paper] [--dry-run]`:
//! measures whether subspace training and low-precision weights fit more samples per
//! trainable parameter (per bit) than the full network, and says whether it holds. The
//! claim itself is in `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_parameter_efficiency::SPEC);
}
