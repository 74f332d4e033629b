//! `cargo run -p claim-input-size [-- --scale smoke|cpu|paper] [--dry-run]`: measures how
//! the input resolution moves EMC (exploratory: the paper's direction is not known). The
//! claim itself is in `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_input_size::SPEC);
}
