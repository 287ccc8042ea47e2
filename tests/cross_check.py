#!/usr/bin/env python3
"""Cross-checks coffer's test vectors against independent implementations.

Written from the specifications (C2SP chunked-encryption, docs/FORMAT.md), not from
coffer's Rust code:

* the payload (C2SP chunked-encryption, Cobblestone-256): HKDF-Expand-SHA-512 and
  AES-256-GCM from Python's `cryptography` package, chunk by chunk;
* the same payload through `cryptography.cobblestone.Cobblestone256Decryptor`, a second,
  unrelated implementation of exactly this construction (cryptography >= 50);
* the header: HMAC-SHA-256 under HKDF-SHA-256, and the passphrase slot (Argon2id via
  argon2-cffi, HKDF-SHA-256, AES-256-GCM key wrap);
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
import sys
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
LABEL_MAC = b"coffer.v1 header mac"
CAP_MEMORY_KIB = 1024 * 1024  # default reader cap: 1024 MiB
CAP_PASSES = 16
CAP_LANES = 16

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

def header_mac_ok(header, file_key):
    nonce = header[16:48]
    mac_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=nonce, info=LABEL_MAC).derive(file_key)
    tag = py_hmac.new(mac_key, header[:-32], hashlib.sha256).digest()
    return py_hmac.compare_digest(tag, header[-32:])


def parse_slots(header):
    """The passphrase slots of a well-formed header (minimal; coffer's parser is the
    strict one)."""
    assert header[:8] == MAGIC and header[8] == 1
    count = header[12]
    pos, slots = 48, []
    for _ in range(count):
        slot_type, body_len = header[pos], int.from_bytes(header[pos + 2:pos + 4], "big")
        body = header[pos + 4:pos + 4 + body_len]
        if slot_type == 1:
            slots.append({
                "memory_kib": int.from_bytes(body[0:4], "big"),
                "passes": int.from_bytes(body[4:8], "big"),
                "lanes": int.from_bytes(body[8:12], "big"),
                "salt": body[12:28],
                "check": body[28:60],
                "wrapped": body[60:108],
            })
        pos += 4 + body_len
    assert pos == len(header) - 32
    return slots


def open_slot(slot, passphrase, header_nonce):
    """The file key, or None if the check value does not match; raises on a bad wrap."""
    from argon2.low_level import Type, hash_secret_raw

    pkey = hash_secret_raw(secret=passphrase, salt=slot["salt"], time_cost=slot["passes"],
                           memory_cost=slot["memory_kib"], parallelism=slot["lanes"],
                           hash_len=32, type=Type.ID, version=19)
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=header_nonce, info=LABEL_SLOT).derive(pkey)
    wrap_key, check_value = okm[:32], okm[32:]
    if not py_hmac.compare_digest(check_value, slot["check"]):
        return None
    return AESGCM(wrap_key).decrypt(b"\x00" * 12, slot["wrapped"], b"")


def within_caps(slot):
    return (slot["memory_kib"] <= CAP_MEMORY_KIB and slot["passes"] <= CAP_PASSES
            and slot["lanes"] <= CAP_LANES)


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


def check_coffer_vectors():
    index = json.loads((VECTORS / "vectors.json").read_text())
    vectors = index["vectors"]
    by_name = {v["name"]: v for v in vectors}
    plaintexts = {}
    cobble = have_cobblestone()
    check(cobble, "cryptography.cobblestone.Cobblestone256Decryptor is available (cryptography >= 50)")

    for v in vectors:
        if v["outcome"] != "ok":
            continue
        name = v["name"]
        data = (VECTORS / v["file"]).read_bytes()
        key = bytes.fromhex(v["file_key"])
        hl = v["header_len"]
        header, payload = data[:hl], data[hl:]
        check(sha256(data) == v["file_sha256"], f"{name}: file hash")
        check(header_mac_ok(header, key), f"{name}: header MAC")
        slots = parse_slots(header)
        passes = v.get("slot_passphrases", [v["passphrase"]])
        for i, (slot, pw) in enumerate(zip(slots, passes)):
            check(open_slot(slot, pw.encode(), header[16:48]) == key,
                  f"{name}: slot {i} unwraps the recorded file key")
        # Payload: independent reference implementation.
        out, err = reference_decrypt(key, payload, COFFER_CONTEXT)
        check(err is None and len(out) == v["plaintext_len"] and sha256(out) == v["plaintext_sha256"],
              f"{name}: reference decryption ({err})")
        plaintexts[name] = out
        # Produce: the reference implementation re-encrypts to the same payload bytes.
        check(encrypt_payload(key, payload[:24], COFFER_CONTEXT, out) == payload,
              f"{name}: reference encryption reproduces the payload")
        # The final chunk is short, and its length follows from the plaintext length.
        n = v["plaintext_len"]
        check(len(payload) == PREFIX + (n // CHUNK) * ENC_CHUNK + n % CHUNK + TAG,
              f"{name}: payload length follows the chunking rule")
        if cobble:
            got, e = cobblestone_decrypt(key, payload, COFFER_CONTEXT)
            check(e is None and sha256(got) == v["plaintext_sha256"],
                  f"{name}: Cobblestone256Decryptor agrees ({e!r})")
            # And a different context must be refused (the context is bound).
            got, e = cobblestone_decrypt(key, payload, b"coffer.v2 payload")
            check(e is not None and got == b"", f"{name}: Cobblestone256Decryptor refuses another context")

    for v in vectors:
        if v["outcome"] == "ok":
            continue
        name = v["name"]
        data = (VECTORS / v["file"]).read_bytes()
        key = bytes.fromhex(v["file_key"])
        hl = v["header_len"]
        check(sha256(data) == v["file_sha256"], f"{name}: file hash")
        source = plaintexts[v["source"]]
        allowed = source[:v["released_len"]]
        check(sha256(allowed) == v["released_sha256"], f"{name}: released_sha256 is a prefix of the source")

        if v["layer"] == "payload" and len(data) >= hl:
            payload = data[hl:]
            out, err = reference_decrypt(key, payload, COFFER_CONTEXT)
            check(err is not None, f"{name}: reference decryption refuses the payload")
            if err is not None:
                check(out == allowed,
                      f"{name}: reference released {len(out)} bytes, expected {len(allowed)}")
                # Same class as coffer's, up to coffer's refinement of "a prefix of the
                # last segment authenticates" into trailing_data.
                want = v["outcome_with_file_key"]
                same = err.kind == want or (want == "trailing_data" and err.kind == "chunk_authentication")
                if want == "chunk_authentication":
                    same = same and err.chunk == v["outcome_with_file_key_detail"]["chunk"]
                check(same, f"{name}: reference says {err}, coffer says {want}")
            if cobble:
                got, e = cobblestone_decrypt(key, payload, COFFER_CONTEXT)
                check(e is not None, f"{name}: Cobblestone256Decryptor refuses the payload")
                check(allowed.startswith(got),
                      f"{name}: Cobblestone256Decryptor released {len(got)} bytes beyond what authenticated")
        elif v["layer"] == "header":
            # Every header vector is refused by an independent reading of the header too.
            header = data[:hl]
            if len(header) < hl:
                check(True, f"{name}: truncated header")
                continue
            mac_ok = header_mac_ok(header, key)
            if v["mutation"].get("remac") or v["mutation"]["kind"] == "passphrase":
                check(mac_ok, f"{name}: header MAC is valid (one condition only)")
                if v["outcome"] == "kdf_over_limit":
                    slot = parse_slots(header)[0]
                    check(not within_caps(slot), f"{name}: parameters exceed the reader caps")
                elif v["outcome"] == "no_slot_opened":
                    slot = parse_slots(header)[0]
                    check(open_slot(slot, v["passphrase"].encode(), header[16:48]) is None,
                          f"{name}: the recorded passphrase opens no slot")
                elif v["outcome"] == "unsupported_version":
                    check(header[8] != 1, f"{name}: version is not 1")
            else:
                check(not mac_ok, f"{name}: a flipped header bit breaks the MAC")
        else:
            check(False, f"{name}: unknown layer {v['layer']}")
    return len(vectors)


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
    n = check_coffer_vectors()
    w = check_wycheproof()
    print(f"checked {n} coffer vectors and {w} Wycheproof C2SP vectors")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
