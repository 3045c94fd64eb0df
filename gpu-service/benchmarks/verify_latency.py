"""Verify-step latency against draft-tree size and context length, through the session manager.

Measures the forward time of one verify step (median over `--repeats`) for every tree size and
context length, and the bandwidth it implies: (weight bytes + KV bytes read) / step time, also as a
fraction of `--peak-bandwidth-gbs` when given. Trees are random (each node's parent drawn uniformly
among the earlier nodes and the root), so they mix width and depth.

CPU, the embedded model (or a random model of its shape when models/edgespec-tiny is missing):
    $(bash scripts/python-env.sh)/bin/python gpu-service/benchmarks/verify_latency.py
GPU, random Llama-3-8B-shaped weights, nothing downloaded:
    python gpu-service/benchmarks/verify_latency.py --random-config llama3-8b --dtype bfloat16 \\
        --device cuda --peak-bandwidth-gbs 4800
Writes `--out` (JSON) and the same path with `.png` (plot).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "gpu-service"))

from edgespec_gpu.config import ModelConfig  # noqa: E402
from edgespec_gpu.kv_cache import PagedKVCache  # noqa: E402
from edgespec_gpu.loader import load_model  # noqa: E402
from edgespec_gpu.model.llama import LlamaModel  # noqa: E402
from edgespec_gpu.model.numerics import NumericsMode  # noqa: E402
from edgespec_gpu.sessions import Limits, SessionManager, VerifyRequest  # noqa: E402

EMBEDDED_MODEL = REPO_ROOT / "models" / "edgespec-tiny"
RANDOM_CONFIGS = {
    # The embedded model's shape.
    "edgespec-tiny": dict(
        vocab_size=8192, hidden_size=256, intermediate_size=704, num_hidden_layers=6, num_attention_heads=8,
        num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True,
    ),
    # The same with room for a 1024-token context plus a 128-node chain.
    "edgespec-tiny-long": dict(
        vocab_size=8192, hidden_size=256, intermediate_size=704, num_hidden_layers=6, num_attention_heads=8,
        num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=True,
    ),
    # Llama 3.1 8B's published shape (config.json of meta-llama/Llama-3.1-8B).
    "llama3-8b": dict(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, max_position_embeddings=131072, rms_norm_eps=1e-5, tie_word_embeddings=False,
        rope_scaling={
            "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
            "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
        },
    ),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help=f"model folder (default {EMBEDDED_MODEL} when it exists)")
    parser.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS), help="use random weights of this shape")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    parser.add_argument("--numerics", choices=[mode.value for mode in NumericsMode], help="default: batch_invariant on CPU, fast elsewhere")
    parser.add_argument("--tree-sizes", default="0,8,16,32,64,128", help="comma-separated node counts")
    parser.add_argument("--contexts", default="128,512,860", help="comma-separated committed lengths (plus the tree must fit the model's context)")
    parser.add_argument("--repeats", type=int, default=10, help="timed steps per point (after 2 warm-up steps)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--peak-bandwidth-gbs", type=float, help="memory bandwidth of the device in GB/s, for the bound fraction")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench-results" / "verify_latency.json")
    return parser.parse_args()


def build_model(args: argparse.Namespace, dtype: torch.dtype, max_context: int) -> tuple[LlamaModel, str]:
    if args.random_config is None and (args.model or EMBEDDED_MODEL).joinpath("config.json").exists():
        folder = args.model or EMBEDDED_MODEL
        return load_model(folder, device=args.device, dtype=dtype), str(folder)
    name = args.random_config or "edgespec-tiny"
    config = ModelConfig.from_dict({"architectures": ["LlamaForCausalLM"], **RANDOM_CONFIGS[name]})
    torch.manual_seed(0)
    default_dtype = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    with torch.device(args.device):  # build on the device: an 8B model would not fit in host memory as fp32
        model = LlamaModel(config, max_positions=max_context, device=args.device)
    torch.set_default_dtype(default_dtype)
    for parameter in model.parameters():
        torch.nn.init.normal_(parameter, std=0.02) if parameter.dim() > 1 else None
    return model.eval(), f"random {name}"


def random_parents(rng: random.Random, size: int) -> list[int]:
    return [rng.randint(-1, i - 1) for i in range(size)]


def random_tree(rng: random.Random, size: int, vocab: int) -> tuple[list[int], list[int]]:
    parents = random_parents(rng, size)
    tokens, seen = [], set()
    for parent in parents:
        token = rng.randrange(vocab)
        while (parent, token) in seen:
            token = rng.randrange(vocab)
        seen.add((parent, token))
        tokens.append(token)
    return tokens, parents


def rollback(manager: SessionManager, session, committed_len: int) -> None:
    """Cut the session back to `committed_len` tokens (its KV is a prefix, so no copy is needed)."""
    del session.tokens[committed_len:]
    session.kv_len = committed_len - 1
    manager.cache.truncate(session.table, session.kv_len)


def weight_bytes(model: LlamaModel) -> int:
    unique = {parameter.data_ptr(): parameter for parameter in model.parameters()}
    return sum(parameter.numel() * parameter.element_size() for parameter in unique.values())


def kv_bytes(model: LlamaModel, context: int, element_size: int) -> int:
    config = model.config
    return 2 * config.num_hidden_layers * context * config.num_key_value_heads * config.head_dim * element_size


def synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    tree_sizes = [int(value) for value in args.tree_sizes.split(",")]
    contexts = [int(value) for value in args.contexts.split(",")]
    max_context = max(contexts) + max(tree_sizes) + 2
    model, model_name = build_model(args, dtype, max_context)
    if model.max_positions < max_context:
        raise SystemExit(
            f"context {max(contexts)} + tree depth up to {max(tree_sizes)} exceeds the model's {model.max_positions} "
            "positions: pass smaller --contexts"
        )
    model.mode = NumericsMode(args.numerics or ("batch_invariant" if args.device == "cpu" else "fast"))
    config = model.config
    element_size = torch.tensor([], dtype=dtype).element_size()
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers, num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
        page_size=16, memory_bytes=kv_bytes(model, max_context + 64, element_size) + (1 << 20), dtype=dtype, device=args.device,
    )
    manager = SessionManager(model, cache, Limits(max_tree_nodes=max(tree_sizes), max_tree_depth=max(tree_sizes), max_session_tokens=max_context))
    rng = random.Random(0)
    weights = weight_bytes(model)
    rows = []
    progress = tqdm(total=len(contexts) * len(tree_sizes), desc="verify latency", unit="point")
    for context in contexts:
        prompt = [rng.randrange(config.vocab_size) for _ in range(context)]
        for size in tree_sizes:
            times = []
            session, _ = manager.create(prompt, None)  # a fresh session per point keeps the context fixed
            for repeat in range(args.repeats + 2):
                tokens, parents = random_tree(rng, size, config.vocab_size)
                request = VerifyRequest(base_len=len(prompt), tree_tokens=tokens, tree_parents=parents, top_k=8)
                synchronize(args.device)
                start = time.perf_counter()
                manager.verify(session.session_id, request)
                synchronize(args.device)
                if repeat >= 2:
                    times.append((time.perf_counter() - start) * 1000)
                rollback(manager, session, len(prompt))
            manager.delete(session.session_id)
            step_ms = statistics.median(times)
            bytes_read = weights + kv_bytes(model, context, element_size)
            row = {
                "context": context, "tree_nodes": size, "step_ms_median": round(step_ms, 3),
                "step_ms_min": round(min(times), 3), "bytes_read": bytes_read,
                "achieved_gbs": round(bytes_read / (step_ms / 1000) / 1e9, 3),
            }
            if args.peak_bandwidth_gbs:
                row["bandwidth_bound_fraction"] = round(row["achieved_gbs"] / args.peak_bandwidth_gbs, 4)
            rows.append(row)
            progress.set_postfix(context=context, nodes=size, ms=f"{step_ms:.1f}")
            progress.update()
    progress.close()

    baseline = {row["context"]: row["step_ms_median"] for row in rows if row["tree_nodes"] == 0}
    for row in rows:
        if row["context"] in baseline:
            row["cost_vs_empty_tree"] = round(row["step_ms_median"] / baseline[row["context"]], 3)
    result = {
        "model": model_name, "device": args.device, "dtype": args.dtype, "numerics": model.mode.value,
        "threads": args.threads, "weight_bytes": weights, "repeats": args.repeats, "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(result, args.out.with_suffix(".png"))
    for row in rows:
        print(json.dumps(row))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 4.5))
    for context in sorted({row["context"] for row in result["rows"]}):
        points = [row for row in result["rows"] if row["context"] == context]
        axis.plot([p["tree_nodes"] for p in points], [p["step_ms_median"] for p in points], marker="o", label=f"context {context}")
    axis.set_xlabel("draft tree nodes")
    axis.set_ylabel("verify step, median ms")
    axis.set_title(f"{result['model']} ({result['device']}, {result['dtype']}, {result['numerics']})")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
