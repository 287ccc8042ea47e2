#!/usr/bin/env bash
# backup.sh: encrypted, verified backups of a directory with coffer, uploaded to S3.
#
#   backup.sh [-m tar|files] [-n NAME] SOURCE_DIR DESTINATION
#
# Two modes:
#   tar (default)  SOURCE_DIR is archived with tar and streamed into `coffer encrypt`:
#                  no plaintext ever touches the disk, and file names are hidden inside
#                  the ciphertext. Uploads NAME.tar.coffer and NAME.index.coffer (the
#                  encrypted list of members with their block offsets, which lets
#                  restore.sh take a single file out with `coffer decrypt --range`).
#   files          `coffer encrypt -r --output-dir` mirrors the tree as one .coffer per
#                  file (file names and sizes stay visible to the storage provider), and
#                  each file is uploaded to DESTINATION/NAME/<relative path>.coffer.
#
# Everything is verified (`coffer verify`, or a full authenticated decrypt for tar mode)
# BEFORE anything is uploaded. The key is derived once per coffer run (Argon2id).
#
# Environment:
#   PASSPHRASE_FILE  passphrase file (one line, nothing else): a regular file owned by the
#                    user running the backup, mode 0600 or 0400: the script refuses
#                    anything group- or world-readable. Default /etc/coffer/passphrase.
#                    Create it with:  install -m 600 /dev/null /etc/coffer/passphrase
#                    then write one long random line into it (and keep a copy offline:
#                    without it the backups cannot be read).
#   UPLOAD_CMD       command run as `$UPLOAD_CMD LOCAL_FILE REMOTE_PATH` for each file.
#                    Default: `aws s3 cp --only-show-errors` (DESTINATION like
#                    s3://bucket/prefix). Any S3 client works: `s3cmd put`,
#                    `rclone copyto`, `mc cp`; `cp` for a local or mounted destination.
#   COFFER           the coffer binary (default: coffer from PATH).
#   KDF_ARGS         extra `coffer encrypt` options, e.g. "--kdf-memory 512"
#                    (default: none, coffer's defaults: 512 MiB, 2 passes, 4 lanes).
#   STAGING_DIR      parent of the private staging directory (default: ${TMPDIR:-/tmp}).
#                    It holds ciphertext only, and is removed on exit.
#   BACKUP_NAME      name of this backup (default: <basename of SOURCE_DIR>-<UTC time>);
#                    `-n NAME` overrides it.
#   MODE             tar or files (default tar); `-m` overrides it.
#
# Exit status: 0 when everything was encrypted, verified and uploaded; otherwise the
# status of the step that failed (coffer's exit codes: 1 I/O, 2 usage, 3 wrong
# passphrase, 4 authentication, 5 format; see `coffer --help`). Schedule it from cron or
# a systemd timer as root, e.g.:
#   15 3 * * *  root  /usr/local/bin/backup.sh /srv/data s3://my-backups/host1
set -euo pipefail
umask 077

log() { printf 'backup: %s\n' "$*" >&2; }
die() { log "error: $1"; exit "${2:-1}"; } # MESSAGE [EXIT_CODE]

COFFER=${COFFER:-coffer}
PASSPHRASE_FILE=${PASSPHRASE_FILE:-/etc/coffer/passphrase}
UPLOAD_CMD=${UPLOAD_CMD:-aws s3 cp --only-show-errors}
KDF_ARGS=${KDF_ARGS:-}
MODE=${MODE:-tar}
NAME=${BACKUP_NAME:-}

# A leading ':' in the option string: getopts reports bad options to us, not as
# "illegal option".
while getopts ':m:n:h' opt; do
    case $opt in
        m) MODE=$OPTARG ;;
        n) NAME=$OPTARG ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        :) die "-$OPTARG needs a value; usage: backup.sh [-m tar|files] [-n NAME] SOURCE_DIR DESTINATION" 2 ;;
        *) die "unknown option -$OPTARG; usage: backup.sh [-m tar|files] [-n NAME] SOURCE_DIR DESTINATION" 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 2 ] || die "usage: backup.sh [-m tar|files] [-n NAME] SOURCE_DIR DESTINATION" 2
