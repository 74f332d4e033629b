//! `cargo run -p claim-params-vs-samples [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! finding (1) of the paper and says whether it holds. The claim itself is in `lib.rs`.

fn main() {
    emc_claims::main(&claim_params_vs_samples::SPEC);
}
