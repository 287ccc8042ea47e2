#!/usr/bin/env python3
"""Cross-checks coffer's test vectors against independent implementations.

Written from the specifications (C2SP chunked-encryption, docs/FORMAT.md), not from
coffer's Rust code:

* the payload (C2SP chunked-encryption, Cobblestone-256): HKDF-Expand-SHA-512 and
  AES-256-GCM from Python's `cryptography` package, chunk by chunk;
* the same payload through `cryptography.cobblestone.Cobblestone256Decryptor`, a second,
  unrelated implementation of exactly this construction (cryptography >= 50);
* the header: the decryption procedure of FORMAT.md (strict parsing, the context block
  and its binding into the payload, several credentials, the passphrase slot with Argon2id via argon2-cffi, the key-file slot, the
  HMAC-SHA-256 under HKDF-SHA-256), giving the same outcome as coffer for every vector
  and every credential set it records, and re-encoding every valid header byte for byte;
* key files: a BIP 173 Bech32 codec written here, checked against
  tests/vectors/key_files.json;
* the coffer binary both ways: a file this script encrypts opens with
  `coffer decrypt --key-file` (and with its passphrase), and key files from
  `coffer keygen --symmetric` open a file from `coffer encrypt --key-file` here. It uses
  target/release/coffer (or $COFFER_BIN): run `cargo build --release` first;
* the reference payload implementation itself against the C2SP Wycheproof vectors
  (tests/vectors/wycheproof/), so that a bug shared by coffer and this script would
  still be caught.

Run:  python3 -m venv .venv && .venv/bin/pip install -r tests/requirements.txt \
      && .venv/bin/python tests/cross_check.py
The last line is "N passed, M failed"; the exit status is non-zero on any failure.
"""

import hashlib
import hmac as py_hmac
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
import zlib
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF, HKDFExpand
from cryptography.exceptions import InvalidTag

VECTORS = Path(__file__).resolve().parent / "vectors"

# C2SP chunked-encryption, instantiated as Cobblestone-256.
INFO_PREFIX = b"c2sp.org/chunked-encryption@v1+"
AEAD_NAME = b"AEAD_AES_256_GCM"
CHUNK = 16384
TAG = 16
ENC_CHUNK = CHUNK + TAG
PREFIX = 24 + 32
MAX_CHUNKS = 1 << 38
# coffer v1 (FORMAT.md).
COFFER_CONTEXT = b"coffer.v1 payload"
MAGIC = b"\x89coffer\n"
LABEL_SLOT = b"coffer.v1 passphrase slot"
LABEL_KEY_FILE_SLOT = b"coffer.v1 key file slot"
LABEL_MAC = b"coffer.v1 header mac"
CAP_MEMORY_KIB = 1024 * 1024  # default reader cap: 1024 MiB
CAP_PASSES = 16
CAP_LANES = 16
# The encryption context (FORMAT.md, "Context").
CONTEXT_FLAG = 0x02
CONTEXT_MAX_PAIRS = 64
CONTEXT_MAX_KEY = 256
CONTEXT_MAX_VALUE = 1024
CONTEXT_MAX_BLOCK = 2048
CONTEXT_RESERVED_PREFIXES = (b"coffer:", b"aws:")

passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL: {what}")


# ---------------------------------------------------------------- payload (C2SP text)

class PayloadError(Exception):
    def __init__(self, kind, chunk=None):
        super().__init__(kind if chunk is None else f"{kind} (chunk {chunk})")
        self.kind = kind
        self.chunk = chunk


def derive(input_key, salt, context):
    """key || base nonce || commitment = HKDF-Expand(prk = input key,
    info = "c2sp.org/chunked-encryption@v1+" || aead || 0x00 || salt || context)."""
    if len(input_key) != 32:
        raise PayloadError("invalid_key_size")
    info = INFO_PREFIX + AEAD_NAME + b"\x00" + salt + context
    okm = HKDFExpand(algorithm=hashes.SHA512(), length=32 + 12 + 32, info=info).derive(input_key)
    return okm[:32], okm[32:44], okm[44:]


def chunk_nonce(base_nonce, counter):
    """The base nonce XOR the counter as a big-endian integer as wide as the nonce."""
    if counter >= MAX_CHUNKS:
        raise PayloadError("message_too_long")
    n = int.from_bytes(base_nonce, "big") ^ counter
    return n.to_bytes(len(base_nonce), "big")


