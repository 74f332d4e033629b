//! `cargo run -p claim-cnn-vs-mlp-vit [-- --scale smoke|cpu|paper] [--dry-run]`: measures
//! finding (2) of the paper and says whether it holds. The claim itself is in `lib.rs`.

fn main() {
    emc_claims::main(&claim_cnn_vs_mlp_vit::SPEC);
}
