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
# before writing a byte. Any name can be restored: tar escapes unusual bytes in the index
# ("caf\303\251.txt", "back\\slash", "tab\tname"); PATH_IN_BACKUP is given as it is
# on disk and escaped the same way before the lookup.
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
die() { log "error: $1"; exit "${2:-1}"; } # MESSAGE [EXIT_CODE]
usage="usage: restore.sh [-o OUTPUT_DIR] SOURCE NAME PATH_IN_BACKUP"

COFFER=${COFFER:-coffer}
PASSPHRASE_FILE=${PASSPHRASE_FILE:-/etc/coffer/passphrase}
DOWNLOAD_CMD=${DOWNLOAD_CMD:-aws s3 cp --only-show-errors}
OUTDIR=.

# A leading ':' in the option string: getopts reports bad options to us, not as
# "illegal option".
while getopts ':o:h' opt; do
    case $opt in
        o) OUTDIR=$OPTARG ;;
        h) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        :) die "-$OPTARG needs a value; $usage" 2 ;;
        *) die "unknown option -$OPTARG; $usage" 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 3 ] || die "$usage" 2
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
# marker, "block M: ** Block of NULs **") begins. Names are compared escaped as GNU tar
# escapes them in the C locale: "\\" for a backslash, "\t"-style letters for common
# control characters, three octal digits for every other byte outside printable ASCII.
# Raw bytes above 0x7f in the listing (an index made in a UTF-8 locale) are escaped the
# same way first. The name reaches awk through ENVIRON: `awk -v` would interpret its
# backslashes.
listing=$("$COFFER" decrypt -q "${pass[@]}" -c "$index") || die "cannot decrypt $NAME.index.coffer" $?
range=$(printf '%s\n' "$listing" | WANT=$WANT LC_ALL=C awk '
    function escape(s, all,    out, i, c, o) {
        out = ""
        for (i = 1; i <= length(s); i++) {
            c = substr(s, i, 1); o = ord[c]
            if (o >= 127) out = out sprintf("\\%03o", o)
            else if (!all) out = out c
            else if (c == "\\") out = out "\\\\"
            else if (o in letter) out = out "\\" letter[o]
            else if (o < 32) out = out sprintf("\\%03o", o)
            else out = out c
        }
        return out
    }
    BEGIN {
        for (i = 1; i < 256; i++) ord[sprintf("%c", i)] = i
        split("a b t n v f r", l, " ")
        for (i = 1; i <= 7; i++) letter[i + 6] = l[i]
        want = escape(ENVIRON["WANT"], 1)
    }
    { n = $2; sub(/:$/, "", n); name = $0; sub(/^block [0-9]+: /, "", name) }
    found { print start * 512 ":" (n - start) * 512; done = 1; exit }
    escape(name, 0) == want { found = 1; start = n }
    END { if (!done) exit 1 }
') || die "$WANT is not in backup $NAME" 2

log "restoring $WANT (plaintext bytes $range of the archive)"
mkdir -p -- "$OUTDIR"
"$COFFER" decrypt -q "${pass[@]}" --range "$range" "$archive" | tar -x -f - -C "$OUTDIR"
[ -e "$OUTDIR/$WANT" ] || die "$WANT was not extracted"
log "restored $OUTDIR/${WANT#./}"
