"""Print greedy continuations of a few prompts, for the model card.

    python scripts/model/sample_model.py --model models/edgespec-tiny --max-new-tokens 48
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from transformers import LlamaForCausalLM

from tokenizer_format import load_encoding

DEFAULT_PROMPTS = (
    "def read_config(path):\n    \"\"\"",
    "import os\nimport sys\n\n\ndef main():\n",
    "class Queue:\n    def __init__(self",
    "The `fs.readFile()` method",
    "# Return the number of",
)


@torch.no_grad()
def greedy_continuation(model: LlamaForCausalLM, prompt_ids: list[int], max_new_tokens: int,
                        eos_ids: Sequence[int]) -> list[int]:
    """Return the argmax continuation of ``prompt_ids`` (full recompute each step, no KV cache)."""
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        logits = model(input_ids=torch.tensor([ids])).logits  # [1, T, V]
        next_id = int(logits[0, -1].argmax())
        ids.append(next_id)
        if next_id in eos_ids:
            break
    return ids[len(prompt_ids):]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print greedy continuations of a few prompts.")
    parser.add_argument("--model", type=Path, required=True, help="model folder with weights and tokenizer")
    parser.add_argument("--max-new-tokens", type=int, default=48, help="tokens to generate per prompt")
    parser.add_argument("--prompt", action="append", help="prompt text (repeatable; default: a built-in set)")
    args = parser.parse_args(argv)

    torch.set_num_threads(2)
    encoding, config = load_encoding(args.model)
    eos_ids = [config.special_tokens[name] for name in config.eos_tokens]
    model = LlamaForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    for prompt in args.prompt or DEFAULT_PROMPTS:
        new_ids = greedy_continuation(model, encoding.encode_ordinary(prompt), args.max_new_tokens, eos_ids)
        completion = encoding.decode_bytes(new_ids).decode("utf-8", errors="replace")
        print(json.dumps({"prompt": prompt, "completion": completion}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
