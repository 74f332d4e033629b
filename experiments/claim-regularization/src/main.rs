//! `cargo run -p claim-regularization [-- --scale smoke|cpu|paper] [--dry-run]`: measures how
//! regularization moves EMC on real and random labels (exploratory). The claim is in
//! `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_regularization::SPEC);
}