def decrypt_payload(input_key, payload, context, released):
    """Streaming decryption: appends each chunk's plaintext to `released` as soon as it
    authenticates, raises PayloadError on the first failure."""
    if len(payload) < PREFIX:
        raise PayloadError("truncated")
    salt, commitment = payload[:24], payload[24:PREFIX]
    key, base_nonce, expected = derive(input_key, salt, context)
    if not py_hmac.compare_digest(expected, commitment):
        raise PayloadError("commitment_mismatch")
    aead = AESGCM(key)
    pos, counter = PREFIX, 0
    while True:
        rest = len(payload) - pos
        if rest >= ENC_CHUNK:
            # A full chunk: never the final one.
            try:
                released += aead.decrypt(chunk_nonce(base_nonce, counter), payload[pos:pos + ENC_CHUNK], b"")
            except InvalidTag:
                raise PayloadError("chunk_authentication", counter) from None
            pos += ENC_CHUNK
            counter += 1
            continue
        # The final chunk: between TAG and ENC_CHUNK - 1 bytes; 0 bytes means the
        # message ended after a full chunk, i.e. it is truncated.
        if rest < TAG:
            raise PayloadError("truncated", counter if rest == 0 else None)
        try:
            released += aead.decrypt(chunk_nonce(base_nonce, counter), payload[pos:], b"")
        except InvalidTag:
            raise PayloadError("chunk_authentication", counter) from None
        return


def reference_decrypt(input_key, payload, context):
    """decrypt_payload, collected: (the plaintext released, the PayloadError or None)."""
    released = bytearray()
    try:
        decrypt_payload(input_key, payload, context, released)
    except PayloadError as e:
        return bytes(released), e
    return bytes(released), None


def encrypt_payload(input_key, salt, context, plaintext):
    key, base_nonce, commitment = derive(input_key, salt, context)
    aead = AESGCM(key)
    out = bytearray(salt + commitment)
    counter = 0
    pos = 0
    while True:
        piece = plaintext[pos:pos + CHUNK]
        out += aead.encrypt(chunk_nonce(base_nonce, counter), piece, b"")
        counter += 1
        pos += CHUNK
        if len(piece) < CHUNK:
            return bytes(out)


def cobblestone_decrypt(input_key, payload, context, step=5000):
    """cryptography's Cobblestone256Decryptor, fed in pieces: (released, error)."""
    from cryptography.cobblestone import Cobblestone256Decryptor

    released = bytearray()
    try:
        dec = Cobblestone256Decryptor(input_key, context=context)
        for i in range(0, len(payload), step):
            released += dec.update(payload[i:i + step])
        released += dec.finalize()
    except Exception as e:  # noqa: BLE001 - any refusal counts
        return bytes(released), e
    return bytes(released), None


def have_cobblestone():
    try:
        from cryptography.cobblestone import Cobblestone256Decryptor  # noqa: F401
        return True
    except ImportError:
        return False


# ---------------------------------------------------------------- header (FORMAT.md)

class Refused(Exception):
    """A reader's outcome other than ok: the stable class name and its detail."""

    def __init__(self, kind, **detail):
        super().__init__(f"{kind} {detail}" if detail else kind)
        self.kind = kind
        self.detail = detail


PASSPHRASE_SLOT, KEY_FILE_SLOT = 0x01, 0x02
BODY_LEN = {PASSPHRASE_SLOT: 108, KEY_FILE_SLOT: 80}


def parse_context(header, end):
    """FORMAT.md "Context": the canonical block at header[48:end]: ([(key, value)] as
    bytes, the block's bytes), or Refused."""
    at = 48

    def take(n):
        nonlocal at
        if at + n > end:
            raise Refused("invalid_header")
        at += n
        return header[at - n:at]

    count = int.from_bytes(take(2), "big")
    if not 1 <= count <= CONTEXT_MAX_PAIRS:
        raise Refused("invalid_header")
    pairs = []
    for _ in range(count):
        key = take(int.from_bytes(take(2), "big"))
        value = take(int.from_bytes(take(2), "big"))
        try:
            text = key.decode("utf-8") + value.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("invalid_header") from None
        if not 1 <= len(key) <= CONTEXT_MAX_KEY or not 1 <= len(value) <= CONTEXT_MAX_VALUE:
            raise Refused("invalid_header")
        if b"=" in key or any(key[:len(p)].lower() == p for p in CONTEXT_RESERVED_PREFIXES):
            raise Refused("invalid_header")
        if any(unicodedata.category(c) == "Cc" for c in text):
            raise Refused("invalid_header")
        if pairs and not pairs[-1][0] < key:
            raise Refused("invalid_header")
        pairs.append((key, value))
    if at - 48 > CONTEXT_MAX_BLOCK:
        raise Refused("invalid_header")
    return pairs, header[48:at]


