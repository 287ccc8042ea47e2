#!/usr/bin/env bash
# Times several commands with their runs interleaved (A B C A B C ...), so that a noisy,
# shared machine disturbs each alike, and prints each command's median wall time. Use it
# for before/after comparisons of two coffer binaries; benches/compare.sh is the full run.
#
# usage:  bash benches/interleave.sh RUNS 'PREP' NAME 'CMD' [NAME 'CMD']...
#         PREP runs (untimed) before every timed command, e.g. 'rm -f out; sync; sleep 0.5'
# example (file to file, old vs new build):
#   bash benches/interleave.sh 7 'rm -f /tmp/x; sync; sleep 0.5' \
#     old "old/coffer encrypt -q --passphrase-file pw -f -o /tmp/x big" \
#     new "target/release/coffer encrypt -q --passphrase-file pw -f -o /tmp/x big"
set -euo pipefail
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
case ${1:-} in -h|--help) usage; exit 0 ;; esac
[ $# -ge 4 ] && [ $(( ($# - 2) % 2 )) = 0 ] || { usage >&2; exit 2; }
runs=$1 prep=$2; shift 2
case $runs in ''|*[!0-9]*|0) echo "RUNS must be a positive integer" >&2; exit 2 ;; esac
names=() cmds=()
while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
times=$(mktemp); trap 'rm -f "$times"' EXIT
for _ in $(seq "$runs"); do
    for k in "${!cmds[@]}"; do
        bash -c "$prep"
        start=$(date +%s%N)
        bash -c "${cmds[$k]}" > /dev/null || { echo "interleave.sh: '${names[$k]}' failed" >&2; exit 1; }
        end=$(date +%s%N)
        printf '%s %s\n' "$k" $(( (end - start) / 1000 )) >> "$times"
    done
done
for k in "${!cmds[@]}"; do
    awk -v k="$k" '$1 == k {print $2}' "$times" | sort -n | awk -v name="${names[$k]}" '
        {v[NR] = $1}
        END {
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%-12s median %8.1f ms  (min %.1f, max %.1f, %d runs)\n", name, m / 1000, v[1] / 1000, v[NR] / 1000, NR
        }'
done
