"""Train the embedded Llama-architecture model on the tokenized corpus (CPU, or CUDA when present).

The data is one token stream: every training document encoded with the runtime tiktoken encoding
and followed by ``<|endoftext|>``. Each epoch visits the stream's non-overlapping windows of
``seq_len + 1`` tokens in a seeded random order. A checkpoint (model, optimizer, step, epoch and
window index) is written every ``--checkpoint-every`` steps, so ``--resume`` continues exactly
where the run stopped.

Command line::

    python scripts/model/train_model.py --corpus train.jsonl --tokenizer models/edgespec-tiny \\
        --out models/edgespec-tiny --checkpoint-dir checkpoints/edgespec-tiny --steps 600 --resume
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from token_data import WindowSampler, load_token_stream
from tokenizer_format import load_encoding


@dataclass(frozen=True)
class ModelShape:
    vocab_size: int = 8192
    hidden_size: int = 256
    num_layers: int = 6
    num_heads: int = 8
    num_kv_heads: int = 2  # grouped-query attention, 4 query heads per KV head
    intermediate_size: int = 704  # about 8/3 of hidden_size, rounded to a multiple of 64
    max_position_embeddings: int = 1024
    rope_theta: float = 10000.0


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 600
    batch_size: int = 8
    seq_len: int = 1024
    learning_rate: float = 3e-3
    min_learning_rate: float = 3e-4
    warmup_steps: int = 30
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    seed: int = 1234
    checkpoint_every: int = 25
    # When > 0, training stops after this many seconds (summed over resumed runs) and the cosine
    # decay follows elapsed time instead of steps; ``steps`` is then only an upper bound. This keeps
    # a run on a shared machine inside its wall-time budget whatever the throughput.
    time_budget_s: float = 0.0


def build_model(shape: ModelShape, eos_token_ids: Sequence[int]) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.hidden_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads, intermediate_size=shape.intermediate_size,
        max_position_embeddings=shape.max_position_embeddings, rope_theta=shape.rope_theta,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=None,
        eos_token_id=list(eos_token_ids), pad_token_id=None,
    )
    return LlamaForCausalLM(config)


def learning_rate_at(step: int, settings: TrainSettings, elapsed_s: float = 0.0) -> float:
    """Linear warmup to the peak rate, then cosine decay to the minimum rate at the last step
    (or at the end of the time budget, when there is one)."""
    if step < settings.warmup_steps:
        return settings.learning_rate * (step + 1) / settings.warmup_steps
    if settings.time_budget_s > 0:
        progress = elapsed_s / settings.time_budget_s
    else:
        progress = (step - settings.warmup_steps) / max(1, settings.steps - settings.warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return settings.min_learning_rate + (settings.learning_rate - settings.min_learning_rate) * cosine


def build_optimizer(model: torch.nn.Module, settings: TrainSettings) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (not on norms)."""
    decayed = [p for p in model.parameters() if p.dim() >= 2]
    undecayed = [p for p in model.parameters() if p.dim() < 2]
    groups = [{"params": decayed, "weight_decay": settings.weight_decay},
              {"params": undecayed, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=settings.learning_rate, betas=(0.9, 0.95), eps=1e-8)


def batch_loss(model: LlamaForCausalLM, windows: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over a batch of windows [B, T + 1]."""
    inputs = windows[:, :-1]  # [B, T]
    targets = windows[:, 1:]  # [B, T]
    logits = model(input_ids=inputs).logits  # [B, T, V]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), targets.reshape(-1))


@torch.no_grad()
def evaluate_loss(model: LlamaForCausalLM, tokens: np.ndarray, seq_len: int, max_windows: int,
                  device: torch.device) -> tuple[float, int]:
    """Return (mean loss, windows used) over the first ``max_windows`` windows of ``tokens``."""
    model.eval()
    window_count = min(max_windows, (len(tokens) - 1) // seq_len)
    if window_count == 0:
        raise ValueError(f"validation stream of {len(tokens)} tokens is shorter than one window of {seq_len + 1}")
    losses = []
    for index in range(window_count):
        start = index * seq_len
        window = torch.from_numpy(tokens[start:start + seq_len + 1].astype(np.int64))[None].to(device)
        losses.append(batch_loss(model, window).item())
    model.train()
    return float(np.mean(losses)), window_count


def save_checkpoint(path: Path, model, optimizer, step: int, sampler: WindowSampler, elapsed_s: float) -> None:
    """Write the checkpoint to a temporary file and rename it, so a crash never leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                "sampler": sampler.state(), "elapsed_s": elapsed_s}, temporary)
    temporary.replace(path)


