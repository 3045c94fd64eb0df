"""Acceptance of a draft tree from the target's logits: greedy and lossless sampling, top-k, logprobs.

Row 0 is the root (the last committed token) and row 1 + i is tree node i. Starting at the root,
each step takes the target's token for the current row (argmax, or a draw from the filtered target
distribution), emits it, and descends into the child carrying that token if there is one. The
emitted token that has no matching child is the bonus token. Drawing from the target at every row
and descending only on a match is exactly plain sampling, so the output distribution is unchanged.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

from edgespec_gpu.tree import children_by_token


@dataclass(frozen=True)
class SamplingParams:
    """Sampling settings of one verify step; temperature 0 is greedy."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


@dataclass
class Acceptance:
    tokens: list[int]  # accepted draft tokens, then the bonus token (none after an EOS)
    nodes: list[int]  # tree indices of the accepted draft tokens (a drafted final EOS included)
    rows: list[int]  # logits row that produced each emitted token
    eos: bool


def accept_tree(
    logits_of: Callable[[int], Tensor],  # row -> [vocab] float32 logits of that row
    tokens: list[int],
    parents: list[int],
    sampling: SamplingParams,
    first_position: int,  # absolute position of the first emitted token (= committed_len)
    eos_token_ids: frozenset[int],
    stream_seed: int,
) -> Acceptance:
    """Walk the tree from the root, emitting the target's token at each row (see module docstring).

    `logits_of` is called only for rows on the walked path, so a caller may compute the LM head lazily.
    """
    children = children_by_token(parents, tokens)
    result = Acceptance(tokens=[], nodes=[], rows=[], eos=False)
    row, node = 0, -1
    while True:
        position = first_position + len(result.tokens)
        token = next_token(logits_of(row), sampling, stream_seed, position)
        result.tokens.append(token)
        result.rows.append(row)
        child = children.get((node, token))
        if child is not None:
            result.nodes.append(child)  # a drafted EOS is an accepted node too
        if token in eos_token_ids:
            result.eos = True
            return result
        if child is None:
            return result
        row, node = child + 1, child


def next_token(logits: Tensor, sampling: SamplingParams, stream_seed: int, position: int) -> int:
    """Return the argmax (greedy) or an inverse-CDF draw from the random stream of (stream_seed, position)."""
    if sampling.greedy:
        return int(torch.argmax(logits))
    probs = filtered_probabilities(logits.cpu(), sampling)  # [vocab] float64, on CPU so draws match across devices
    generator = torch.Generator().manual_seed(position_seed(stream_seed, position))
    uniform = torch.rand((), generator=generator, dtype=torch.float64)
    cdf = probs.cumsum(0)
    index = int(torch.searchsorted(cdf, uniform * cdf[-1], right=True))
    return min(index, probs.shape[0] - 1)


def filtered_probabilities(logits: Tensor, sampling: SamplingParams) -> Tensor:
    """Apply temperature, then top-k, then top-p (nucleus) to `logits` [vocab]: probabilities [vocab] float64."""
    scaled = logits.double() / sampling.temperature
    if 0 < sampling.top_k < scaled.shape[0]:
        threshold = torch.topk(scaled, sampling.top_k).values[-1]
        scaled = scaled.masked_fill(scaled < threshold, -math.inf)
    probs = torch.softmax(scaled, dim=0)
    if sampling.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True, stable=True)
        mass_before = sorted_probs.cumsum(0) - sorted_probs  # probability of the tokens ranked above
        drop = order[mass_before >= sampling.top_p]
        probs = probs.clone()
        probs[drop] = 0.0
        probs = probs / probs.sum()
    return probs


def position_seed(stream_seed: int, position: int) -> int:
    """Derive the generator seed of absolute `position` from the request seed alone."""
    digest = hashlib.blake2b(f"{stream_seed}:{position}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def step_stream_seed(sampling: SamplingParams) -> int:
    """Return the request's seed, or a fresh random one for an unseeded request."""
    return sampling.seed if sampling.seed is not None else secrets.randbits(63)


def top_k_ids(logits: Tensor, k: int) -> list[list[int]]:
    """Return the `k` most likely ids of each row of `logits` [R, vocab], ties broken by lower id."""
    if k == 0:
        return [[] for _ in range(logits.shape[0])]
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices[:, :k]
    return order.tolist()


def token_logprobs(logits: Tensor, tokens: list[int]) -> list[float]:
    """Return log p(token) under the unmodified distribution of each row of `logits` [R, vocab]."""
    logprobs = torch.log_softmax(logits.double(), dim=-1)
    return [float(logprobs[row, token]) for row, token in enumerate(tokens)]
