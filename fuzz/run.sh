#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20), after seeding the corpora from
# tests/vectors. Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#   fuzz/run.sh 20            the CI smoke run
#   fuzz/run.sh 240           the first runs recorded in docs/SECURITY.md (the two-hour
#                             run of the decryption targets side by side: its command there)
#   fuzz/run.sh 60 header     one target
# COFFER_FUZZ_TOOLCHAIN picks the toolchain (default nightly; `stable` needs RUSTC_BOOTSTRAP=1).
# Builds with optimisations, debug assertions and overflow checks in coffer (see
# Cargo.toml), without AddressSanitizer
# (coffer is safe Rust: what the fuzzers look for is panics, overflows and wrong output).
# Exits non-zero on the first crash; libFuzzer saves the input under fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-20}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(header credentials decrypt_stream decrypt_seekable decrypt_pipeline)
./seed.sh
toolchain="+${COFFER_FUZZ_TOOLCHAIN:-nightly}"
flags=("$toolchain" fuzz run -O -s none)
cargo "$toolchain" fuzz build -O -s none
log="${TMPDIR:-/tmp}/coffer-fuzz.log"
for target in "${targets[@]}"; do
    echo "== fuzz $target (${seconds}s)"
    if ! cargo "${flags[@]}" "$target" -- -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log" >&2
        echo "fuzz target $target failed (input saved under fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    grep -E '^#[0-9]+[[:space:]]+DONE|^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$log" || true
done
