//! `cargo run -p claim-activations [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! finding (5) of the paper and says whether it holds. The claim itself is in `lib.rs`.

fn main() {
    emc_claims::main(&claim_activations::SPEC);
}
