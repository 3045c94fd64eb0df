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
Step latency through the service's own sessions (`SessionManager`, paged KV, 1 thread):
    $(bash scripts/python-env.sh)/bin/python gpu-service/benchmarks/long_context.py --engine service
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
from edgespec_gpu.tree import node_depths  # noqa: E402

ENGINES = ["reference", "service"]
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
    parser.add_argument("--engine", choices=ENGINES, default="reference",
                        help="reference: quality and latency in the reference forward; service: verify-step "
                        "latency only, through the GPU service's SessionManager")
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
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice; "
                        "1 with --engine service)")
    parser.add_argument("--out", type=Path, help="JSON output; the plot goes next to it as .png (default: "
                        "results/long_context.json, or results/long_context_service_cpu.json with --engine service)")
    args = parser.parse_args(argv)
    if args.out is None:
        name = "long_context_service_cpu.json" if args.engine == "service" else "long_context.json"
        args.out = REPO_ROOT / "gpu-service" / "benchmarks" / "results" / name
    if args.threads is None and args.engine == "service":
        args.threads = 1
    return args


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


# ---- --engine service: verify steps through the service's SessionManager ----------------------


@dataclass
class ServiceRow:
    """One (context, mode) measurement through a real session."""

    context: int  # the session's context ceiling for the timed steps
    mode: str
    committed: int  # committed tokens when the first timed step starts
    plain_step_ms: float  # verify step with an empty tree (1 row)
    tree_step_ms: float  # verify step with a `--tree-size` node tree (1 + tree_size rows)
    plain_kv_bytes: int
    tree_kv_bytes: int


def build_service_model(args):
    """Load the service's own model (LlamaModel), or random weights of a `--random-config` shape."""
    from edgespec_gpu.config import ModelConfig  # noqa: PLC0415
    from edgespec_gpu.loader import load_model  # noqa: PLC0415
    from edgespec_gpu.model.llama import LlamaModel  # noqa: PLC0415

    dtype = getattr(torch, args.dtype)
    max_positions = service_max_tokens(args)
    if not args.random_config:
        return load_model(args.model, device=args.device, dtype=dtype, max_positions=max_positions).eval()
    shape = {key: value for key, value in RANDOM_CONFIGS[args.random_config].items() if key != "rope_scaling"}
    config = ModelConfig.from_dict({**shape, "architectures": ["LlamaForCausalLM"], "eos_token_id": []})
    torch.manual_seed(0)
    model = LlamaModel(config, max_positions=max_positions, device=args.device)
    for parameter in model.parameters():
        if parameter.dim() > 1:
            torch.nn.init.normal_(parameter, std=0.02)
    return model.to(dtype).eval()


def service_max_tokens(args) -> int:
    """`--max-session-tokens` of the benchmark's service: the longest context to measure."""
    if args.random_config:
        trained = RANDOM_CONFIGS[args.random_config]["max_position_embeddings"]
    else:
        trained = json.loads((args.model / "config.json").read_text())["max_position_embeddings"]
    return max(service_lengths(args, trained))


def service_lengths(args, trained: int) -> list[int]:
    if args.lengths:
        return [int(length) for length in args.lengths.split(",")]
    return [trained * factor for factor in (1, 2, 4, 8)]


def verify_tree(args) -> tuple[list[int], list[int]]:
    """Build the timed draft tree: the reference engine's random tree, in the protocol's parent form."""
    generator = random.Random(0)
    parents = [-1] + [generator.randrange(0, row) for row in range(1, args.tree_size + 1)]
    tokens = [generator.randrange(100, 1000) for _ in parents]
    # Row 0 is the root (the last committed token), so node i - 1 hangs under node parents[i] - 1.
    return tokens[1:], [parent - 1 for parent in parents[1:]]


def service_session_config(mode: str, args) -> dict | None:
    if mode == "dense":
        return None
    return {"mode": mode, "sinks": args.sinks, "window": args.window, "page_size": args.page_size,
            "budget": args.budget, "recycle_steps": args.recycle_steps,
            "recycle_similarity": args.recycle_similarity, "dense_below": 0}


def time_service_steps(manager, session, tree_tokens, tree_parents, args) -> tuple[float, int]:
    """Fastest of `--latency-repeats` verify steps after one warm-up (ms), and the KV bytes per step.

    Every step commits its accepted tokens, so the session grows by at least 1 token a step.
    """
    from edgespec_gpu.sessions import VerifyRequest  # noqa: PLC0415

    def step():
        request = VerifyRequest(base_len=len(session.tokens), tree_tokens=tree_tokens, tree_parents=tree_parents)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        manager.verify(session.session_id, request)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        return (time.perf_counter() - started) * 1000

    step()  # warm-up, so that allocations are not timed
    policy = session.policy
    stats_before = asdict(policy.stats) if hasattr(policy, "stats") else None
    kv_len_before = session.kv_len
    timings = [step() for _ in range(args.latency_repeats)]
    return min(timings), service_kv_bytes(manager, session, stats_before, kv_len_before, args.latency_repeats)


