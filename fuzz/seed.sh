#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from tests/vectors (corpora are not committed):
#   header                 every vector file as it is;
#   decrypt_seekable       key || 0 (no seek ops) || file, with each vector's file key;
#   decrypt_pipeline       0 (raw mode) || key || 0 (threads) || file.
#   credentials            every key-file text of key_files.json, and a few identity,
#                          recipient and context lines.
# decrypt_stream builds its own files from structured input and needs no seeds.
set -euo pipefail
cd "$(dirname "$0")"
python3 - <<'PY'
import json, pathlib
vectors = pathlib.Path("../tests/vectors")
index = json.loads((vectors / "vectors.json").read_text())
corpus = pathlib.Path("corpus")
for target in ("header", "decrypt_seekable", "decrypt_pipeline"):
    (corpus / target).mkdir(parents=True, exist_ok=True)
for v in index["vectors"]:
    data = (vectors / v["file"]).read_bytes()
    key = bytes.fromhex(v["file_key"])
    (corpus / "header" / v["name"]).write_bytes(data)
    (corpus / "decrypt_seekable" / v["name"]).write_bytes(key + b"\0" + data)
    (corpus / "decrypt_pipeline" / v["name"]).write_bytes(b"\0" + key + b"\0" + data)
texts = json.loads((vectors / "key_files.json").read_text())["cases"]
(corpus / "credentials").mkdir(parents=True, exist_ok=True)
for case in texts:
    raw = bytes.fromhex(case["text_hex"]) if "text_hex" in case else case["text"].encode()
    (corpus / "credentials" / case["name"]).write_bytes(raw)
lines = {
    # A published X25519 key pair (age's documentation) and coffer/age prefixes.
    "age_recipient": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    "coffer_recipient": "coffer1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aq",
    "age_identity": "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ",
    "context": "host=db1.example\npath=/var/backups/db.tar=x\n",
    "recipients_file": "# team\n\nage1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p\n",
}
for name, text in lines.items():
    (corpus / "credentials" / name).write_text(text)
print(f"seeded {len(index['vectors'])} vectors and {len(texts) + len(lines)} texts into fuzz/corpus/")
PY