def encode_context(pairs):
    """The block of a dict of str pairs: keys sorted by their UTF-8 bytes; b"" for none."""
    if not pairs:
        return b""
    items = sorted((k.encode(), v.encode()) for k, v in pairs.items())
    out = len(items).to_bytes(2, "big")
    for key, value in items:
        out += len(key).to_bytes(2, "big") + key + len(value).to_bytes(2, "big") + value
    return out


def payload_context(block):
    """The C2SP context of a file's payload: "coffer.v1 payload" || the context block."""
    return COFFER_CONTEXT + block


def read_header(data):
    """Decryption procedure steps 1 to 10: (header bytes, [(type, body)], context block)
    or Refused."""
    head = data[:8]
    if not data or head != MAGIC[:len(head)]:
        raise Refused("not_coffer")
    if len(data) < 9:
        raise Refused("truncated", at_chunk=None)
    if data[8] != 1:
        raise Refused("unsupported_version", version=data[8])
    if len(data) < 48:
        raise Refused("truncated", at_chunk=None)
    h, count = int.from_bytes(data[10:12], "big"), data[12]
    if data[9] & ~CONTEXT_FLAG or not 84 <= h <= 4096 or not 1 <= count <= 16 or data[13:16] != b"\0\0\0":
        raise Refused("invalid_header")
    if len(data) < h:
        raise Refused("truncated", at_chunk=None)
    header, slots, block = data[:h], [], b""
    if data[9] & CONTEXT_FLAG:
        _, block = parse_context(header, h - 32)
    pos = 48 + len(block)
    for _ in range(count):
        if pos + 4 > h - 32 or header[pos + 1] != 0:
            raise Refused("invalid_header")
        slot_type, body_len = header[pos], int.from_bytes(header[pos + 2:pos + 4], "big")
        if pos + 4 + body_len > h - 32 or slot_type == 0:
            raise Refused("invalid_header")
        if slot_type in BODY_LEN and body_len != BODY_LEN[slot_type]:
            raise Refused("invalid_header")
        slots.append((slot_type, header[pos + 4:pos + 4 + body_len]))
        pos += 4 + body_len
    if pos != h - 32:
        raise Refused("invalid_header")
    return header, slots, block


def header_mac(header_without_mac, file_key):
    nonce = header_without_mac[16:48]
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=LABEL_MAC).derive(file_key)
    return py_hmac.new(mac_key, header_without_mac, hashlib.sha256).digest()


def header_mac_ok(header, file_key):
    return py_hmac.compare_digest(header_mac(header[:-32], file_key), header[-32:])