def service_kv_bytes(manager, session, stats_before, kv_len_before: int, steps: int) -> int:
    """Bytes of committed K and V (and page bounds) one verify step reads, over all layers.

    Same count as `kv_bytes_per_step`. A dense step reads the whole committed KV, here its mean
    length over the timed steps.
    """
    cache = manager.cache
    config = manager.model.config
    per_token = 2 * config.num_key_value_heads * config.head_dim * cache.keys.element_size()
    mean_kv_len = (kv_len_before + session.kv_len) // 2
    if stats_before is None:
        return config.num_hidden_layers * mean_kv_len * per_token
    stats = asdict(session.policy.stats)
    delta = {name: stats[name] - stats_before[name] for name in stats}
    tokens = delta["attended_tokens"] + delta["dense_calls"] * mean_kv_len
    return (tokens + delta["scored_pages"]) * per_token // steps


def measure_service(context, mode, args, manager, text_tokens, tree) -> ServiceRow:
    """Prefill a session through `manager.create`, then time plain and tree verify steps."""
    tree_tokens, tree_parents = tree
    depth = max(node_depths(tree_parents), default=0)
    # Each of the 2 x (1 + repeats) steps commits at most depth + 1 tokens, and the last one still
    # needs committed + depth + 1 <= context, so the prompt leaves that much room.
    headroom = 2 * (1 + args.latency_repeats) * (depth + 1) + depth + 1
    prompt = text_tokens[: context - headroom]
    session, _ = manager.create(prompt, service_session_config(mode, args))
    committed = len(session.tokens)
    plain_ms, plain_bytes = time_service_steps(manager, session, [], [], args)
    tree_ms, tree_bytes = time_service_steps(manager, session, tree_tokens, tree_parents, args)
    assert len(session.tokens) + depth + 1 <= context, (len(session.tokens), depth, context)
    manager.delete(session.session_id)
    return ServiceRow(context, mode, committed, plain_ms, tree_ms, plain_bytes, tree_bytes)


def plot_service(rows: list[ServiceRow], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("plain_step_ms", "plain verify step (ms)"), ("tree_step_ms", "tree verify step (ms)"),
              ("tree_kv_bytes", "KV bytes read per tree step")]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for axis, (field, label) in zip(axes, panels):
        for mode in dict.fromkeys(row.mode for row in rows):
            points = [(row.context, getattr(row, field)) for row in rows if row.mode == mode]
            axis.plot(*zip(*points), marker="o", label=mode)
        axis.set_xscale("log", base=2)
        axis.set_xlabel("context (tokens)")
        axis.set_title(label)
        axis.set_ylim(bottom=0)
    axes[0].legend()
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def run_service_benchmark(args) -> int:
    """Time verify steps of real sessions; dense runs only at lengths within the trained context."""
    from edgespec_gpu.kv_cache import PagedKVCache  # noqa: PLC0415
    from edgespec_gpu.sessions import Limits, SessionManager  # noqa: PLC0415

    model = build_service_model(args)
    config = model.config
    trained = config.max_position_embeddings
    lengths = service_lengths(args, trained)
    max_tokens = max(lengths)
    per_position = 2 * config.num_hidden_layers * config.num_key_value_heads * config.head_dim
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers, num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
        page_size=args.page_size, memory_bytes=2 * max_tokens * per_position * getattr(torch, args.dtype).itemsize,
        dtype=getattr(torch, args.dtype), device=args.device,
    )
    manager = SessionManager(model, cache, Limits(max_session_tokens=max_tokens, max_tree_nodes=max(args.tree_size, 1)))

    if args.random_config:
        generator = torch.Generator().manual_seed(0)
        text_tokens = torch.randint(0, config.vocab_size, (max_tokens,), generator=generator).tolist()
    else:
        sys.path.insert(0, str(args.data_dir))
        from tokenizer_format import load_encoding  # noqa: PLC0415  (scripts/model/)

        encoding, _ = load_encoding(args.model)
        text_tokens = load_validation_tokens(args, encoding)
        if len(text_tokens) < max_tokens:
            raise SystemExit(f"the validation split has {len(text_tokens)} tokens, fewer than {max_tokens}: lower --lengths")

    tree = verify_tree(args)
    runs = [(length, mode) for length in lengths for mode in args.modes.split(",")
            if mode != "dense" or length <= manager.max_context]
    skipped = [length for length in lengths if length > manager.max_context]
    if skipped:
        print(f"dense skipped at {skipped}: dense sessions stop at the trained context "
              f"({manager.max_context})", flush=True)
    rows: list[ServiceRow] = []
    for index, (length, mode) in enumerate(runs):
        started = time.perf_counter()
        print(f"[{index + 1}/{len(runs)}] context {length}, {mode}", flush=True)
        row = measure_service(length, mode, args, manager, text_tokens, tree)
        rows.append(row)
        print(f"  {asdict(row)} ({time.perf_counter() - started:.0f} s)", flush=True)

    source = args.random_config and f"random {args.random_config}" or str(args.model.name)
    settings = {name: getattr(args, name) for name in
                ("engine", "sinks", "window", "page_size", "budget", "recycle_steps", "recycle_similarity",
                 "tree_size", "latency_repeats", "threads", "dtype", "device")}
    settings["numerics"] = model.mode.value
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {"model": source, "trained_context": trained, "max_sparse_context": manager.max_sparse_context,
              "settings": settings, "rows": [asdict(row) for row in rows]}
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    plot_service(rows, args.out.with_suffix(".png"),
                 f"{source} through SessionManager, budget {args.budget}, {args.device} {args.dtype}, "
                 f"{args.threads} thread(s)")
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_grad_enabled(False)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if args.engine == "service":
        return run_service_benchmark(args)
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
