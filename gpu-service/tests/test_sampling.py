"""Speculative sampling reproduces plain sampling: same tokens for a seed, same distribution overall."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from edgespec_gpu.reference import full_logits
from edgespec_gpu.sessions import VerifyRequest
from edgespec_gpu.tree import RowPlan
from edgespec_gpu.verify import SamplingParams, accept_tree, filtered_probabilities, next_token
from service_helpers import make_manager, make_tiny_model
from test_exactness import generate

SAMPLING = SamplingParams(temperature=1.5, top_p=0.9, top_k=50, seed=1234)


def test_seeded_speculative_equals_seeded_plain(tiny_model):
    manager = make_manager(tiny_model)
    prompt = list(range(30, 70))

    def run(tree_of):
        session, _ = manager.create(prompt, None)
        out: list[int] = []
        while len(out) < 40:
            tokens, parents = tree_of(out)
            request = VerifyRequest(
                base_len=len(prompt) + len(out), tree_tokens=tokens, tree_parents=parents, sampling=SAMPLING
            )
            out += manager.verify(session.session_id, request).accepted_tokens
        return out[:40]

    def oracle_tree(out: list[int]) -> tuple[list[int], list[int]]:
        """The next 3 plain tokens as a chain, plus a wrong sibling of the first."""
        chain = plain[len(out) : len(out) + 3]
        return chain + [(chain[0] + 1) % 256], [-1, 0, 1][: len(chain)] + [-1]

    plain = run(lambda out: ([], []))
    assert run(lambda out: ([], [])) == plain
    assert run(oracle_tree) == plain


def test_different_seeds_give_different_samples(tiny_model):
    manager = make_manager(tiny_model)
    outputs = set()
    for seed in range(4):
        sampling = SamplingParams(temperature=1.5, seed=seed)
        session, _ = manager.create([5, 6, 7], None)
        result = manager.verify(session.session_id, VerifyRequest(base_len=3, sampling=sampling))
        outputs.add(tuple(result.accepted_tokens))
    assert len(outputs) > 1


def chi_square_threshold(degrees: int, z: float = 3.09) -> float:
    """Return the chi-square quantile at 1 - 0.001 (z = 3.09), by the Wilson-Hilferty approximation."""
    k = degrees
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def test_speculative_sampling_matches_target_distribution():
    vocab = 8
    model = make_tiny_model(seed=3, near_ties=False, vocab_size=vocab)
    sampling = SamplingParams(temperature=2.0)
    prompt = [1, 2, 3]
    # Tree: root children 0, 1, 2, 3; node 0 has children 0, 1; node 1 has child 5.
    tree_tokens = [0, 1, 2, 3, 0, 1, 5]
    tree_parents = [-1, -1, -1, -1, 0, 0, 1]
    rows = torch.tensor([prompt[-1], *tree_tokens])
    plan = RowPlan(pending=len(prompt), parents=tree_parents)
    sequence = torch.tensor([*prompt[:-1], *rows.tolist()])
    layout = plan.layout(kv_len=0)
    logits = model(sequence, layout).logits[len(prompt) - 1 :]  # [1 + T, vocab]: root row, then nodes

    first = filtered_probabilities(logits[0], sampling)
    second_logits = {t: full_logits(model, torch.tensor(prompt + [t]))[-1] for t in range(vocab)}
    second = {t: filtered_probabilities(second_logits[t], sampling) for t in range(vocab)}
    expected = {(a, b): float(first[a] * second[a][b]) for a in range(vocab) for b in range(vocab)}

    samples = 8000
    counts: Counter = Counter()
    for seed in range(samples):
        acceptance = accept_tree(lambda row: logits[row], tree_tokens, tree_parents, sampling, len(prompt), frozenset(), seed)
        pair = acceptance.tokens[:2]
        if len(pair) < 2:  # the step ended at the first token: the next step draws at the next position
            pair.append(next_token(second_logits[pair[0]], sampling, seed, len(prompt) + 1))
        counts[tuple(pair)] += 1

    def statistic(observed: Counter) -> float:
        return sum((observed[cell] - samples * p) ** 2 / (samples * p) for cell, p in expected.items() if p > 0)

    cells = sum(1 for p in expected.values() if p > 0)
    threshold = chi_square_threshold(cells - 1)
    assert statistic(counts) < threshold
    # The test can fail: always taking the first root child shifts the distribution far past the threshold.
    biased = Counter({(0, b): round(samples * float(second[0][b])) for b in range(vocab)})
    assert statistic(biased) > threshold
