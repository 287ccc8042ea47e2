#!/usr/bin/env bash
# Side-by-side benchmark of the coffer release binary against age (X25519 recipient mode),
# rage (recipient mode) and gpg (symmetric, no compression). coffer runs in the same mode
# as age (`--recipient` with an X25519 key from `coffer keygen --classic`), except for the
# KDF figure. Prints one markdown table of medians plus a description of the machine.
#
# usage:  bash benches/compare.sh
# env:    N=3            timed runs per figure (medians; 1 untimed warm-up before each)
#         QUICK=1        smoke run: 64 MiB instead of 1 GiB, 512 MiB instead of 8 GiB,
#                        1,000 instead of 10,000 small files
#         PEERS="age rage gpg"   peers to run (subset allowed, "" = coffer only)
#         SECTIONS="throughput filecopy rss small kdf"   figures to produce (subset allowed)
#         COFFER_BIN=path        use this coffer binary instead of `cargo build --release`
#         COFFER=0               skip everything coffer-related (peers only; for testing)
#         PURE=1                 also build coffer pure Rust (`--no-default-features`: the
#                        aes-gcm backend instead of aws-lc-rs, into $COFFER_BENCH_DIR/pure-target)
#                        and time it and its -T 1 in figure 1 beside the default build (0 = skip)
#         COFFER_PURE_BIN=path   use this pure-Rust coffer binary instead of building one
#         NATIVE=1               also build coffer with RUSTFLAGS="-C target-cpu=native" (into
#                        $COFFER_BENCH_DIR/native-target) and time it in figure 1 (0 = skip)
#         COFFER_KDF_MEMORY_MIB / COFFER_KDF_PASSES / COFFER_KDF_LANES
#                        KDF parameters for figure 6 (default: read from `coffer encrypt --help`,
#                        else 256 / 3 / 2); when set, coffer is run with them explicitly
#         COFFER_BENCH_DIR       scratch directory (default ${TMPDIR:-/tmp}/coffer-bench);
#                        test data, keys and rage are kept there between runs
#         KEEP_DATA=0            delete the test data at the end
# Missing tools are installed (apt-get: age gnupg time argon2 expect python3; cargo: rage),
# which needs root or sudo the first time.
# Figures (all from this run): 1 encrypt/decrypt of the big file to /dev/null (coffer, its
# -T 1, pure-Rust and native builds, the peers; two -T 1 processes at once for the machine's
# 2-core scaling; CPU seconds per GiB for each), 2 file to file (encrypt and decrypt) vs cat
# and dd bs=1M, 3 coffer -T 1 GB/s, 4 peak RSS at
# 1 MiB / big / 8 GiB, 5 10,000 x 4 KiB files with `-r` (+ age -p on a subset, scaled),
# 6 the Argon2id KDF vs the argon2 CLI.
set -euo pipefail
trap 'echo "compare.sh: FAILED (line $LINENO, exit $?): $BASH_COMMAND" >&2' ERR

case ${1:-} in
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    "") ;;
    *) echo "compare.sh takes no arguments (settings are environment variables; see --help)" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
B=${COFFER_BENCH_DIR:-${TMPDIR:-/tmp}/coffer-bench}
D=$B/data; O=$B/out; R=$B/results; K=$B/keys
N=${N:-3}
QUICK=${QUICK:-0}
PEERS=${PEERS-age rage gpg}
SECTIONS=${SECTIONS:-throughput filecopy rss small kdf}
COFFER=${COFFER:-1}
NATIVE=${NATIVE:-1}
PURE=${PURE:-1}
KEEP_DATA=${KEEP_DATA:-1}
TIMER="python3 $HERE/compare_timer.py"
PASSPHRASE="correct horse battery staple"

if [ "$QUICK" = 1 ]; then
    BIG_MIB=64; HUGE_MIB=512; SMALL_COUNT=1000; AGE_SMALL=5
