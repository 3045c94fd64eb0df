"""Read and write the project's tokenizer format: a tiktoken ranks file plus a JSON config.

``tokenizer.tiktoken`` holds one ``base64(token bytes) rank`` line per ordinary token, ranks dense
from 0, and the rank of a token is its id. ``tokenizer_config.json`` holds the pre-split pattern,
the special tokens with their ids, the end-of-sequence tokens and the chat template::

    {"format": "edgespec-tokenizer-v1", "pattern": "...",
     "special_tokens": {"<|endoftext|>": 8189, ...}, "eos_tokens": ["<|endoftext|>"],
     "bos_token": null,
     "chat_template": {"message": "<|im_start|>{role}\\n{content}<|im_end|>\\n",
                       "generation_prompt": "<|im_start|>assistant\\n", "bos": ""}}
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tiktoken

FORMAT_NAME = "edgespec-tokenizer-v1"
RANKS_FILE = "tokenizer.tiktoken"
CONFIG_FILE = "tokenizer_config.json"

# The pre-split pattern of OpenAI's cl100k_base encoding: contractions, letter runs with one
# leading non-letter, digit runs of at most three, punctuation runs, newlines, and whitespace that
# leaves its last space to the following word.
CL100K_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
    r"""|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

CHATML_TEMPLATE = {
    "message": "<|im_start|>{role}\n{content}<|im_end|>\n",
    "generation_prompt": "<|im_start|>assistant\n",
    "bos": "",
}


class TokenizerFormatError(ValueError):
    """Raised when a ranks file or tokenizer config is invalid."""


@dataclass(frozen=True)
class TokenizerConfig:
    pattern: str
    special_tokens: dict[str, int]
    eos_tokens: list[str]
    bos_token: str | None = None
    chat_template: dict[str, str] = field(default_factory=lambda: dict(CHATML_TEMPLATE))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_NAME,
            "pattern": self.pattern,
            "special_tokens": self.special_tokens,
            "eos_tokens": self.eos_tokens,
            "bos_token": self.bos_token,
            "chat_template": self.chat_template,
        }


def bytes_to_unicode() -> dict[int, str]:
    """Return GPT-2's byte-to-character table used by byte-level BPE vocabularies.

    Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 and up, in
    byte order.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    table = {byte: chr(byte) for byte in printable}
    next_code = 256
    for byte in range(256):
        if byte not in table:
            table[byte] = chr(next_code)
            next_code += 1
    return table


def write_ranks(path: Path, ranks: dict[bytes, int]) -> None:
    """Write a tiktoken ranks file, lines ordered by rank."""
    check_ranks(ranks)
    lines = [f"{base64.b64encode(token).decode('ascii')} {rank}\n"
             for token, rank in sorted(ranks.items(), key=lambda item: item[1])]
    path.write_text("".join(lines), encoding="ascii")


def read_ranks(path: Path) -> dict[bytes, int]:
    ranks: dict[bytes, int] = {}
    for line_number, line in enumerate(path.read_text(encoding="ascii").splitlines(), start=1):
        if not line:
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not parts[1].isdigit():
            raise TokenizerFormatError(f"{path}:{line_number}: expected 'BASE64 RANK', got {line!r}")
        token = base64.b64decode(parts[0], validate=True)
        if token in ranks:
            raise TokenizerFormatError(f"{path}:{line_number}: token {token!r} appears twice")
        ranks[token] = int(parts[1])
    check_ranks(ranks)
    return ranks


def check_ranks(ranks: dict[bytes, int]) -> None:
    """Raise TokenizerFormatError unless ranks are dense from 0 and unique."""
    values = sorted(ranks.values())
    if values != list(range(len(values))):
        missing = sorted(set(range(len(values))) - set(values))[:5]
        raise TokenizerFormatError(f"ranks must be unique and dense from 0; missing e.g. {missing}")
    if any(len(token) == 0 for token in ranks):
        raise TokenizerFormatError("ranks contain an empty token")


def parse_config(data: Any, vocab_size: int) -> TokenizerConfig:
    """Validate a parsed tokenizer_config.json against a vocabulary of ``vocab_size`` ids."""
    if not isinstance(data, dict):
        raise TokenizerFormatError("tokenizer config must be a JSON object")
    if data.get("format") != FORMAT_NAME:
        raise TokenizerFormatError(f"tokenizer config format must be {FORMAT_NAME!r}, got {data.get('format')!r}")
    pattern = data.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise TokenizerFormatError("tokenizer config 'pattern' must be a non-empty string")
    special = data.get("special_tokens")
    if not isinstance(special, dict) or not all(isinstance(i, int) for i in special.values()):
        raise TokenizerFormatError("tokenizer config 'special_tokens' must map strings to integer ids")
    for name, token_id in special.items():
        if not 0 <= token_id < vocab_size:
            raise TokenizerFormatError(f"special token {name!r} has id {token_id}, outside [0, {vocab_size})")
    if len(set(special.values())) != len(special):
        raise TokenizerFormatError(f"special token ids must be distinct, got {special}")
    eos = data.get("eos_tokens")
    if not isinstance(eos, list) or not eos or any(name not in special for name in eos):
        raise TokenizerFormatError(f"'eos_tokens' must be a non-empty list of special tokens, got {eos!r}")
    bos = data.get("bos_token")
    if bos is not None and bos not in special:
        raise TokenizerFormatError(f"'bos_token' {bos!r} is not a special token")
    template = data.get("chat_template")
    keys = {"message", "generation_prompt", "bos"}
    if not isinstance(template, dict) or set(template) != keys or not all(isinstance(v, str) for v in template.values()):
        raise TokenizerFormatError(f"'chat_template' must be an object with string fields {sorted(keys)}")
    return TokenizerConfig(pattern, dict(special), list(eos), bos, dict(template))


def write_tokenizer(folder: Path, ranks: dict[bytes, int], config: TokenizerConfig) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = len(ranks) + len(config.special_tokens)
    parse_config(config.to_json(), vocab_size)
    overlap = set(config.special_tokens.values()) & set(ranks.values())
    if overlap:
        raise TokenizerFormatError(f"special token ids {sorted(overlap)} are also ordinary ranks")
    write_ranks(folder / RANKS_FILE, ranks)
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False) + "\n",
                                      encoding="utf-8")


def load_encoding(folder: Path) -> tuple[tiktoken.Encoding, TokenizerConfig]:
    """Load a tokenizer folder as a tiktoken Encoding (the runtime tokenizer) and its config."""
    ranks = read_ranks(folder / RANKS_FILE)
    raw = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    special_count = len(raw.get("special_tokens", {})) if isinstance(raw, dict) else 0
    config = parse_config(raw, len(ranks) + special_count)
    encoding = tiktoken.Encoding(
        name=folder.name, pat_str=config.pattern, mergeable_ranks=ranks,
        special_tokens=config.special_tokens,
    )
    return encoding, config
