#!/usr/bin/env bash
# Records the AVX2 rows of the smoke references on a machine with AVX-512, by running the
# claims regression under QEMU's user-mode emulation of a Haswell CPU (AVX2 and FMA, no
# AVX-512). Matrix products sum in another order on each vector instruction set, so each
# reference row names the one it was recorded on (see tests/claims.rs).
#
# Checked: under this emulation claim-activations' smoke arm `mlp real silu lr=0.05` gives
# median EMC 470 (seeds 428, 512), the row recorded on a real AVX2 machine; natively on
# AVX-512 it gives 494. Emulation is slow: about 100x native (a few minutes per claim).
#
# Usage: scripts/record-avx2-reference.sh [TEST-NAME-FILTER...]   e.g. tabular_smoke classes
# (substrings of test names, as cargo test takes them; all smoke tests when none is given)
# Needs: qemu-user (Debian: apt-get install qemu-user), the real data (EMC_DATA_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -gt 0 ] || set -- smoke
command -v qemu-x86_64 >/dev/null || {
    echo "qemu-x86_64 not found: apt-get install qemu-user" >&2
    exit 1
}
bin=$(cargo test -p emc-tests --test claims --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "claims":
        print(m["executable"])')
[ -n "$bin" ] || {
    echo "could not build the claims test binary" >&2
    exit 1
}
EMC_WRITE_REFERENCE=1 EMC_REQUIRE_DATA=1 qemu-x86_64 -cpu Haswell "$bin" "$@" 2>&1 |
    grep -v "TCG doesn't support requested feature"