else
    BIG_MIB=1024; HUGE_MIB=8192; SMALL_COUNT=10000; AGE_SMALL=20
fi
BIG_BYTES=$((BIG_MIB << 20)); HUGE_BYTES=$((HUGE_MIB << 20))
label() { if [ "$1" -ge 1024 ]; then echo "$(($1 / 1024))GiB"; else echo "${1}MiB"; fi; }
BIG_L=$(label $BIG_MIB); HUGE_L=$(label $HUGE_MIB)

has() { case " $2 " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
want() { has "$1" "$SECTIONS"; }
peer() { has "$1" "$PEERS"; }
say() { printf '\n== %s\n' "$*" >&2; }
die() { echo "compare.sh: $*" >&2; exit 1; }
for p in $PEERS; do case $p in age|rage|gpg) ;; *) die "unknown peer '$p' (PEERS: age rage gpg)" ;; esac; done
for s in $SECTIONS; do case $s in throughput|filecopy|rss|small|kdf) ;; *) die "unknown section '$s'" ;; esac; done
case $N in ''|*[!0-9]*|0) die "N must be a positive integer" ;; esac

mkdir -p "$D" "$O" "$R" "$K"
rm -f "$R"/*.json "$R"/*.log "$R"/meta.txt "$R"/summary.md   # never report a previous run's figure
meta() { printf '%s\t%s\n' "$1" "$2" >> "$R/meta.txt"; }

# ---------------------------------------------------------------------------------------------
# 1. tools (idempotent)
say "tools"
pkgs=()
command -v python3 >/dev/null || pkgs+=(python3)
[ -x /usr/bin/time ] || pkgs+=(time)
if peer age || peer rage; then command -v age-keygen >/dev/null || pkgs+=(age); fi
if peer age && want small; then command -v expect >/dev/null || pkgs+=(expect); fi
peer gpg && { command -v gpg >/dev/null || pkgs+=(gnupg); }
[ "$COFFER" = 1 ] && want kdf && { command -v argon2 >/dev/null || pkgs+=(argon2); }
if [ ${#pkgs[@]} -gt 0 ]; then
    SUDO=""
    if [ "$(id -u)" != 0 ]; then command -v sudo >/dev/null || die "need root or sudo to apt-get install ${pkgs[*]}"; SUDO=sudo; fi
    echo "installing: ${pkgs[*]}" >&2
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y "${pkgs[@]}"
fi
if { [ "$COFFER" = 1 ] && [ -z "${COFFER_BIN:-}" ]; } || peer rage; then
    command -v cargo >/dev/null || die "cargo is needed (to build coffer / install rage): https://rustup.rs"
fi
RAGE=""
if peer rage; then
    RAGE=${RAGE_BIN:-$(command -v rage || true)}
    if [ -z "$RAGE" ]; then
        RAGE=$B/cargo/bin/rage
        if [ ! -x "$RAGE" ]; then
            echo "installing rage with cargo (a few minutes)" >&2
            CARGO_TARGET_DIR=$B/cargo-target cargo install --locked rage --root "$B/cargo"
            rm -rf "$B/cargo-target"
        fi
    fi
fi
CO=""
if [ "$COFFER" = 1 ]; then
    if [ -n "${COFFER_BIN:-}" ]; then
        CO=$COFFER_BIN
    else
        (cd "$ROOT" && cargo build --release --bin coffer)
        CO=${CARGO_TARGET_DIR:-$ROOT/target}/release/coffer
    fi
    [ -x "$CO" ] || die "coffer binary not found at $CO"
    CO=$(cd "$(dirname "$CO")" && pwd)/$(basename "$CO")
fi
# The opt-in build of docs/PERFORMANCE.md: the same source, compiled for this CPU.
CONAT=""
if [ "$COFFER" = 1 ] && [ "$NATIVE" = 1 ] && want throughput; then
    command -v cargo >/dev/null || die "cargo is needed for NATIVE=1 (or set NATIVE=0)"
    (cd "$ROOT" && RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR="$B/native-target" \
        cargo build --release --bin coffer)
    CONAT=$B/native-target/release/coffer
fi

# The pure-Rust build: the same source without the aws-lc-rs backend.
COPURE=""
if [ "$COFFER" = 1 ] && [ "$PURE" = 1 ] && want throughput; then
    command -v cargo >/dev/null || die "cargo is needed for PURE=1 (or set PURE=0)"
    if [ -n "${COFFER_PURE_BIN:-}" ]; then
        COPURE=$COFFER_PURE_BIN
    else
        pure=(--no-default-features)
        if grep -q '^cli *=' "$ROOT/Cargo.toml"; then pure+=(--features cli); fi
        (cd "$ROOT" && CARGO_TARGET_DIR="$B/pure-target" cargo build --release --bin coffer "${pure[@]}")
        COPURE=$B/pure-target/release/coffer
    fi
    "$COPURE" --version | grep -q 'aes-gcm' || die "$COPURE is not a pure-Rust (aes-gcm) build"
fi

# ---------------------------------------------------------------------------------------------
# 2. machine, versions, keys, data
meta nproc "$(nproc)"
meta cpu "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo unknown)"
meta kernel "$(uname -srm)"
meta memory "$(awk '/^MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
meta os "$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME" || echo unknown)"
meta fs "$(df -PT "$B" | awk 'NR==2 {print $2}') ($B)"
meta n "$N"; meta quick "$QUICK"; meta big_bytes "$BIG_BYTES"; meta huge_bytes "$HUGE_BYTES"
meta big_label "$BIG_L"; meta huge_label "$HUGE_L"; meta small_count "$SMALL_COUNT"; meta age_small "$AGE_SMALL"
meta peers "$PEERS"; meta sections "$SECTIONS"
[ -n "$CO" ] && meta v_coffer "$("$CO" --version 2>&1 | paste -sd, | sed 's/,/, /') ($CO)"
[ -n "$COPURE" ] && meta v_coffer_pure "pure-Rust build: $("$COPURE" --version 2>&1 | sed -n 2p) ($COPURE)"
[ -n "$CONAT" ] && meta v_coffer_native "the same built with -C target-cpu=native ($CONAT)"
peer age && meta v_age "age $(age --version)"
peer rage && meta v_rage "$("$RAGE" --version | head -1)"
peer gpg && meta v_gpg "$(gpg --version | head -1) / $(gpg --version | sed -n 2p)"

printf '%s\n' "$PASSPHRASE" > "$K/pass.txt"; chmod 600 "$K/pass.txt"
PASS=$K/pass.txt
if peer age || peer rage; then
    [ -s "$K/age.key" ] || age-keygen -o "$K/age.key" 2>/dev/null
    AGEPUB=$(age-keygen -y "$K/age.key")
fi
GPGHOME=$B/gnupg; mkdir -p "$GPGHOME"; chmod 700 "$GPGHOME"
cleanup() {
    if peer gpg; then gpgconf --homedir "$GPGHOME" --kill gpg-agent >/dev/null 2>&1 || true; fi
    rm -rf "$O"
    [ "$KEEP_DATA" = 1 ] || rm -rf "$D"
}
trap cleanup EXIT

BIG=$D/big-$BIG_L.bin
if [ "$(stat -c %s "$BIG" 2>/dev/null || echo 0)" != "$BIG_BYTES" ]; then
    say "making $BIG_L of random data"
    head -c "$BIG_BYTES" /dev/urandom > "$BIG.tmp"; mv "$BIG.tmp" "$BIG"
fi
MIB1=$D/1m.bin
[ "$(stat -c %s "$MIB1" 2>/dev/null || echo 0)" = 1048576 ] || head -c 1M /dev/urandom > "$MIB1"
EMPTY=$D/empty.bin; : > "$EMPTY"
SMALL=$D/small-$SMALL_COUNT
if want small && [ "$(find "$SMALL" -type f 2>/dev/null | wc -l)" != "$SMALL_COUNT" ]; then
    say "making $SMALL_COUNT files of 4 KiB"
    rm -rf "$SMALL"; mkdir -p "$SMALL"
    python3 - "$SMALL" "$SMALL_COUNT" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, "f%05d.bin" % i), "wb") as f:
        f.write(os.urandom(4096))
EOF
fi
# cache_load FILE...: put FILE in the page cache the way a backup source gets there, through
# the kernel's readahead. Dropping it first matters: a file written by small writes (as
# `head -c > file` does) is cached in small folios and reads about half as fast (here ~10
# vs ~24 GB/s), which would make the figures depend on how each file happened to be written.
cache_load() {
    python3 - "$@" <<'EOF'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages cannot be dropped
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        while os.read(fd, 1 << 20):
            pass
    finally:
        os.close(fd)
EOF
}
cache_load "$BIG"
meta page_cache "each input dropped from the page cache and read back (readahead) before it is timed"
# the page cache must be able to hold the big file plus its ciphertext
avail_kib=$(awk '/^MemAvailable/ {print $2}' /proc/meminfo)
[ $((avail_kib * 1024)) -gt $((BIG_BYTES * 3)) ] || echo "WARNING: MemAvailable is under 3x the big file; it may not stay in the page cache" >&2

# timed NAME BYTES CMD [PREP] [RUNS] [WARMUP]
timed() {
    local name=$1 bytes=$2 cmd=$3 prep=${4:-} runs=${5:-$N} wu=${6:-1}
    printf '%s\n' "$cmd" > "$R/$name.cmd"
    if [ -n "$prep" ]; then
        $TIMER --name "$name" --out "$R" -n "$runs" --warmup "$wu" --bytes "$bytes" --prep "$prep" -- "$cmd"
    else
        $TIMER --name "$name" --out "$R" -n "$runs" --warmup "$wu" --bytes "$bytes" -- "$cmd"
    fi
}
# roundtrip TOOL PLAINTEXT DECRYPTED
roundtrip() {
    if cmp -s "$2" "$3"; then echo "  $1: round trip OK ($(stat -c %s "$2") B -> $(stat -c %s "$O/$1.ct") B ciphertext)" >&2
        meta "rt_$1" "OK"; meta "ct_$1" "$(stat -c %s "$O/$1.ct")"
    else die "$1: ROUND TRIP FAILED ($2 vs $3)"; fi
}

timed base.true 0 "true" "" "$N"   # the harness's own peak-RSS floor (bash)

FLOOR="--kdf-memory 19 --kdf-passes 2 --kdf-lanes 1"
# Throughput, file copy and memory: coffer to an X25519 recipient, the mode age and rage
# run in (no KDF). The passphrase at the KDF floor is for figure 6.
if [ -n "$CO" ]; then
    [ -s "$K/coffer.key" ] || "$CO" keygen --classic -o "$K/coffer.key" > /dev/null
    COPUB=$("$CO" keygen -y "$K/coffer.key")
fi
CE="$CO encrypt -q --recipient ${COPUB:-}"
CD="$CO decrypt -q -i $K/coffer.key"
CEP="$CO encrypt -q --passphrase-file $PASS $FLOOR"
CDP="$CO decrypt -q --passphrase-file $PASS"
GPG="gpg --homedir $GPGHOME --batch --yes --quiet --no-symkey-cache --pinentry-mode loopback --passphrase-file $PASS"
GPGE="$GPG --symmetric --cipher-algo AES256 --compress-algo none"
EMPTY_N=$((N + 2))

# ---------------------------------------------------------------------------------------------
# figures 1 and 3: big file -> /dev/null, each tool; round trip once per tool
if want throughput; then
    say "figure 1/3: $BIG_L (page cache) -> /dev/null, N=$N"
    # tool encrypt-template decrypt-template; @IN@ / @OUT@ are filled in
    run_tool() {
        local t=$1 enc=$2 dec=$3 ct=$O/$1.ct pt=$O/$1.pt e d
        rm -f "$ct" "$pt"
        e=${enc//@IN@/$BIG}; eval "${e//@OUT@/$ct}"
        d=${dec//@IN@/$ct}; eval "${d//@OUT@/$pt}"
        roundtrip "$t" "$BIG" "$pt"; rm -f "$pt"
        cache_load "$BIG" "$ct"
        e=${enc//@IN@/$BIG}; timed "$t.enc" "$BIG_BYTES" "${e//@OUT@/\/dev\/null}"
        d=${dec//@IN@/$ct};  timed "$t.dec" "$BIG_BYTES" "${d//@OUT@/\/dev\/null}"
        # fixed cost (start-up, key setup/KDF): the same on an empty file
        e=${enc//@IN@/$EMPTY}; eval "${e//@OUT@/$O/$t.empty.ct}"
        e=${enc//@IN@/$EMPTY}; timed "$t.empty.enc" 0 "${e//@OUT@/\/dev\/null}" "" "$EMPTY_N"
        d=${dec//@IN@/$O/$t.empty.ct}; timed "$t.empty.dec" 0 "${d//@OUT@/\/dev\/null}" "" "$EMPTY_N"
        rm -f "$O/$t.empty.ct"
    }
    if [ -n "$CO" ]; then
        run_tool coffer "$CE -c @IN@ > @OUT@" "$CD -c @IN@ > @OUT@"
        run_tool coffer-T1 "$CE -T 1 -c @IN@ > @OUT@" "$CD -T 1 -c @IN@ > @OUT@"
        # the ciphertext must not depend on the thread count: cross-decrypt once
        cmp "$BIG" <($CD -T 1 -c "$O/coffer.ct") && cmp "$BIG" <($CD -c "$O/coffer-T1.ct") \
            || die "coffer: -T 1 and default-thread ciphertexts do not cross-decrypt"
        echo "  coffer: default-thread and -T 1 ciphertexts cross-decrypt OK" >&2
        rm -f "$O/coffer-T1.ct"
        # What two busy cores can do on this machine: two independent -T 1 processes at
        # once (each encrypts the whole file). On a VM whose two vCPUs share a physical
        # core's resources, each runs slower than alone: that, not the pipeline, bounds the
        # 2-thread speed-up.
        timed coffer-T1.pair.enc $((2 * BIG_BYTES)) \
            "$CE -T 1 -c $BIG > /dev/null & p=\$!; $CE -T 1 -c $BIG > /dev/null; wait \$p"
    fi
    if [ -n "$COPURE" ]; then
        PE=${CE/#$CO/$COPURE}; PD=${CD/#$CO/$COPURE}
        run_tool coffer-aesgcm "$PE -c @IN@ > @OUT@" "$PD -c @IN@ > @OUT@"
        run_tool coffer-aesgcm-T1 "$PE -T 1 -c @IN@ > @OUT@" "$PD -T 1 -c @IN@ > @OUT@"
        # Either build reads the other's files.
        cmp "$BIG" <($CD -c "$O/coffer-aesgcm.ct") && cmp "$BIG" <($PD -c "$O/coffer.ct") \
            || die "coffer: the pure-Rust and default builds do not read each other's files"
        echo "  coffer: the pure-Rust and default builds read each other's files" >&2
        rm -f "$O/coffer-aesgcm.ct" "$O/coffer-aesgcm-T1.ct"
    fi
    if [ -n "$CONAT" ]; then
        run_tool coffer-native "${CE/#$CO/$CONAT} -c @IN@ > @OUT@" "${CD/#$CO/$CONAT} -c @IN@ > @OUT@"
        cmp "$BIG" <($CD -c "$O/coffer-native.ct") \
            || die "coffer: the native build's ciphertext does not decrypt with the portable build"
        echo "  coffer: the native build's ciphertext decrypts with the portable build" >&2
        rm -f "$O/coffer-native.ct"
    fi
    if peer age; then run_tool age "age -r $AGEPUB @IN@ > @OUT@" "age -d -i $K/age.key @IN@ > @OUT@"; rm -f "$O/age.ct"; fi
    if peer rage; then run_tool rage "$RAGE -r $AGEPUB @IN@ > @OUT@" "$RAGE -d -i $K/age.key @IN@ > @OUT@"; rm -f "$O/rage.ct"; fi
    if peer gpg; then run_tool gpg "$GPGE -o - @IN@ > @OUT@" "$GPG -d @IN@ > @OUT@"; rm -f "$O/gpg.ct"; fi
fi

# ---------------------------------------------------------------------------------------------
# figure 2: file to file, coffer vs cat, same filesystem, output removed (and synced) before each run
if want filecopy && [ -n "$CO" ]; then
    say "figure 2: $BIG_L file -> file (coffer encrypt/decrypt -o vs cat >), N=$N"
    # Before each run the previous output is removed and everything synced; the short pause
    # lets the filesystem settle (freeing and discarding 1 GiB) before the clock starts.
    settle="sync; sleep 0.5"
    timed file.coffer "$BIG_BYTES" "$CE -f -o $O/file.coffer.out $BIG" "rm -f $O/file.coffer.out; $settle"
    cmp <($CD -c "$O/file.coffer.out") "$BIG" || die "coffer file-to-file output does not decrypt to the input"
    echo "  file-to-file output decrypts OK" >&2
    cache_load "$O/file.coffer.out"
    timed file.coffer.dec "$BIG_BYTES" "$CD -f -o $O/file.coffer.dec.out $O/file.coffer.out" \
        "rm -f $O/file.coffer.dec.out; $settle"
    cmp "$O/file.coffer.dec.out" "$BIG" || die "coffer file-to-file decrypt output differs from the input"
    echo "  file-to-file decrypt output matches the input" >&2
    timed file.cat "$BIG_BYTES" "cat $BIG > $O/file.cat.out" "rm -f $O/file.cat.out; $settle"
    [ "$(stat -c %s "$O/file.cat.out")" = "$BIG_BYTES" ] || die "cat copy has the wrong size"
    timed file.dd "$BIG_BYTES" "dd if=$BIG of=$O/file.dd.out bs=1M status=none" "rm -f $O/file.dd.out; $settle"
    [ "$(stat -c %s "$O/file.dd.out")" = "$BIG_BYTES" ] || die "dd copy has the wrong size"
    rm -f "$O/file.coffer.out" "$O/file.coffer.dec.out" "$O/file.cat.out" "$O/file.dd.out"
fi

# ---------------------------------------------------------------------------------------------
# figure 4: peak RSS, 1 MiB / big file / huge stream (generated, piped)
if want rss && [ -n "$CO" ]; then
    say "figure 4: peak RSS of coffer (1 MiB, $BIG_L, $HUGE_L piped), N=$N"
    avail=$(df -Pk "$O" | awk 'NR==2 {print $4}')
    [ $((avail * 1024)) -gt $((HUGE_BYTES + (1 << 30))) ] \
        || die "need $HUGE_L free under $O for the $HUGE_L ciphertext (set COFFER_BENCH_DIR or QUICK=1)"
    $CE -f -o "$O/rss.1m.ct" "$MIB1"
    cmp <($CD -c "$O/rss.1m.ct") "$MIB1" || die "coffer 1 MiB round trip failed"
    timed rss.1m.enc 1048576 "$CE -c $MIB1 > /dev/null"
    timed rss.1m.dec 1048576 "$CD -c $O/rss.1m.ct > /dev/null"
    if ! want throughput; then   # the big-file figures are the same commands as figure 1
        $CE -f -o "$O/coffer.ct" "$BIG"
        timed coffer.enc "$BIG_BYTES" "$CE -c $BIG > /dev/null"
        timed coffer.dec "$BIG_BYTES" "$CD -c $O/coffer.ct > /dev/null"
    fi
    # huge: zeros from a generator through a pipe; the ciphertext is made the same way, kept on
    # disk once, and piped back in (cat | coffer decrypt); its digest is checked against the generator's
    head -c "$HUGE_BYTES" /dev/zero | $CE > "$O/rss.huge.ct"
    want_sum=$(head -c "$HUGE_BYTES" /dev/zero | sha256sum)
    got_sum=$(cat "$O/rss.huge.ct" | $CD | sha256sum)
    [ "$want_sum" = "$got_sum" ] || die "coffer $HUGE_L stream round trip failed"
    echo "  $HUGE_L stream round trip OK ($(stat -c %s "$O/rss.huge.ct") B ciphertext)" >&2
    timed rss.huge.enc "$HUGE_BYTES" "head -c $HUGE_BYTES /dev/zero | $CE > /dev/null"
    timed rss.huge.dec "$HUGE_BYTES" "cat $O/rss.huge.ct | $CD > /dev/null"
    rm -f "$O/rss.huge.ct" "$O/rss.1m.ct"
fi
rm -f "$O/coffer.ct"

# ---------------------------------------------------------------------------------------------
# figure 5: many small files, default KDF, one invocation
if want small && [ -n "$CO" ]; then
    say "figure 5: $SMALL_COUNT x 4 KiB, coffer encrypt -r (default KDF), N=$N"
    WD=$O/small
    # The previous run's tree is moved aside, not deleted, before each run: deleting 20,000
    # files just before the timed run (ext4 with discard on this VM) slowed the next run's
    # file creation up to tenfold, which measured the filesystem, not coffer.
    timed small.coffer.enc 0 "$CO encrypt -q -r $WD --passphrase-file $PASS" \
        "[ ! -d $WD ] || mv $WD $O/small.trash.\$(date +%s%N); cp -r $SMALL $WD; sync"
    rm -rf "$O"/small.trash.*
    # check: one .coffer per file, and they decrypt back (once)
    nct=$(find "$WD" -type f -name '*.coffer' | wc -l)
    [ "$nct" = "$SMALL_COUNT" ] || die "coffer encrypt -r made $nct .coffer files, expected $SMALL_COUNT"
    find "$WD" -type f ! -name '*.coffer' -delete
    "$CO" decrypt -q -r "$WD" --passphrase-file "$PASS"
    bad=0
    for f in "$SMALL"/*; do cmp -s "$f" "$WD/${f##*/}" || bad=$((bad + 1)); done
    [ "$bad" = 0 ] || die "coffer -r round trip: $bad of $SMALL_COUNT files differ"
    echo "  coffer -r round trip OK ($SMALL_COUNT files, $(find "$WD" -name '*.coffer' -printf '%s\n' | awk '{s+=$1} END {print s}') B ciphertext)" >&2
    meta small_ct_bytes "$(find "$WD" -name '*.coffer' -printf '%s\n' | awk '{s+=$1} END {print s}')"
    rm -rf "$WD"