def slot_keys(credential_key, header_nonce, label):
    """wrap key || check = HKDF-SHA-256(credential key, header nonce, label, 64)."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=header_nonce, info=label).derive(credential_key)
    return okm[:32], okm[32:]


def seal_wrap(credential_key, header_nonce, label, file_key):
    """check || wrapped key: the part every symmetric slot body ends with."""
    wrap_key, check_value = slot_keys(credential_key, header_nonce, label)
    return check_value + AESGCM(wrap_key).encrypt(b"\x00" * 12, file_key, b"")


def open_wrap(credential_key, header_nonce, label, check_and_wrapped):
    """The file key, None when the check says another credential, Refused on a bad wrap."""
    wrap_key, check_value = slot_keys(credential_key, header_nonce, label)
    if not py_hmac.compare_digest(check_value, check_and_wrapped[:32]):
        return None
    try:
        return AESGCM(wrap_key).decrypt(b"\x00" * 12, check_and_wrapped[32:80], b"")
    except InvalidTag:
        raise Refused("header_authentication") from None


def kdf_params(body):
    return [int.from_bytes(body[i:i + 4], "big") for i in (0, 4, 8)]


def pass_key(passphrase, body):
    from argon2.low_level import Type, hash_secret_raw

    m, t, p = kdf_params(body)
    return hash_secret_raw(secret=passphrase, salt=body[12:28], time_cost=t, memory_cost=m,
                           parallelism=p, hash_len=32, type=Type.ID, version=19)


def preflight_passphrase(slots):
    """Step 11, for each passphrase slot in file order: the caps, then what Argon2 needs."""
    for slot_type, body in slots:
        if slot_type != PASSPHRASE_SLOT:
            continue
        m, t, p = kdf_params(body)
        for param, value, cap in (("memory", m, CAP_MEMORY_KIB), ("passes", t, CAP_PASSES),
                                  ("lanes", p, CAP_LANES)):
            if value > cap:
                raise Refused("kdf_over_limit", param=param)
        if t < 1 or p < 1 or m < 8 * p:
            raise Refused("invalid_header")


def unlock(header, slots, key_files=(), passphrase=None):
    """Steps 11 to 13 with several identities: each key file in order, then the passphrase,
    each against every slot of its type. The file key, or Refused."""
    nonce = header[16:48]
    identities = [(KEY_FILE_SLOT, key) for key in key_files]
    if passphrase is not None:
        identities.append((PASSPHRASE_SLOT, passphrase))
    for slot_kind, secret in identities:
        if slot_kind == PASSPHRASE_SLOT:
            preflight_passphrase(slots)
        for slot_type, body in slots:
            if slot_type != slot_kind:
                continue
            if slot_kind == KEY_FILE_SLOT:
                file_key = open_wrap(secret, nonce, LABEL_KEY_FILE_SLOT, body)
            else:
                file_key = open_wrap(pass_key(secret, body), nonce, LABEL_SLOT, body[28:])
            if file_key is not None:
                if not header_mac_ok(header, file_key):
                    raise Refused("header_authentication")
                return file_key
    unknown = sum(1 for slot_type, _ in slots if slot_type not in BODY_LEN)
    raise Refused("no_slot_opened", unsupported_slots=unknown)


def decrypt_file(data, key_files=(), passphrase=None, file_key=None):
    """The whole procedure: (plaintext released, None or Refused). With `file_key`, the
    slots are skipped and only the MAC is checked."""
    released = bytearray()
    try:
        header, slots, block = read_header(data)
        if file_key is None:
            file_key = unlock(header, slots, key_files, passphrase)
        elif not header_mac_ok(header, file_key):
            raise Refused("header_authentication")
        try:
            decrypt_payload(file_key, data[len(header):], payload_context(block), released)
        except PayloadError as e:
            raise Refused(e.kind, **({"chunk": e.chunk} if e.kind == "chunk_authentication"
                                     else {"at_chunk": e.chunk} if e.kind == "truncated" else {}))
    except Refused as e:
        return bytes(released), e
    return bytes(released), None


def remake_header(data, file_key, slot_credentials, context=None):
    """A header encoded afresh from the slots' credentials, the context pairs, the header
    nonce and the salts and parameters in `data`'s slots (unknown slots copied): what an
    encryptor writes."""
    header, slots, _ = read_header(data)
    block = encode_context(context)
    nonce = header[16:48]
    out = bytearray()
    if len(slots) != len(slot_credentials):
        return None
    for (slot_type, body), cred in zip(slots, slot_credentials):
        if cred["type"] == "passphrase":
            pw = cred["passphrase"].encode()
            body = body[:28] + seal_wrap(pass_key(pw, body), nonce, LABEL_SLOT, file_key)
        elif cred["type"] == "key_file":
            key = parse_key_file(cred["key_file"].encode())
            body = seal_wrap(key, nonce, LABEL_KEY_FILE_SLOT, file_key)
        out += bytes([slot_type, 0]) + len(body).to_bytes(2, "big") + body
    return encode_header(nonce, block, len(slots), bytes(out), file_key)


def encode_header(nonce, block, slot_count, slots, file_key):
    """Fixed fields, the context block (and its flag) when there is one, the slots, MAC."""
    h = 48 + len(block) + len(slots) + 32
    flags = CONTEXT_FLAG if block else 0
    fixed = MAGIC + bytes([1, flags]) + h.to_bytes(2, "big") + bytes([slot_count]) + b"\0\0\0" + nonce
    without_mac = fixed + block + slots
    return without_mac + header_mac(without_mac, file_key)


# ---------------------------------------------------------------- key files (FORMAT.md, "Key files")

# BIP 173 Bech32, the original checksum (constant 1, not Bech32m's 0x2bc830a3).
BECH32_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
BECH32_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
KEY_HRP = "coffer-symmetric-key-"
KEY_PREFIX = b"coffer-symmetric-key-1"
# Characters with the Unicode White_Space property (what a key file may end a line with).
WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
               "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")


class KeyFileError(Exception):
    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind


def bech32_polymod(values):
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= BECH32_GENERATOR[i]
    return chk


def bech32_hrp_expand(hrp):
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def bech32_create_checksum(hrp, data):
    pm = bech32_polymod(bech32_hrp_expand(hrp) + data + [0] * 6) ^ 1
    return [(pm >> 5 * (5 - i)) & 31 for i in range(6)]


def bech32_decode(text):
    """(hrp, 5-bit data without the checksum), or None for anything BIP 173 refuses."""
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        return None
    if text.lower() != text and text.upper() != text:
        return None
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1 or pos > 83 or pos + 7 > len(text):
        return None
    if any(c not in BECH32_CHARSET for c in text[pos + 1:]):
        return None
    hrp, data = text[:pos], [BECH32_CHARSET.index(c) for c in text[pos + 1:]]
    if bech32_polymod(bech32_hrp_expand(hrp) + data) != 1:
        return None
    return hrp, data[:-6]


def bits_5_to_8(data):
    """BIP 173 convertbits(data, 5, 8, pad=False): (bytes, padding bits, padding value)."""
    acc, bits, out = 0, 0, bytearray()
    for v in data:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    return bytes(out), bits, acc & ((1 << bits) - 1)


def bits_8_to_5(data):
    acc, bits, out = 0, 0, []
    for b in data:
        acc = (acc << 8) | b
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((acc >> bits) & 31)
    if bits:
        out.append((acc << (5 - bits)) & 31)
    return out


def key_line(key):
    """The key line of a 32-byte key: upper case, as `coffer keygen --symmetric` writes it."""
    data = bits_8_to_5(key)
    chars = "".join(BECH32_CHARSET[d] for d in data + bech32_create_checksum(KEY_HRP, data))
    return (KEY_HRP + "1" + chars).upper()


def parse_key_file(raw):
    """The 32-byte key of a key file's text, or KeyFileError(kind)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyFileError("not_utf8") from None
    # Lines end at "\n" only (a lone "\r" or U+2028 does not end a line).
    lines = [line.rstrip(WHITE_SPACE) for line in text.split("\n")]
    lines = [line for line in lines if line and not line.startswith("#")]
    if not lines:
        raise KeyFileError("no_key_line")
    if len(lines) > 1:
        raise KeyFileError("several_key_lines")
    line = lines[0]
    head = line.encode("utf-8")[:len(KEY_PREFIX)]
    if bytes(c | 0x20 if 0x41 <= c <= 0x5A else c for c in head) != KEY_PREFIX:
        raise KeyFileError("wrong_prefix")
    decoded = bech32_decode(line)
    if decoded is None:
        raise KeyFileError("checksum")
    hrp, data = decoded
    if hrp != KEY_HRP:
        raise KeyFileError("wrong_prefix")
    key, pad_bits, pad_value = bits_5_to_8(data)
    if len(key) != 32:
        raise KeyFileError("wrong_length")
    if pad_bits > 4 or pad_value != 0:
        raise KeyFileError("padding")
    return key


