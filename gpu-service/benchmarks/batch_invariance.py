"""How often a tree verify step changes a row's logits or argmax compared with plain 1-token steps.

For each prompt it decodes `--steps` tokens greedily with empty trees and keeps each step's logits.
Then it scores the same positions in one forward over the decoded tokens as a chain plus
`--siblings` random wrong siblings, so that forward has 1 + steps + siblings rows. A row "differs"
when its logits are not bitwise equal to the plain step's, and "flips" when its argmax differs too. Runs
both numerics modes in float32, and the fast mode in bfloat16.

    $(bash scripts/python-env.sh)/bin/python gpu-service/benchmarks/batch_invariance.py
Writes `--out` (JSON) and the same path with `.png` (plot).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import torch
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "gpu-service"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edgespec_gpu.kv_cache import PagedKVCache  # noqa: E402
from edgespec_gpu.model.numerics import NumericsMode  # noqa: E402
from edgespec_gpu.sessions import Limits, SessionManager, VerifyRequest  # noqa: E402
from verify_latency import build_model  # noqa: E402

CONFIGURATIONS = [
    ("float32", NumericsMode.BATCH_INVARIANT),
    ("float32", NumericsMode.FAST),
    ("bfloat16", NumericsMode.BATCH_INVARIANT),
    ("bfloat16", NumericsMode.FAST),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="model folder (default: models/edgespec-tiny when it exists, else random weights of its shape)")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--steps", type=int, default=24, help="plain decoding steps per prompt")
    parser.add_argument("--siblings", type=int, default=16, help="wrong sibling nodes added to the chain")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench-results" / "batch_invariance.json")
    return parser.parse_args()


def make_manager(dtype_name: str, mode: NumericsMode, args: argparse.Namespace) -> SessionManager:
    dtype = getattr(torch, dtype_name)
    model_args = argparse.Namespace(model=args.model, random_config=None, device="cpu")
    model, _ = build_model(model_args, dtype, 1024)
    model.mode = mode
    config = model.config
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers, num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
        page_size=16, memory_bytes=64 << 20, dtype=dtype,
    )
    return SessionManager(model, cache, Limits())


def measure(manager: SessionManager, prompt: list[int], steps: int, siblings: int, rng: random.Random) -> tuple[int, int, int]:
    """Return (rows compared, rows with different logits, rows with a different argmax)."""
    session, _ = manager.create(prompt, None)
    plain_logits = []
    for _ in range(steps):
        plain_logits.append(manager.score(session.session_id, [], [])[0])
        manager.verify(session.session_id, VerifyRequest(base_len=len(session.tokens)))
    decoded = session.tokens[len(prompt) :]
    manager.delete(session.session_id)

    fresh, _ = manager.create(prompt, None)
    chain = decoded[: steps - 1]
    tokens, parents = list(chain), list(range(-1, len(chain) - 1))
    vocab = manager.model.config.vocab_size
    used = set(zip(parents, tokens))
    while len(tokens) < len(chain) + siblings:
        parent, token = rng.randint(-1, len(chain) - 1), rng.randrange(vocab)
        if (parent, token) not in used:
            used.add((parent, token))
            parents.append(parent)
            tokens.append(token)
    tree_logits = manager.score(fresh.session_id, tokens, parents)[: steps]  # root + chain rows
    manager.delete(fresh.session_id)
    plain = torch.stack(plain_logits)
    differ = int((tree_logits != plain).any(dim=-1).sum())
    flips = int((tree_logits.argmax(-1) != plain.argmax(-1)).sum())
    return steps, differ, flips


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    results = []
    for dtype_name, mode in CONFIGURATIONS:
        manager = make_manager(dtype_name, mode, args)
        rng = random.Random(0)
        totals = [0, 0, 0]
        for _ in tqdm(range(args.prompts), desc=f"{dtype_name} {mode.value}", unit="prompt"):
            prompt = [rng.randrange(manager.model.config.vocab_size) for _ in range(rng.randint(8, 300))]
            for index, value in enumerate(measure(manager, prompt, args.steps, args.siblings, rng)):
                totals[index] += value
        rows, differ, flips = totals
        result = {
            "dtype": dtype_name, "numerics": mode.value, "rows": rows,
            "rows_with_different_logits": differ, "rows_with_flipped_argmax": flips,
            "different_logits_rate": round(differ / rows, 4), "flipped_argmax_rate": round(flips / rows, 4),
        }
        results.append(result)
        print(json.dumps(result), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"threads": args.threads, "prompts": args.prompts, "steps": args.steps, "siblings": args.siblings, "results": results}, indent=2) + "\n")
    plot(results, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['dtype']}\n{r['numerics']}" for r in results]
    positions = range(len(results))
    figure, axis = plt.subplots(figsize=(7, 4))
    axis.bar([p - 0.2 for p in positions], [r["different_logits_rate"] for r in results], width=0.4, label="logits differ")
    axis.bar([p + 0.2 for p in positions], [r["flipped_argmax_rate"] for r in results], width=0.4, label="argmax flips")
    axis.set_xticks(list(positions), labels)
    axis.set_ylabel("fraction of rows vs plain 1-token steps")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
