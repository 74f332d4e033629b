//! `cargo run -p claim-random-inputs [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! whether MLPs fit random inputs more easily than real data while CNNs do the opposite,
//! and says whether it holds. The claim itself is in `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_random_inputs::SPEC);
}