def check_key_file_vectors():
    """tests/vectors/key_files.json: every text parses to its key or fails with its class."""
    cases = json.loads((VECTORS / "key_files.json").read_text())["cases"]
    for case in cases:
        raw = case["text"].encode("utf-8") if "text" in case else bytes.fromhex(case["text_hex"])
        try:
            got, kind = parse_key_file(raw), None
        except KeyFileError as e:
            got, kind = None, e.kind
        if "key" in case:
            want = bytes.fromhex(case["key"])
            check(got == want, f"key_files.json {case['name']}: expected key {case['key']}, got {kind}")
            check(case["line"] == key_line(want), f"key_files.json {case['name']}: canonical line")
        else:
            check(kind == case["error"], f"key_files.json {case['name']}: expected {case['error']}, got {kind}")
    return len(cases)


# ---------------------------------------------------------------- coffer vectors

def sha256(b):
    return hashlib.sha256(b).hexdigest()


def credentials_of(v):
    """The key files (parsed with parse_key_file) and passphrase a vector records."""
    keys = [parse_key_file(line.encode()) for line in v.get("key_files", [])]
    passphrase = v.get("passphrase")
    return keys, None if passphrase is None else passphrase.encode()


def agrees(want, want_detail, got):
    """Whether this reader's result `got` (None or Refused) is the recorded outcome. A
    reader written from the C2SP text sees trailing data as a final chunk that does not
    authenticate."""
    if got is None:
        return want == "ok"
    if want == "trailing_data" and got.kind == "chunk_authentication":
        return True
    return got.kind == want and got.detail == want_detail


