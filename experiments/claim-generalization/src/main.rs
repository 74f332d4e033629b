//! `cargo run -p claim-generalization [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! finding (4) of the paper and says whether it holds. The claim itself is in `lib.rs`.

fn main() {
    emc_claims::main(&claim_generalization::SPEC);
}
