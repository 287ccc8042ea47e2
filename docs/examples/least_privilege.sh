#!/usr/bin/env bash
# least_privilege.sh: a backup host that can write backups it cannot read, played on one
# machine as two (README, "Backups that the backup host cannot read").
#
#   least_privilege.sh [WORKDIR]
#
# The "restore machine" makes an identity (the secret; post-quantum hybrid by default)
# and hands only its recipient string to the "backup host". The backup host encrypts in
# an environment with no identity, no key file, no passphrase variable and no terminal
# (its own session, stdin from /dev/null, a scrubbed environment), then tries to decrypt
# its own backup and must fail with exit 3 ("no key slot opens"). The restore machine
# opens the backup with the identity and compares it with the original.
#
# Exits 0 when all of that holds, non-zero with a message otherwise. tests/cli/cli_recipients.rs
# runs it, so it stays true.
#
# Environment:
#   COFFER   the coffer binary (default: coffer from PATH)
set -euo pipefail
umask 077

COFFER=${COFFER:-coffer}
work=${1:-$(mktemp -d)}
mkdir -p "$work/restore-machine" "$work/backup-host/data"
restore=$work/restore-machine
host=$work/backup-host

log() { printf 'least_privilege: %s\n' "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# On the backup host: a fresh session (no controlling terminal), no stdin, and an
# environment holding nothing but PATH and the recipient. `env -i` drops every variable
# (no COFFER_PASSPHRASE or the like can leak in); `setsid -w` detaches from the terminal.
on_backup_host() {
    (cd "$host" && env -i PATH="$PATH" RECIPIENT="$recipient" setsid -w "$@" </dev/null)
}

# 1. Restore machine: make the identity. Only the recipient (public) leaves it.
recipient=$("$COFFER" keygen -o "$restore/identity.txt")
log "restore machine: identity in $restore/identity.txt, recipient ${recipient:0:24}..."

# 2. Backup host: some data, and the recipient string only.
head -c 300000 /dev/urandom >"$host/data/db.dump"
printf 'config\n' >"$host/data/app.conf"
if find "$host" -name 'identity*' | grep -q .; then die "the backup host holds an identity"; fi

# 3. Backup host: encrypt to the recipient. No secret exists here to be asked for.
on_backup_host bash -c 'tar -C data -cf - . | "$0" encrypt -q --recipient "$RECIPIENT" -c >backup.tar.coffer' "$COFFER" \
    || die "encrypting on the backup host (exit $?)"
log "backup host: wrote backup.tar.coffer ($(wc -c <"$host/backup.tar.coffer") bytes)"

# 4. Backup host: it cannot read its own backup. With no credential at all coffer wants
#    a passphrase and has no source (exit 2); its recipient is no identity (exit 2); any
#    credential it can make up, its own new identity or a guessed passphrase, opens no
#    slot (exit 3, "no key slot opens").
set +e
on_backup_host "$COFFER" decrypt -q -c backup.tar.coffer >/dev/null 2>"$host/decrypt.err"
bare=$?
printf '%s\n' "$recipient" >"$host/recipient.txt"
on_backup_host "$COFFER" decrypt -q -i recipient.txt -c backup.tar.coffer >/dev/null 2>>"$host/decrypt.err"
with_recipient=$?
on_backup_host bash -c '"$0" keygen -o own-identity.txt >/dev/null && "$0" decrypt -q -i own-identity.txt -c backup.tar.coffer' "$COFFER" \
    >/dev/null 2>>"$host/decrypt.err"
own_identity=$?
on_backup_host bash -c 'printf guess >guess.txt && "$0" decrypt -q --passphrase-file guess.txt -c backup.tar.coffer' "$COFFER" \
    >/dev/null 2>>"$host/decrypt.err"
guessed=$?
set -e
[ "$bare" -eq 2 ] || die "decrypt with no credential on the backup host: exit $bare, want 2"
[ "$with_recipient" -eq 2 ] || die "its recipient used as an identity: exit $with_recipient, want 2"
[ "$own_identity" -eq 3 ] || die "the backup host's own identity: exit $own_identity, want 3"
[ "$guessed" -eq 3 ] || die "a guessed passphrase on the backup host: exit $guessed, want 3"
log "backup host: cannot decrypt (exit $bare with nothing, $with_recipient with its recipient, $own_identity with its own identity, $guessed with a guessed passphrase)"

# 5. Restore machine: the identity opens it; the data comes back byte for byte.
cp "$host/backup.tar.coffer" "$restore/"
mkdir -p "$restore/out"
"$COFFER" decrypt -q -i "$restore/identity.txt" -c "$restore/backup.tar.coffer" \
    | tar -C "$restore/out" -xf - || die "restoring with the identity"
cmp "$host/data/db.dump" "$restore/out/db.dump" || die "db.dump differs"
cmp "$host/data/app.conf" "$restore/out/app.conf" || die "app.conf differs"
log "restore machine: restored and compared; least privilege holds"
