//! `cargo run -p claim-compound-scaling [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! whether EfficientNet's compound scaling raises EMC per parameter at least as much as
//! scaling width or depth alone to the same size, and says whether it holds. The claim
//! itself is in `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_compound_scaling::SPEC);
}