def slot_credentials_of(v):
    if "slot_credentials" in v:
        return v["slot_credentials"]
    passphrases = v.get("slot_passphrases", [v.get("passphrase")])
    return [{"type": "passphrase", "passphrase": p} for p in passphrases]


def check_coffer_vectors():
    index = json.loads((VECTORS / "vectors.json").read_text())
    vectors = index["vectors"]
    plaintexts = {}
    cobble = have_cobblestone()
    check(cobble, "cryptography.cobblestone.Cobblestone256Decryptor is available (cryptography >= 50)")

    # Valid files first: their plaintexts are what the other vectors may release.
    for v in sorted(vectors, key=lambda v: v["outcome"] != "ok"):
        name = v["name"]
        data = (VECTORS / v["file"]).read_bytes()
        key = bytes.fromhex(v["file_key"])
        check(sha256(data) == v["file_sha256"], f"{name}: file hash")

        # The whole procedure with the recorded credentials, with the file key, and with
        # each further credential set: the same outcome as coffer, and exactly the
        # plaintext that authenticated before it.
        keys, passphrase = credentials_of(v)
        out, err = decrypt_file(data, keys, passphrase)
        check(agrees(v["outcome"], v["outcome_detail"], err),
              f"{name}: reference says {err or 'ok'}, coffer says {v['outcome']} {v['outcome_detail']}")
        check(len(out) == v["released_len"] and sha256(out) == v["released_sha256"],
              f"{name}: reference released {len(out)} bytes, expected {v['released_len']}")
        _, err = decrypt_file(data, file_key=key)
        check(agrees(v["outcome_with_file_key"], v["outcome_with_file_key_detail"], err),
              f"{name}: with the file key the reference says {err or 'ok'}, "
              f"coffer says {v['outcome_with_file_key']}")
        for i, c in enumerate(v.get("credential_checks", [])):
            keys, passphrase = credentials_of(c)
            got, err = decrypt_file(data, keys, passphrase)
            check(agrees(c["outcome"], c["outcome_detail"], err)
                  and (err is not None or sha256(got) == v["plaintext_sha256"]),
                  f"{name}: credential_checks[{i}]: reference says {err or 'ok'}, coffer says {c['outcome']}")
        if v["mutation"].get("remac"):
            h = int.from_bytes(data[10:12], "big")
            check(header_mac_ok(data[:h], key), f"{name}: header MAC is valid (one condition only)")

        if v["outcome"] == "ok":
            check_valid_file(v, data, key, cobble)
            plaintexts[name] = out
        elif v["layer"] == "payload":
            allowed = plaintexts[v["source"]][:v["released_len"]]
            check(sha256(allowed) == v["released_sha256"], f"{name}: released_sha256 is a prefix of the source")
            if cobble and len(data) >= v["header_len"]:
                got, e = cobblestone_decrypt(key, data[v["header_len"]:], payload_context(read_header(data)[2]))
                check(e is not None, f"{name}: Cobblestone256Decryptor refuses the payload")
                check(allowed.startswith(got),
                      f"{name}: Cobblestone256Decryptor released {len(got)} bytes beyond what authenticated")
    return len(vectors)