fi
if want small && peer age; then
        # age reads a passphrase only from a terminal: drive it with expect (one process per file)
        say "figure 5b: age -p, $AGE_SMALL files (scaled to $SMALL_COUNT), 1 run"
        cat > "$B/askpass.exp" <<'EOF'
# usage: PASSPHRASE=... expect -f askpass.exp CMD ARG...  (answers every passphrase prompt)
set timeout -1
log_user 0
spawn -noecho {*}$argv
expect {
    -nocase -re {passphrase[^\n]*: ?} { send -- "$env(PASSPHRASE)\r"; exp_continue }
    eof
}
lassign [wait] pid spawnid oserr status
exit $status
EOF
        export PASSPHRASE
        AD=$O/agesmall; rm -rf "$AD"; mkdir -p "$AD"
        ls "$SMALL" | sed -n "1,${AGE_SMALL}p" > "$B/agesmall.list"
        timed small.age.enc 0 \
            "while read -r f; do expect -f $B/askpass.exp age -p -o $AD/\$f.age $SMALL/\$f || exit 1; done < $B/agesmall.list" "" 1 0
        timed small.expect.base 0 "expect -f $B/askpass.exp sh -c 'printf \"passphrase: \"; read -r x'" "" "$N" 1
        bad=0
        while read -r f; do
            expect -f "$B/askpass.exp" age -d -o "$AD/$f.dec" "$AD/$f.age"
            cmp -s "$SMALL/$f" "$AD/$f.dec" || bad=$((bad + 1))
        done < "$B/agesmall.list"
        [ "$bad" = 0 ] || die "age -p round trip: $bad files differ"
        echo "  age -p round trip OK ($AGE_SMALL files)" >&2
        rm -rf "$AD"
