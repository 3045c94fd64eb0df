"""Train the embedded model's byte-level BPE tokenizer and write it in the project format.

Hugging Face ``tokenizers`` trains the merges (fast, in Rust) with the same pre-split regex that the
runtime tiktoken encoding uses; ``convert_tokenizer`` then turns the result into tiktoken ranks.
The layout is 256 single bytes, then merges, then the special tokens at the top ids.

Command line::

    python scripts/model/train_tokenizer.py --corpus train.jsonl --out models/edgespec-tiny
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

from convert_tokenizer import ranks_from_hf
from tokenizer_format import CHATML_TEMPLATE, CL100K_PATTERN, TokenizerConfig, load_encoding, write_tokenizer

VOCAB_SIZE = 8192
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
EOS_TOKENS = ("<|endoftext|>", "<|im_end|>")


def iter_texts(corpus: Path) -> Iterator[str]:
    with corpus.open(encoding="utf-8") as file:
        for line in file:
            yield json.loads(line)["text"]


def train_hf_bpe(texts: Iterator[str], ordinary_size: int, pattern: str) -> Tokenizer:
    """Train a byte-level BPE with ``ordinary_size`` tokens (256 bytes + merges), no special tokens."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=ordinary_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[], min_frequency=2, show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def train_tokenizer(corpus: Path, out: Path, vocab_size: int = VOCAB_SIZE) -> TokenizerConfig:
    ordinary_size = vocab_size - len(SPECIAL_TOKENS)
    tokenizer = train_hf_bpe(iter_texts(corpus), ordinary_size, CL100K_PATTERN)
    ranks, _ = ranks_from_hf(json.loads(tokenizer.to_str()))
    if len(ranks) != ordinary_size:
        raise RuntimeError(f"trained {len(ranks)} ordinary tokens, expected {ordinary_size}; "
                           "the corpus is too small for this vocabulary")
    special = {name: ordinary_size + index for index, name in enumerate(SPECIAL_TOKENS)}
    config = TokenizerConfig(CL100K_PATTERN, special, list(EOS_TOKENS), None, dict(CHATML_TEMPLATE))
    write_tokenizer(out, ranks, config)
    return config


def check_round_trip(folder: Path, corpus: Path, max_documents: int) -> int:
    """Encode and decode corpus documents with tiktoken; return the number of tokens checked."""
    encoding, _ = load_encoding(folder)
    token_count = 0
    for index, text in enumerate(iter_texts(corpus)):
        if index >= max_documents:
            break
        ids = encoding.encode_ordinary(text)
        if encoding.decode_bytes(ids) != text.encode("utf-8"):
            raise RuntimeError(f"document {index} does not round-trip through tiktoken")
        token_count += len(ids)
    return token_count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the byte-level BPE tokenizer.")
    parser.add_argument("--corpus", type=Path, required=True, help="JSONL corpus written by corpus.py")
    parser.add_argument("--out", type=Path, required=True, help="model folder to write the tokenizer into")
    parser.add_argument("--vocab-size", type=int, default=VOCAB_SIZE, help="ids in total, special tokens included")
    parser.add_argument("--check-documents", type=int, default=50, help="documents to round-trip after training")
    args = parser.parse_args(argv)

    train_tokenizer(args.corpus, args.out, args.vocab_size)
    checked = check_round_trip(args.out, args.corpus, args.check_documents)
    print(f"wrote the tokenizer to {args.out}; {checked} tokens round-trip through tiktoken")
    return 0


if __name__ == "__main__":
    sys.exit(main())
