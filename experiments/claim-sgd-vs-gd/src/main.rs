//! `cargo run -p claim-sgd-vs-gd [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! finding (3) of the paper and says whether it holds. The claim itself is in `lib.rs`.

fn main() {
    emc_claims::main(&claim_sgd_vs_gd::SPEC);
}
