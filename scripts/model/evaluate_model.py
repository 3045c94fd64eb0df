"""Measure the embedded model's validation loss and perplexity on a fixed held-out slice.

The slice is the first ``--windows`` windows of ``--seq-len`` + 1 tokens of the standard-library
validation split (every machine with the same Python version builds the same one), each document
followed by ``<|endoftext|>``. ``--write`` stores the figures in ``evaluation.json`` beside the
weights, which the model card quotes and the test suite recomputes.

    python scripts/model/evaluate_model.py --model models/edgespec-tiny --write
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import platform
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import LlamaForCausalLM

import corpus
from token_data import load_token_stream
from tokenizer_format import load_encoding
from train_model import evaluate_loss

EVALUATION_FILE = "evaluation.json"
DEFAULT_WINDOWS = 16
DEFAULT_SEQ_LEN = 1024


def validation_slice(model_folder: Path, windows: int, seq_len: int) -> np.ndarray:
    """Return the first ``windows * seq_len + 1`` tokens of the stdlib validation stream."""
    documents = corpus.load_corpus([corpus.Source.STDLIB], corpus.Split.VALIDATION)
    with tempfile.TemporaryDirectory() as folder:
        jsonl = Path(folder) / "validation.jsonl"
        corpus.write_documents(documents, jsonl, corpus.OutputFormat.JSONL)
        encoding, config = load_encoding(model_folder)
        tokens = load_token_stream(jsonl, encoding, config.special_tokens["<|endoftext|>"])
    needed = windows * seq_len + 1
    if len(tokens) < needed:
        raise ValueError(f"validation stream has {len(tokens)} tokens, fewer than the {needed} requested")
    return tokens[:needed]


def slice_digest(tokens: np.ndarray) -> str:
    """Return the SHA-256 of the tokens as little-endian uint16, to tell whether two slices are equal."""
    return hashlib.sha256(tokens.astype("<u2").tobytes()).hexdigest()


def evaluate(model_folder: Path, windows: int = DEFAULT_WINDOWS, seq_len: int = DEFAULT_SEQ_LEN) -> dict:
    tokens = validation_slice(model_folder, windows, seq_len)
    model = LlamaForCausalLM.from_pretrained(model_folder, dtype=torch.float32)
    loss, used = evaluate_loss(model, tokens, seq_len, windows, torch.device("cpu"))
    return {
        "command": f"python scripts/model/evaluate_model.py --model {model_folder.as_posix()} "
                   f"--windows {windows} --seq-len {seq_len}",
        "slice": {"sources": ["stdlib"], "split": "validation", "windows": used, "seq_len": seq_len,
                  "tokens": int(len(tokens)), "python_version": platform.python_version(),
                  "tokens_sha256": slice_digest(tokens)},
        "loss": loss,
        "perplexity": math.exp(loss),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure validation loss and perplexity of a model folder.")
    parser.add_argument("--model", type=Path, required=True, help="folder with config.json, weights and tokenizer")
    parser.add_argument("--windows", type=int, default=DEFAULT_WINDOWS, help="number of evaluation windows")
    parser.add_argument("--seq-len", type=int, default=DEFAULT_SEQ_LEN, help="tokens per window")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch")
    parser.add_argument("--write", action="store_true", help=f"write the result to MODEL/{EVALUATION_FILE}")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    result = evaluate(args.model, args.windows, args.seq_len)
    text = json.dumps(result, indent=2) + "\n"
    print(text, end="")
    if args.write:
        (args.model / EVALUATION_FILE).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