fi

# ---------------------------------------------------------------------------------------------
# figure 6: the KDF alone: coffer empty-file encrypt (default KDF minus floor KDF) vs argon2 CLI
if want kdf && [ -n "$CO" ]; then
    KM=${COFFER_KDF_MEMORY_MIB:-}; KT=${COFFER_KDF_PASSES:-}; KL=${COFFER_KDF_LANES:-}
    KDF_FLAGS=""; src="env"
    if [ -z "$KM$KT$KL" ]; then
        read -r KM KT KL < <("$CO" encrypt --help 2>&1 | python3 -c '
import re, sys
text = sys.stdin.read()
# split the help into option blocks (a line starting with whitespace then "-")
blocks = re.split(r"\n(?=\s*-)", text)
def dflt(opt):
    for b in blocks:
        if re.search(r"--%s\b" % opt, b):
            m = re.search(r"default[:=\s]*(\d+)", " ".join(b.split()), re.I)
            if m:
                return m.group(1)
    return "-"
print(dflt("kdf-memory"), dflt("kdf-passes"), dflt("kdf-lanes"))') || true
        src=help
        case "$KM$KT$KL" in *-*|"") KM=256; KT=3; KL=2; src="assumed (not parseable from coffer encrypt --help)"
            KDF_FLAGS="--kdf-memory $KM --kdf-passes $KT --kdf-lanes $KL" ;; esac
    else
        KM=${KM:-256}; KT=${KT:-3}; KL=${KL:-2}
        KDF_FLAGS="--kdf-memory $KM --kdf-passes $KT --kdf-lanes $KL"
    fi
    meta kdf_params "$KM $KT $KL"; meta kdf_source "$src"
    say "figure 6: KDF: Argon2id m=$KM MiB t=$KT p=$KL ($src), N=$EMPTY_N"
    $CO encrypt -q -c --passphrase-file "$PASS" $KDF_FLAGS "$EMPTY" > "$O/kdf.ct"
    [ -z "$($CDP -c "$O/kdf.ct")" ] || die "coffer empty-file round trip failed"
    rm -f "$O/kdf.ct"
    timed kdf.coffer.default 0 "$CO encrypt -q -c --passphrase-file $PASS $KDF_FLAGS $EMPTY > /dev/null" "" "$EMPTY_N"
    timed kdf.coffer.floor 0 "$CEP -c $EMPTY > /dev/null" "" "$EMPTY_N"
    timed kdf.argon2.default 0 "printf pw | argon2 coffer-bench-salt -id -k $((KM * 1024)) -t $KT -p $KL -l 32 -r > /dev/null" "" "$EMPTY_N"
    timed kdf.argon2.floor 0 "printf pw | argon2 coffer-bench-salt -id -k $((19 * 1024)) -t 2 -p 1 -l 32 -r > /dev/null" "" "$EMPTY_N"
fi

# ---------------------------------------------------------------------------------------------
say "summary"
python3 "$HERE/compare_summary.py" "$R" | tee "$R/summary.md"
echo "(raw results: $R)" >&2
