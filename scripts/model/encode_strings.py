"""Encode strings with the Python tiktoken runtime tokenizer, for cross-language tests.

Reads a JSON array of strings on stdin and writes a JSON array of
``{"ids": [...], "bytes_hex": "..."}`` objects (ordinary encoding, then the decoded bytes).

    echo '["hello"]' | python scripts/model/encode_strings.py models/edgespec-tiny
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tokenizer_format import load_encoding


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: encode_strings.py TOKENIZER_FOLDER < strings.json", file=sys.stderr)
        return 2
    encoding, _ = load_encoding(Path(sys.argv[1]))
    texts = json.load(sys.stdin)
    if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
        print("stdin must be a JSON array of strings", file=sys.stderr)
        return 2
    results = []
    for text in texts:
        ids = encoding.encode_ordinary(text)
        results.append({"ids": ids, "bytes_hex": encoding.decode_bytes(ids).hex()})
    json.dump(results, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
