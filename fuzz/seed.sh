#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from tests/vectors (corpora are not committed):
#   header                 every vector file as it is;
#   decrypt_seekable       key || 0 (no seek ops) || file, with each vector's file key;
#   decrypt_pipeline       0 (raw mode) || key || 0 (threads) || file.
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
print(f"seeded {len(index['vectors'])} vectors into fuzz/corpus/")
PY
