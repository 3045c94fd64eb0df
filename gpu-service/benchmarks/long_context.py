"""Long-context benchmark: dense vs sparse attention at 1x, 2x, 4x and 8x the trained context.

For each context length and attention mode it measures:
- passkey retrieval: `PASSKEY = 48213` hidden at several depths of held-out text, then
  `assert PASSKEY == ` at the end. Greedy decoding must continue with the number.
- perplexity of the held-out text of the same prompts (the tokens just before the question),
- verify-step latency (a draft tree of `--tree-size` nodes) and the KV bytes that step reads.

Held-out text is the validation split of the stdlib corpus (scripts/model/corpus.py), tokenized
with the model's tokenizer. Without a trained checkpoint (`--random-config`) perplexity and
passkey are meaningless and only the latency curve is measured, over a KV cache filled with
random keys.

CPU run (embedded model, 5 to 10 minutes on 2 shared cores):
    $(bash scripts/python-env.sh)/bin/python gpu-service/benchmarks/long_context.py
GPU latency curve (random Llama 3 8B weights):
    python gpu-service/benchmarks/long_context.py --random-config llama3-8b --dtype bfloat16 \\
        --device cuda --lengths 32768,65536,131072
Results go to `--out` (JSON) and the same path with `.png` (plot).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "gpu-service"))

from edgespec_gpu.attention_policy import DensePolicy  # noqa: E402
from edgespec_gpu.sparse import make_policy  # noqa: E402
from edgespec_gpu.sparse.reference_forward import PolicyForward  # noqa: E402

MODES = ["dense", "sinks_window", "query_select", "recycled_select"]
RANDOM_CONFIGS = {
    # The embedded model's shape (trained context 1024).
    "tiny": dict(vocab_size=8192, hidden_size=256, num_hidden_layers=6, num_attention_heads=8,
                 num_key_value_heads=2, intermediate_size=704, max_position_embeddings=1024,
                 rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=True),
    # Llama 3.1 8B's published shape (config.json of meta-llama/Llama-3.1-8B).
    "llama3-8b": dict(vocab_size=128256, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=8, intermediate_size=14336, max_position_embeddings=131072,
                      rope_theta=500000.0, rms_norm_eps=1e-5,
                      rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                    "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
}


@dataclass
class Row:
    """One (length, mode) measurement."""

    length: int
    mode: str
    perplexity: float | None
    passkey_correct: int | None
    passkey_trials: int | None
    step_ms: float
    kv_bytes_per_step: int


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models" / "edgespec-tiny",
                        help="Hugging Face Llama checkpoint folder with the project tokenizer")
    parser.add_argument("--random-config", choices=sorted(RANDOM_CONFIGS),
                        help="use random weights of this shape instead of --model (latency only)")
    parser.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--lengths", help="comma-separated context lengths in tokens "
                        "(default: 1x, 2x, 4x and 8x the trained context)")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated attention modes")
    parser.add_argument("--sinks", type=int, default=4)
    parser.add_argument("--window", type=int, default=256, help="recent tokens always kept (tokens)")
    parser.add_argument("--page-size", type=int, default=16)
    parser.add_argument("--budget", type=int, default=768, help="committed tokens attended per step")
    parser.add_argument("--recycle-steps", type=int, default=4)
    parser.add_argument("--recycle-similarity", type=float, default=0.9)
    parser.add_argument("--chunk", type=int, default=128, help="rows per forward while prefilling")
    parser.add_argument("--ppl-tail", type=int, default=256,
                        help="tokens before the question scored for perplexity, per prompt")
    parser.add_argument("--passkey-depths", default="0.1,0.4,0.7",
                        help="comma-separated relative depths of the passkey in the filler; "
                        "one prompt (and one perplexity sample) per depth")
    parser.add_argument("--text-end", type=int, default=8192,
                        help="validation token where the first prompt's filler ends")
    parser.add_argument("--text-stride", type=int, default=20000,
                        help="validation tokens between the ends of consecutive prompts")
    parser.add_argument("--tree-size", type=int, default=16, help="draft tree nodes in a timed step")
    parser.add_argument("--latency-repeats", type=int, default=7)
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "scripts" / "model",
                        help="folder of corpus.py and tokenizer_format.py")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "gpu-service" / "benchmarks" / "results"
                        / "long_context.json", help="JSON output; the plot goes next to it as .png")
    return parser.parse_args(argv)


def build_model(args):
    from transformers import LlamaConfig, LlamaForCausalLM

    dtype = getattr(torch, args.dtype)
    if args.random_config:
        config = LlamaConfig(**RANDOM_CONFIGS[args.random_config], attn_implementation="eager")
        torch.manual_seed(0)
        with torch.device(args.device):
            model = LlamaForCausalLM(config).to(dtype)
    else:
        model = LlamaForCausalLM.from_pretrained(args.model, dtype=dtype).to(args.device)
    return model.eval()


def make_session_policy(mode: str, args, model_config):
    if mode == "dense":
        return DensePolicy()
    fields = {"mode": mode, "sinks": args.sinks, "window": args.window, "page_size": args.page_size,
              "budget": args.budget, "recycle_steps": args.recycle_steps,
              "recycle_similarity": args.recycle_similarity, "dense_below": 0}
    return make_policy(fields, model_config)


def prefill(forward: PolicyForward, tokens: list[int], chunk: int, score_from: int | None = None):
    """Commit `tokens` chunk by chunk; return the NLL of next tokens at positions >= score_from."""
    losses = []
    for start in range(0, len(tokens), chunk):
        rows = tokens[start : start + chunk]
        scored = score_from is not None and start + len(rows) > score_from
        logits = forward.forward(rows, with_logits=scored)
        forward.commit(range(len(rows)))
        if not scored:
            continue
        first = max(score_from - start, 0)
        targets = torch.tensor(tokens[start + first + 1 : start + len(rows) + 1], device=logits.device)
        log_probs = torch.log_softmax(logits[first : first + len(targets)], dim=-1)  # [n, V]
        losses += (-log_probs.gather(1, targets.unsqueeze(1))).squeeze(1).tolist()
    return losses


def greedy_continue(forward: PolicyForward, last_token: int, steps: int) -> list[int]:
    """Plain decoding (empty trees) from a prefilled session whose KV lacks `last_token`."""
    output, token = [], last_token
    for _ in range(steps):
        logits = forward.forward([token])
        forward.commit([0])
        token = int(logits[0].argmax())
        output.append(token)
    return output


def time_verify_step(forward: PolicyForward, args) -> tuple[float, int]:
    """Fastest of `--latency-repeats` verify steps with a random tree (ms), and the KV bytes it reads.

    The minimum, not the median, because other jobs on a shared machine only ever add time.
    """
    generator = random.Random(0)
    parents = [-1] + [generator.randrange(0, row) for row in range(1, args.tree_size + 1)]
    rows = [generator.randrange(100, 1000) for _ in parents]
    policy = forward.policy
    forward.forward(rows, parents)  # warm-up, so that allocations are not timed
    stats_before = asdict(policy.stats) if hasattr(policy, "stats") else None
    timings = []
    for _ in range(args.latency_repeats):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        forward.forward(rows, parents)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        timings.append((time.perf_counter() - started) * 1000)
    return min(timings), kv_bytes_per_step(forward, stats_before, args.latency_repeats)


def kv_bytes_per_step(forward: PolicyForward, stats_before, steps: int) -> int:
    """Bytes of committed K and V (and page bounds) one verify step reads, over all layers."""
    layers = len(forward.layers)
    per_token = 2 * forward.num_kv_heads * forward.head_dim * forward.layers[0].keys().element_size()
    if stats_before is None:
        return layers * forward.kv_len * per_token
    stats = asdict(forward.policy.stats)
    delta = {name: stats[name] - stats_before[name] for name in stats}
    tokens = delta["attended_tokens"] + delta["dense_calls"] * forward.kv_len
    # Page bounds are a min and a max key per page: as many bytes as one token's K and V.
    return (tokens + delta["scored_pages"]) * per_token // steps


def load_validation_tokens(args, encoding) -> list[int]:
    sys.path.insert(0, str(args.data_dir))
    import corpus  # noqa: PLC0415  (scripts/model/corpus.py)

    documents = corpus.load_corpus([corpus.Source.STDLIB], corpus.Split.VALIDATION)
    print(f"validation split: {len(documents)} documents", flush=True)
    tokens: list[int] = []
    for document in documents:
        tokens += encoding.encode_ordinary(document.text + corpus.TEXT_DOCUMENT_SEPARATOR)
    return tokens


def passkey_prompt(encoding, filler: list[int], depth: float, key: int) -> tuple[list[int], int, int]:
    """Hide `PASSKEY = key` at `depth` of the filler and ask for it at the end.

    Returns the prompt, the index just past the passkey line and the index where the question starts.
    """
    needle = encoding.encode_ordinary(f"\nPASSKEY = {key}\n")
    question = encoding.encode_ordinary("\nassert PASSKEY == ")
    cut = int(depth * len(filler))
    prompt = filler[:cut] + needle + filler[cut:] + question
    return prompt, cut + len(needle), len(prompt) - len(question)


def measure_quality(length, mode, args, model, encoding, text_tokens) -> tuple[float, int, int, float, int]:
    """Run one passkey prompt per depth; perplexity comes from the same prompts' filler text.

    Prompt `trial` ends at the same text position at every length, and longer contexts reach
    further back, so the scored tokens (the last `--ppl-tail` before the question) are the same
    text at every length and perplexities compare across lengths. Scored tokens that precede the
    end of the passkey line are dropped, so the passkey never counts towards perplexity.
    """
    depths = [float(depth) for depth in args.passkey_depths.split(",")]
    generator = random.Random(length)
    losses: list[float] = []
    correct, step_ms, kv_bytes = 0, 0.0, 0
    for trial, depth in enumerate(depths):
        key = generator.randrange(10000, 100000)
        end = args.text_end + trial * args.text_stride
        if end > len(text_tokens) or end - length + 16 < 0:
            raise SystemExit(f"prompt {trial} needs text tokens [{end - length + 16}, {end}), "
                             f"have {len(text_tokens)}: lower --text-end or --text-stride")
        filler = text_tokens[end - length + 16 : end]
        prompt, needle_end, question_start = passkey_prompt(encoding, filler, depth, key)
        forward = PolicyForward(model, make_session_policy(mode, args, model.config))
        score_from = max(needle_end, question_start - args.ppl_tail)
        trial_losses = prefill(forward, prompt[:-1], args.chunk, score_from=score_from)
        losses += trial_losses[: max(question_start - 1 - score_from, 0)]
        if trial == 0:
            step_ms, kv_bytes = time_verify_step(forward, args)
        answer = encoding.decode(greedy_continue(forward, prompt[-1], 3))
        correct += answer.startswith(str(key))
        print(f"  passkey at depth {depth:.2f}: expected {key}, generated {answer!r}", flush=True)
    return math.exp(sum(losses) / len(losses)), correct, len(depths), step_ms, kv_bytes


def measure_latency_only(length, mode, args, model) -> tuple[float, int]:
    forward = PolicyForward(model, make_session_policy(mode, args, model.config))
    generator = torch.Generator(device=args.device).manual_seed(length)
    for cache in forward.layers:
        shape = (forward.num_kv_heads, length, forward.head_dim)
        keys = torch.randn(shape, generator=generator, device=args.device).to(cache.keys().dtype)
        cache.append(keys, torch.randn_like(keys))
        forward.policy.on_kv_written(cache.layer, cache, 0, length)
    return time_verify_step(forward, args)


def plot(rows: list[Row], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("perplexity", "perplexity (last tokens)"), ("passkey", "passkey accuracy"),
              ("step_ms", "verify step (ms)"), ("kv_bytes_per_step", "KV bytes read per step")]
    figure, axes = plt.subplots(1, 4, figsize=(18, 4))
    for axis, (field, label) in zip(axes, panels):
        for mode in dict.fromkeys(row.mode for row in rows):
            points = [(row.length, _panel_value(row, field)) for row in rows if row.mode == mode]
            points = [(x, y) for x, y in points if y is not None]
            if points:
                axis.plot(*zip(*points), marker="o", label=mode)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("context length (tokens)")
        axis.set_title(label)
    axes[2].legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _panel_value(row: Row, field: str):
    if field == "passkey":
        return None if row.passkey_trials is None else row.passkey_correct / row.passkey_trials
    return getattr(row, field)


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    model = build_model(args)
    trained = model.config.max_position_embeddings
    if args.lengths:
        lengths = [int(length) for length in args.lengths.split(",")]
    else:
        lengths = [trained * factor for factor in (1, 2, 4, 8)]
    modes = args.modes.split(",")

    encoding = text_tokens = None
    if not args.random_config:
        sys.path.insert(0, str(args.data_dir))
        from tokenizer_format import load_encoding  # noqa: PLC0415  (scripts/model/)

        encoding, _ = load_encoding(args.model)
        text_tokens = load_validation_tokens(args, encoding)
        print(f"validation tokens: {len(text_tokens)}", flush=True)

    rows: list[Row] = []
    for length in lengths:
        for mode in modes:
            started = time.perf_counter()
            print(f"[{len(rows) + 1}/{len(lengths) * len(modes)}] length {length}, {mode}", flush=True)
            if args.random_config:
                step_ms, kv_bytes = measure_latency_only(length, mode, args, model)
                row = Row(length, mode, None, None, None, step_ms, kv_bytes)
            else:
                perplexity, correct, trials, step_ms, kv_bytes = measure_quality(
                    length, mode, args, model, encoding, text_tokens
                )
                row = Row(length, mode, perplexity, correct, trials, step_ms, kv_bytes)
            rows.append(row)
            print(f"  {asdict(row)} ({time.perf_counter() - started:.0f} s)", flush=True)

    source = args.random_config and f"random {args.random_config}" or str(args.model.name)
    settings = {name: getattr(args, name) for name in
                ("sinks", "window", "page_size", "budget", "recycle_steps", "recycle_similarity",
                 "chunk", "ppl_tail", "passkey_depths", "text_end", "text_stride", "tree_size", "latency_repeats",
                 "dtype", "device")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"model": source, "trained_context": trained, "settings": settings,
              "rows": [asdict(row) for row in rows]}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"), f"{source}, budget {args.budget}, {args.device} {args.dtype}")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