def check_valid_file(v, data, key, cobble):
    """A valid file: the header re-encodes from its credentials, the payload re-encrypts,
    each slot's credential alone opens it, and Cobblestone256Decryptor agrees."""
    name = v["name"]
    hl = v["header_len"]
    header, payload = data[:hl], data[hl:]
    slot_credentials = slot_credentials_of(v)
    check(remake_header(data, key, slot_credentials, v.get("context")) == header,
          f"{name}: the header re-encodes to identical bytes from its slots' credentials and context")
    context = payload_context(read_header(data)[2])
    for i, cred in enumerate(slot_credentials):
        if cred["type"] == "unknown":
            continue
        alone = {"key_files": [cred["key_file"]]} if cred["type"] == "key_file" else cred
        keys, passphrase = credentials_of(alone)
        out, err = decrypt_file(data, keys, passphrase)
        check(err is None and sha256(out) == v["plaintext_sha256"],
              f"{name}: the credential of slot {i} alone opens the file ({err})")
    out, _ = reference_decrypt(key, payload, context)
    check(encrypt_payload(key, payload[:24], context, out) == payload,
          f"{name}: reference encryption reproduces the payload")
    # The final chunk is short, and its length follows from the plaintext length.
    n = v["plaintext_len"]
    check(len(payload) == PREFIX + (n // CHUNK) * ENC_CHUNK + n % CHUNK + TAG,
          f"{name}: payload length follows the chunking rule")
    if cobble:
        got, e = cobblestone_decrypt(key, payload, context)
        check(e is None and sha256(got) == v["plaintext_sha256"],
              f"{name}: Cobblestone256Decryptor agrees ({e!r})")
        # And a different context must be refused (the context is bound).
        got, e = cobblestone_decrypt(key, payload, b"coffer.v2 payload")
        check(e is not None and got == b"", f"{name}: Cobblestone256Decryptor refuses another context")
        if v.get("context"):
            got, e = cobblestone_decrypt(key, payload, COFFER_CONTEXT)
            check(e is not None and got == b"",
                  f"{name}: Cobblestone256Decryptor refuses the payload without its context block")


# ---------------------------------------------------------------- the coffer binary, both ways

def encrypt_file(slot_recipients, plaintext, context=None):
    """A new coffer file written by this script: fresh file key, header nonce and payload
    salt; one slot per recipient, ("key_file", key) or ("passphrase", bytes, (m, t, p));
    bound to `context` (a dict of str pairs) if given."""
    file_key, nonce = os.urandom(32), os.urandom(32)
    slots = bytearray()
    for kind, secret, *params in slot_recipients:
        if kind == "key_file":
            slot_type, body = KEY_FILE_SLOT, seal_wrap(secret, nonce, LABEL_KEY_FILE_SLOT, file_key)
        else:
            m, t, p = params[0]
            kdf = m.to_bytes(4, "big") + t.to_bytes(4, "big") + p.to_bytes(4, "big") + os.urandom(16)
            body = kdf + seal_wrap(pass_key(secret, kdf), nonce, LABEL_SLOT, file_key)
            slot_type = PASSPHRASE_SLOT
        slots += bytes([slot_type, 0]) + len(body).to_bytes(2, "big") + body
    block = encode_context(context)
    header = encode_header(nonce, block, len(slot_recipients), bytes(slots), file_key)
    return header + encrypt_payload(file_key, os.urandom(24), payload_context(block), plaintext)


def coffer_binary():
    path = os.environ.get("COFFER_BIN") or str(Path(__file__).resolve().parent.parent / "target/release/coffer")
    return path if os.access(path, os.X_OK) else None


def check_cli_interop():
    """Files this script encrypts open with `coffer decrypt`, and files and key files that
    `coffer encrypt` / `coffer keygen` make open here."""
    binary = coffer_binary()
    check(binary is not None, "the coffer binary exists (cargo build --release, or set COFFER_BIN)")
    if binary is None:
        return

    def run(*args, env=None):
        return subprocess.run([binary, *args], cwd=tmp, capture_output=True, timeout=120,
                              env={**os.environ, **(env or {})})

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        plaintext = os.urandom(40000)
        ours, other = os.urandom(32), os.urandom(32)
        key_file = tmp / "py.key"
        key_file.write_text("# made by cross_check.py\n" + key_line(ours).lower() + "\n")
        key_file.chmod(0o600)

        # This script -> coffer: two key-file slots (ours second) and a passphrase slot.
        passphrase = b"cross-check passphrase"
        (tmp / "py.coffer").write_bytes(encrypt_file(
            [("key_file", other), ("key_file", ours), ("passphrase", passphrase, (64, 1, 1))], plaintext))
        r = run("decrypt", "-c", "--key-file", "py.key", "py.coffer")
        check(r.returncode == 0 and r.stdout == plaintext,
              f"coffer decrypt --key-file opens a file this script wrote (exit {r.returncode}: {r.stderr!r})")
        r = run("decrypt", "-c", "--passphrase-env", "CROSS_CHECK_PASS", "py.coffer",
                env={"CROSS_CHECK_PASS": passphrase.decode()})
        check(r.returncode == 0 and r.stdout == plaintext,
              f"coffer decrypt opens the same file with its passphrase (exit {r.returncode}: {r.stderr!r})")
        stranger = tmp / "stranger.key"
        stranger.write_text(key_line(os.urandom(32)) + "\n")
        stranger.chmod(0o600)
        r = run("decrypt", "-c", "--key-file", "stranger.key", "py.coffer")
        check(r.returncode == 3 and r.stdout == b"",
              f"coffer decrypt with another key file: exit 3, no output (exit {r.returncode})")

        # coffer -> this script: key files from keygen, a file for two of them.
        for name in ("a.key", "b.key"):
            r = run("keygen", "--symmetric", "-o", name)
            check(r.returncode == 0, f"coffer keygen --symmetric -o {name} ({r.stderr!r})")
            if r.returncode != 0:
                return
        keys = [parse_key_file((tmp / name).read_bytes()) for name in ("a.key", "b.key")]
        (tmp / "doc").write_bytes(plaintext)
        r = run("encrypt", "--key-file", "a.key", "--key-file", "b.key", "doc")
        check(r.returncode == 0, f"coffer encrypt --key-file a.key --key-file b.key ({r.stderr!r})")
        data = (tmp / "doc.coffer").read_bytes()
        for name, key in zip(("a.key", "b.key"), keys):
            out, err = decrypt_file(data, [key])
            check(err is None and out == plaintext, f"this script opens coffer's file with {name} ({err})")
        _, err = decrypt_file(data, [ours])
        check(err is not None and err.kind == "no_slot_opened", f"another key opens no slot ({err})")

        # The encryption context, both ways (FORMAT.md, "Context").
        context = {"host": "cross-check", "path": "/srv/a=b", "é": "ü"}
        (tmp / "ctx.coffer").write_bytes(encrypt_file([("key_file", ours)], plaintext, context))
        pairs = [arg for k, v in context.items() for arg in ("--context", f"{k}={v}")]
        r = run("decrypt", "-c", "--key-file", "py.key", *pairs, "ctx.coffer")
        check(r.returncode == 0 and r.stdout == plaintext,
              f"coffer decrypt --context opens a file with a context this script wrote "
              f"(exit {r.returncode}: {r.stderr!r})")
        r = run("decrypt", "-c", "--key-file", "py.key", "--context", "host=cross-check", "ctx.coffer")
        check(r.returncode == 3 and r.stdout == b"",
              f"coffer decrypt with a pair missing: exit 3, no output (exit {r.returncode})")
        r = run("encrypt", "--key-file", "a.key", *pairs, "-o", "doc.ctx.coffer", "doc")
        check(r.returncode == 0, f"coffer encrypt --context ({r.stderr!r})")
        data = (tmp / "doc.ctx.coffer").read_bytes()
        out, err = decrypt_file(data, [keys[0]])
        check(err is None and out == plaintext, f"this script opens coffer's file with a context ({err})")
        check(read_header(data)[2] == encode_context(context),
              "coffer wrote the context block this script encodes")


# ---------------------------------------------------------------- Wycheproof (C2SP)

def check_wycheproof():
    path = VECTORS / "wycheproof" / "c2sp_chunked_encryption_aes_256_gcm_test.json"
    suite = json.loads(path.read_text())
    check(suite["algorithm"] == "Cobblestone-256", "wycheproof: Cobblestone-256 suite")
    cobble = have_cobblestone()
    count = 0
    for group in suite["testGroups"]:
        check(group["sha"] == "SHA-512" and group["aead"] == "AEAD_AES_256_GCM",
              "wycheproof: group is SHA-512 / AES-256-GCM")
        for t in group["tests"]:
            count += 1
            tc = f"wycheproof tcId {t['tcId']} ({t['comment']})"
            key, ctx = bytes.fromhex(t["key"]), bytes.fromhex(t["ctx"])
            ct = zlib.decompress(bytes.fromhex(t["ct"]))
            out, err = reference_decrypt(key, ct, ctx)
            if t.get("aeadKey"):
                k, n, _ = derive(key, ct[:24], ctx)
                check(k.hex() == t["aeadKey"] and n.hex() == t["baseNonce"], f"{tc}: derived key and nonce")
            if t["result"] == "valid":
                check(err is None, f"{tc}: reference accepts ({err})")
            else:
                check(err is not None, f"{tc}: reference refuses")
            if t.get("msgSha512") is not None:
                check(len(out) == t["msgLength"] and hashlib.sha512(out).hexdigest() == t["msgSha512"],
                      f"{tc}: reference output / released prefix")
            else:
                check(len(out) == 0, f"{tc}: reference releases nothing")
            if cobble:
                got, e = cobblestone_decrypt(key, ct, ctx)
                if t["result"] == "valid":
                    check(e is None and hashlib.sha512(got).hexdigest() == t["msgSha512"],
                          f"{tc}: Cobblestone256Decryptor accepts ({e!r})")
                else:
                    check(e is not None, f"{tc}: Cobblestone256Decryptor refuses")
    return count


def main():
    k = check_key_file_vectors()
    n = check_coffer_vectors()
    w = check_wycheproof()
    check_cli_interop()
    print(f"checked {k} key-file texts, {n} coffer vectors and {w} Wycheproof C2SP vectors")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
