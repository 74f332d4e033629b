//! `cargo run -p claim-width-vs-depth [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! whether growing a network's width raises its EMC more, per added parameter, than growing
//! its depth or its input resolution, and says whether it holds. The claim itself is in
//! `lib.rs`.

/// candle allocates a buffer per op: mimalloc keeps freed ones for the next step (with
/// purging off, which `emc_claims::main` sets) where glibc returns them to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    emc_claims::main(&claim_width_vs_depth::SPEC);
}
