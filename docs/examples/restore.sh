#!/usr/bin/env bash
# restore.sh: restore ONE file from a tar-mode backup made by backup.sh, decrypting only
# the chunks that hold it (`coffer decrypt --range`), not the whole archive.
#
#   restore.sh [-o OUTPUT_DIR] SOURCE NAME PATH_IN_BACKUP
#
# SOURCE is the DESTINATION given to backup.sh (s3://bucket/prefix, or a local or mounted
# directory), NAME the backup name, PATH_IN_BACKUP the file's path relative to the
# backed-up directory (e.g. etc/nginx/nginx.conf). The file is written below OUTPUT_DIR
# (default: current directory) with its relative path.
#
# How: NAME.index.coffer lists every tar member with its block number (tar -tR). The
# member's tar header and data lie between its block and the next member's block; that
# plaintext range is decrypted with `coffer decrypt --range START:LEN` and piped into
# `tar -x`. coffer authenticates the covering chunks and the final chunk (so the length)
# before writing a byte.
#
# Environment:
#   PASSPHRASE_FILE  as for backup.sh (default /etc/coffer/passphrase)
#   DOWNLOAD_CMD     `$DOWNLOAD_CMD REMOTE LOCAL` (default `aws s3 cp --only-show-errors`);
#                    not used when SOURCE is a local directory: then the archive is read
#                    in place and only the needed chunks are read at all.
#                    (For a huge S3 archive, `coffer inspect --ciphertext-range START:LEN`
#                    prints the byte ranges to fetch with `aws s3api get-object --range`.)
#   COFFER           the coffer binary (default: coffer from PATH)
set -euo pipefail
umask 077

log() { printf 'restore: %s\n' "$*" >&2; }
die() { log "error: $*"; exit "${2:-1}"; }

COFFER=${COFFER:-coffer}
PASSPHRASE_FILE=${PASSPHRASE_FILE:-/etc/coffer/passphrase}
DOWNLOAD_CMD=${DOWNLOAD_CMD:-aws s3 cp --only-show-errors}
OUTDIR=.

while getopts 'o:' opt; do
    case $opt in
        o) OUTDIR=$OPTARG ;;
        *) die "usage: restore.sh [-o OUTPUT_DIR] SOURCE NAME PATH_IN_BACKUP" 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || die "usage: restore.sh [-o OUTPUT_DIR] SOURCE NAME PATH_IN_BACKUP" 2
SOURCE=${1%/}
NAME=$2
WANT=./${3#./}
pass=(--passphrase-file "$PASSPHRASE_FILE")
# shellcheck disable=SC2206
download=($DOWNLOAD_CMD)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/coffer-restore.XXXXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

fetch() { # REMOTE_NAME -> prints a local path
    if [ -d "$SOURCE" ]; then
        printf '%s\n' "$SOURCE/$1"
    else
        "${download[@]}" "$SOURCE/$1" "$WORK/$1" >&2 || die "download of $SOURCE/$1 failed"
        printf '%s\n' "$WORK/$1"
    fi
}

index=$(fetch "$NAME.index.coffer")
archive=$(fetch "$NAME.tar.coffer")

# "block N: ./path" lines; the member ends where the next entry (or the end-of-archive
# marker, "block M: ** Block of NULs **") begins.
listing=$("$COFFER" decrypt -q "${pass[@]}" -c "$index") || die "cannot decrypt $NAME.index.coffer" $?
range=$(printf '%s\n' "$listing" | awk -v want="$WANT" '
    { n = $2; sub(/:$/, "", n); name = $0; sub(/^block [0-9]+: /, "", name) }
    found { print start * 512 ":" (n - start) * 512; done = 1; exit }
    name == want { found = 1; start = n }
    END { if (!done) exit 1 }
') || die "$WANT is not in backup $NAME" 2

log "restoring $WANT (plaintext bytes $range of the archive)"
mkdir -p -- "$OUTDIR"
"$COFFER" decrypt -q "${pass[@]}" --range "$range" "$archive" | tar -x -f - -C "$OUTDIR"
[ -e "$OUTDIR/$WANT" ] || die "$WANT was not extracted"
log "restored $OUTDIR/${WANT#./}"
