"""Convert a byte-level BPE tokenizer from another format into the project's tokenizer format.

Inputs:

- ``hf``: a Hugging Face ``tokenizer.json`` of a byte-level BPE model (GPT-2, Qwen2.5, SmolLM
  style: GPT-2's byte-to-character alphabet, a ``vocab`` and ``merges``). Token ids are kept, so
  the converted ranks fit the checkpoint's embedding rows; added tokens become special tokens.
- ``tiktoken``: a Llama 3 style ``tokenizer.model`` / ``.tiktoken`` ranks file plus its special
  tokens, given as a JSON object ``{"<|begin_of_text|>": 128000, ...}``.

tiktoken merges the adjacent pair whose concatenation has the lowest rank, while Hugging Face
applies its merge list in order. The two agree when every token's id is below the ids of the tokens
built from it, which holds for vocabularies trained by merging (GPT-2, Qwen2.5, our own).
NOTE: a token reachable through two different pairs may still split differently in rare cases;
the conversion test compares both tokenizers on mixed text to catch such a vocabulary.

Command line::

    python scripts/model/convert_tokenizer.py hf tokenizer.json --eos '<|im_end|>' --out FOLDER
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from tokenizer_format import (
    CHATML_TEMPLATE, CL100K_PATTERN, TokenizerConfig, TokenizerFormatError, bytes_to_unicode,
    read_ranks, write_tokenizer,
)

# Llama 3's tokenizer (meta-llama/llama3, tokenizer.py) uses cl100k's pre-split pattern unchanged.
LLAMA3_PATTERN = CL100K_PATTERN
# Qwen2.5's pattern differs from cl100k in splitting digits one by one.
QWEN2_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
LLAMA3_CHAT_TEMPLATE = {
    "message": "<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>",
    "generation_prompt": "<|start_header_id|>assistant<|end_header_id|>\n\n",
    "bos": "<|begin_of_text|>",
}


def hf_pattern(tokenizer_json: dict) -> str | None:
    """Return the regex of the first Split pre-tokenizer, or None for plain GPT-2 ByteLevel."""
    pre = tokenizer_json.get("pre_tokenizer") or {}
    candidates = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
    for candidate in candidates:
        if candidate.get("type") == "Split":
            pattern = candidate.get("pattern", {})
            if "Regex" in pattern:
                return pattern["Regex"]
    return None


def ranks_from_hf(tokenizer_json: dict) -> tuple[dict[bytes, int], dict[str, int]]:
    """Return (ranks, special tokens) from a parsed byte-level BPE tokenizer.json."""
    model = tokenizer_json.get("model", {})
    if model.get("type") != "BPE":
        raise TokenizerFormatError(f"expected a BPE model, got {model.get('type')!r}")
    char_to_byte = {char: byte for byte, char in bytes_to_unicode().items()}
    special = {added["content"]: added["id"] for added in tokenizer_json.get("added_tokens", [])
               if added.get("special", True)}

    ranks: dict[bytes, int] = {}
    for token, token_id in model["vocab"].items():
        if token in special:
            continue
        try:
            token_bytes = bytes(char_to_byte[char] for char in token)
        except KeyError as error:
            raise TokenizerFormatError(
                f"token {token!r} (id {token_id}) has a character outside the byte-level alphabet; "
                "only byte-level BPE vocabularies can be converted") from error
        ranks[token_bytes] = token_id
    missing_bytes = [byte for byte in range(256) if bytes([byte]) not in ranks]
    if missing_bytes:
        raise TokenizerFormatError(f"vocabulary lacks single-byte tokens, e.g. {missing_bytes[:5]}")
    return ranks, special


def convert_hf(path: Path, eos_tokens: Sequence[str], pattern: str | None = None) -> tuple[dict[bytes, int], TokenizerConfig]:
    tokenizer_json = json.loads(path.read_text(encoding="utf-8"))
    ranks, special = ranks_from_hf(tokenizer_json)
    pattern = pattern or hf_pattern(tokenizer_json)
    if pattern is None:
        raise TokenizerFormatError(f"{path} has no Split pre-tokenizer regex; pass --pattern")
    chat = dict(CHATML_TEMPLATE) if "<|im_start|>" in special else dict(LLAMA3_CHAT_TEMPLATE)
    return ranks, TokenizerConfig(pattern, special, list(eos_tokens), None, chat)


def convert_tiktoken(path: Path, special: dict[str, int], eos_tokens: Sequence[str],
                     pattern: str = LLAMA3_PATTERN) -> tuple[dict[bytes, int], TokenizerConfig]:
    ranks = read_ranks(path)
    bos = "<|begin_of_text|>" if "<|begin_of_text|>" in special else None
    chat = dict(LLAMA3_CHAT_TEMPLATE) if bos else dict(CHATML_TEMPLATE)
    return ranks, TokenizerConfig(pattern, dict(special), list(eos_tokens), bos, chat)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Convert a byte-level BPE tokenizer to the project format.")
    parser.add_argument("kind", choices=["hf", "tiktoken"], help="input format")
    parser.add_argument("input", type=Path, help="tokenizer.json (hf) or ranks file (tiktoken)")
    parser.add_argument("--special-tokens", type=Path,
                        help="tiktoken only: JSON file mapping special token strings to ids")
    parser.add_argument("--eos", nargs="+", required=True, help="end-of-sequence special tokens")
    parser.add_argument("--pattern", help="pre-split regex (default: from the input, or Llama 3's)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    args = parser.parse_args(argv)

    if args.kind == "hf":
        ranks, config = convert_hf(args.input, args.eos, args.pattern)
    else:
        if args.special_tokens is None:
            parser.error("tiktoken input needs --special-tokens")
        special = json.loads(args.special_tokens.read_text(encoding="utf-8"))
        ranks, config = convert_tiktoken(args.input, special, args.eos, args.pattern or LLAMA3_PATTERN)
    write_tokenizer(args.out, ranks, config)
    print(f"wrote {len(ranks)} ranks and {len(config.special_tokens)} special tokens to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
