//! `cargo run -p claim-optimizers [-- --scale smoke|cpu|paper] [--dry-run]`: measures how the
//! optimizer moves EMC (exploratory beyond finding (3)). The claim itself is in `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_optimizers::SPEC);
}