def train(model: LlamaForCausalLM, train_tokens: np.ndarray, settings: TrainSettings,
          checkpoint: Path | None, resume: bool, device: torch.device, stop_at: int | None = None) -> dict:
    """Run the training loop to ``settings.steps`` and return this run's losses and the total timing.

    ``stop_at`` ends the run at an earlier step with the same schedule, as an interrupted run would.
    """
    torch.manual_seed(settings.seed)
    model.to(device).train()
    optimizer = build_optimizer(model, settings)
    sampler = WindowSampler(len(train_tokens), settings.seq_len + 1, settings.seed)
    step, elapsed_before = 0, 0.0
    if resume and checkpoint is not None and checkpoint.exists():
        state = torch.load(checkpoint, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        sampler.load_state(state["sampler"])
        step, elapsed_before = state["step"], state["elapsed_s"]
        print(f"resumed from {checkpoint} at step {step}", file=sys.stderr)

    losses: list[float] = []
    started = time.perf_counter()
    tokens_per_step = settings.batch_size * settings.seq_len
    progress = tqdm(total=settings.steps, initial=step, desc="train", dynamic_ncols=True)
    last_step = settings.steps if stop_at is None else min(stop_at, settings.steps)

    def out_of_time() -> bool:
        elapsed = elapsed_before + time.perf_counter() - started
        return settings.time_budget_s > 0 and elapsed >= settings.time_budget_s

    while step < last_step and not out_of_time():
        starts = sampler.next_starts(settings.batch_size)
        batch = np.stack([train_tokens[s:s + settings.seq_len + 1] for s in starts]).astype(np.int64)
        windows = torch.from_numpy(batch).to(device)  # [B, T + 1]

        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, settings, elapsed_before + time.perf_counter() - started)
        loss = batch_loss(model, windows)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
        optimizer.step()
        step += 1

        losses.append(loss.item())
        run_s = time.perf_counter() - started
        progress.set_postfix(loss=f"{losses[-1]:.3f}", tok_s=f"{tokens_per_step * len(losses) / run_s:.0f}")
        progress.update(1)
        if checkpoint is not None and (step % settings.checkpoint_every == 0 or step == last_step or out_of_time()):
            save_checkpoint(checkpoint, model, optimizer, step, sampler, elapsed_before + run_s)
    progress.close()

    run_s = time.perf_counter() - started
    return {"steps": step, "losses": losses, "tokens_seen": step * tokens_per_step,
            "wall_s": elapsed_before + run_s, "epochs": sampler.state()["epoch"]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Train the embedded Llama-architecture model.")
    parser.add_argument("--corpus", type=Path, required=True, help="training JSONL written by corpus.py")
    parser.add_argument("--validation", type=Path, help="validation JSONL; its loss is reported at the end")
    parser.add_argument("--tokenizer", type=Path, required=True, help="folder with tokenizer.tiktoken and tokenizer_config.json")
    parser.add_argument("--out", type=Path, required=True, help="folder for config.json and model.safetensors")
    parser.add_argument("--checkpoint-dir", type=Path, help="folder for the resumable checkpoint")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint when it exists")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for PyTorch")
    parser.add_argument("--validation-windows", type=int, default=64, help="validation windows to evaluate at the end")
    for field in dataclasses.fields(ModelShape) + dataclasses.fields(TrainSettings):
        if field.name != "vocab_size":
            parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    encoding, tokenizer_config = load_encoding(args.tokenizer)
    end_of_text = tokenizer_config.special_tokens["<|endoftext|>"]
    eos_ids = [tokenizer_config.special_tokens[name] for name in tokenizer_config.eos_tokens]
    shape = ModelShape(vocab_size=encoding.n_vocab, **{f.name: getattr(args, f.name)
                       for f in dataclasses.fields(ModelShape) if f.name != "vocab_size"})
    settings = TrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainSettings)})
    if settings.seq_len > shape.max_position_embeddings:
        parser.error(f"--seq-len {settings.seq_len} exceeds --max-position-embeddings {shape.max_position_embeddings}")

    train_tokens = load_token_stream(args.corpus, encoding, end_of_text)
    print(f"training stream: {len(train_tokens)} tokens", file=sys.stderr)
    model = build_model(shape, eos_ids)
    parameter_count = sum(p.numel() for p in model.parameters())
    print(f"model: {parameter_count} parameters", file=sys.stderr)
    checkpoint = args.checkpoint_dir / "last.pt" if args.checkpoint_dir else None
    summary = train(model, train_tokens, settings, checkpoint, args.resume, device)

    args.out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)
    report = {"parameters": parameter_count, "train_stream_tokens": int(len(train_tokens)),
              "shape": dataclasses.asdict(shape), "settings": dataclasses.asdict(settings),
              "device": str(device), "threads": args.threads,
              **{k: v for k, v in summary.items() if k != "losses"},
              "final_train_loss_mean_last_10": float(np.mean(summary["losses"][-10:])) if summary["losses"] else None}
    if args.validation is not None:
        validation_tokens = load_token_stream(args.validation, encoding, end_of_text)
        loss, windows = evaluate_loss(model, validation_tokens, settings.seq_len, args.validation_windows, device)
        report.update(validation_loss=loss, validation_perplexity=math.exp(loss), validation_windows=windows)
        print(f"validation loss {loss:.4f} (perplexity {math.exp(loss):.2f}) over {windows} windows", file=sys.stderr)
    if args.checkpoint_dir is not None:
        (args.checkpoint_dir / "train_report.json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