SOURCE=$1
DEST=${2%/}
[ -d "$SOURCE" ] || die "$SOURCE is not a directory" 2
case $MODE in tar|files) ;; *) die "MODE must be tar or files, not '$MODE'" 2 ;; esac
[ -n "$NAME" ] || NAME="$(basename "$(cd "$SOURCE" && pwd)")-$(date -u +%Y%m%dT%H%M%SZ)"
case $NAME in */*|.*|'') die "backup name '$NAME' must be a plain file name" 2 ;; esac
command -v "${COFFER%% *}" >/dev/null 2>&1 || die "coffer not found (set COFFER)" 2

# The passphrase file must be private: a readable passphrase file is a readable backup.
if [ ! -f "$PASSPHRASE_FILE" ] || [ -L "$PASSPHRASE_FILE" ]; then
    die "passphrase file $PASSPHRASE_FILE is missing or not a regular file" 2
fi
perm=$(stat -c '%a' "$PASSPHRASE_FILE")
owner=$(stat -c '%u' "$PASSPHRASE_FILE")
case $perm in
    600|400) ;;
    *) die "passphrase file $PASSPHRASE_FILE has mode $perm; it must be 600 or 400 (chmod 600 it)" 2 ;;
esac
[ "$owner" = "$(id -u)" ] || die "passphrase file $PASSPHRASE_FILE is not owned by $(id -un)" 2
[ -s "$PASSPHRASE_FILE" ] || die "passphrase file $PASSPHRASE_FILE is empty" 2

STAGE=$(mktemp -d "${STAGING_DIR:-${TMPDIR:-/tmp}}/coffer-backup.XXXXXXXX")
trap 'rm -rf -- "$STAGE"' EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2206 # KDF_ARGS and UPLOAD_CMD are word lists on purpose
kdf=($KDF_ARGS)
# shellcheck disable=SC2206
upload=($UPLOAD_CMD)
pass=(--passphrase-file "$PASSPHRASE_FILE")

# Uploads LOCAL to REMOTE; for a local destination (no URL scheme) creates the
# directories first, so that plain `cp` works as the upload command.
put() {
    local local_file=$1 remote=$2
    case $remote in
        *://*) ;;
        *) mkdir -p -- "$(dirname -- "$remote")" ;;
    esac
    "${upload[@]}" "$local_file" "$remote" || die "upload of $local_file to $remote failed"
    log "uploaded $remote"
}

if [ "$MODE" = tar ]; then
    archive="$STAGE/$NAME.tar.coffer"
    index="$STAGE/$NAME.index.coffer"
    log "archiving and encrypting $SOURCE"
    # GNU format: member offsets in the index are 512-byte block numbers.
    tar --format=gnu -C "$SOURCE" -cf - . \
        | "$COFFER" encrypt -q "${pass[@]}" "${kdf[@]}" -o "$archive"
    # A full authenticated decrypt is the verification; listing the archive it contains
    # gives the index of members and their block numbers (`tar -tR`). In the C locale,
    # tar escapes every byte that is not printable ASCII, whatever the caller's locale,
    # so the index means the same to restore.sh everywhere.
    log "verifying $archive and building its index"
    "$COFFER" decrypt -q "${pass[@]}" -c "$archive" \
        | LC_ALL=C tar -tR -f - \
        | "$COFFER" encrypt -q "${pass[@]}" "${kdf[@]}" -o "$index"
    "$COFFER" verify -q "${pass[@]}" "$index"
    put "$archive" "$DEST/$NAME.tar.coffer"
    put "$index" "$DEST/$NAME.index.coffer"
else
    out="$STAGE/$NAME"
    log "encrypting $SOURCE into $out"
    "$COFFER" encrypt -q -r "${pass[@]}" "${kdf[@]}" --output-dir "$out" \
        --json --report "$STAGE/report.jsonl" "$SOURCE"
    log "verifying"
    "$COFFER" verify -q -r "${pass[@]}" "$out"
    while IFS= read -r -d '' f; do
        put "$f" "$DEST/$NAME/${f#"$out"/}"
    done < <(find "$out" -type f -print0)
fi
log "backup $NAME complete"
