"""Speculative greedy equals plain greedy token for token (fp32, CPU, batch-invariant numerics).

The tiny random model has close logits, so near-tied argmaxes are common: any row whose rounding
depended on the tree shape would flip a token within 64 steps.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch

from edgespec_gpu.model.numerics import NumericsMode
from edgespec_gpu.sessions import SessionManager, VerifyRequest
from service_helpers import make_manager

NEW_TOKENS = 64
VOCAB = 256
DATA_FOLDER = Path(os.environ.get("EDGESPEC_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
TEMPLATE_FILE = DATA_FOLDER / "specbench_samd_token_recycle_tree.json"


def generate(manager: SessionManager, prompt: list[int], propose, count: int = NEW_TOKENS) -> tuple[list[int], int]:
    """Run verify steps with trees from `propose(generated)` until `count` tokens; return them and the step count."""
    session, _ = manager.create(prompt, None)
    generated: list[int] = []
    steps = 0
    while len(generated) < count:
        tokens, parents = propose(generated)
        result = manager.verify(
            session.session_id,
            VerifyRequest(base_len=len(prompt) + len(generated), tree_tokens=tokens, tree_parents=parents),
        )
        generated += result.accepted_tokens
        steps += 1
    manager.delete(session.session_id)
    return generated[:count], steps


def plain_greedy(manager: SessionManager, prompt: list[int]) -> list[int]:
    return generate(manager, prompt, lambda generated: ([], []))[0]


def wrong_token(token: int, offset: int = 1) -> int:
    return (token + offset) % VOCAB


# ---- tree families: each returns (tokens, parents) for the next step, given the truth ------------


def chain_tree(truth: list[int], rng: random.Random, depth: int) -> tuple[list[int], list[int]]:
    tokens = list(truth[:depth])
    if tokens and rng.random() < 0.5:
        cut = rng.randrange(len(tokens))
        tokens[cut] = wrong_token(tokens[cut])
    return tokens, list(range(-1, len(tokens) - 1))


def wide_tree(truth: list[int], rng: random.Random, width: int) -> tuple[list[int], list[int]]:
    tokens = rng.sample(range(VOCAB), width)
    if truth and truth[0] not in tokens and rng.random() < 0.7:
        tokens[rng.randrange(width)] = truth[0]
    return tokens, [-1] * width


def random_tree_with_truth(truth: list[int], rng: random.Random, size: int) -> tuple[list[int], list[int]]:
    """A random tree that contains the true continuation down to a random depth."""
    tokens: list[int] = []
    parents: list[int] = []
    used: set[tuple[int, int]] = set()
    parent = -1
    for token in truth[: rng.randint(0, min(len(truth), 10))]:
        parents.append(parent)
        tokens.append(token)
        used.add((parent, token))
        parent = len(tokens) - 1
    while len(tokens) < size:
        parent = rng.randint(-1, len(tokens) - 1)
        token = rng.randrange(VOCAB)
        if (parent, token) not in used:
            used.add((parent, token))
            parents.append(parent)
            tokens.append(token)
    return tokens, parents


def tree_without_truth(truth: list[int], rng: random.Random, size: int) -> tuple[list[int], list[int]]:
    tokens, parents = random_tree_with_truth([], rng, size)
    tokens = [wrong_token(truth[0]) if parent == -1 and token == truth[0] else token for token, parent in zip(tokens, parents)]
    return _dedupe(tokens, parents)  # replacing a token can duplicate a sibling


def _dedupe(tokens: list[int], parents: list[int]) -> tuple[list[int], list[int]]:
    """Drop nodes that repeat a sibling, and their subtrees, keeping `parents[i] < i`."""
    kept: dict[int, int] = {}
    seen: set[tuple[int, int]] = set()
    out_tokens: list[int] = []
    out_parents: list[int] = []
    for node, (token, parent) in enumerate(zip(tokens, parents)):
        if parent != -1 and parent not in kept:
            continue
        new_parent = -1 if parent == -1 else kept[parent]
        if (new_parent, token) in seen:
            continue
        seen.add((new_parent, token))
        kept[node] = len(out_tokens)
        out_tokens.append(token)
        out_parents.append(new_parent)
    return out_tokens, out_parents


def template_tree(adjacency: dict[str, list[int]], truth: list[int]) -> tuple[list[int], list[int]]:
    """Fill the template: on the true path child 0 carries the true token, other children wrong guesses."""
    parent_of = {child: int(parent) for parent, children in adjacency.items() for child in children}
    order = sorted(parent_of)  # template node ids; 0 is the root
    index = {node: i for i, node in enumerate(order)}
    tokens, parents = [], []
    on_truth = {0: True}
    depth = {0: 0}
    for node in order:
        parent = parent_of[node]
        rank = adjacency[str(parent)].index(node)
        depth[node] = depth[parent] + 1
        true_token = truth[depth[node] - 1] if depth[node] - 1 < len(truth) else 0
        on_truth[node] = on_truth[parent] and rank == 0
        tokens.append(true_token if on_truth[node] else wrong_token(true_token, rank + 1))
        parents.append(-1 if parent == 0 else index[parent])
    return tokens, parents


# ---- tests -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manager(tiny_model):
    tiny_model.mode = NumericsMode.BATCH_INVARIANT
    return make_manager(tiny_model)


@pytest.mark.parametrize("prompt_index", range(24))
def test_speculative_greedy_equals_plain(manager, prompt_index):
    rng = random.Random(prompt_index)
    prompt = [rng.randrange(VOCAB) for _ in range(rng.choice([1, 5, 40, 63, 64, 65, 130, 200]))]
    truth = plain_greedy(manager, prompt)
    families = [
        lambda t: chain_tree(t, rng, rng.randint(1, 12)),
        lambda t: wide_tree(t, rng, rng.choice([4, 16, 48])),
        lambda t: random_tree_with_truth(t, rng, rng.randint(1, 40)),
        lambda t: tree_without_truth(t, rng, rng.randint(1, 20)),
    ]

    def propose(generated: list[int]) -> tuple[list[int], list[int]]:
        continuation = truth[len(generated) :]
        return families[len(generated) % len(families)](continuation)

    speculative, steps = generate(manager, prompt, propose)
    assert speculative == truth
    assert steps < NEW_TOKENS  # some drafts were accepted, so trees were really exercised


@pytest.mark.skipif(not TEMPLATE_FILE.exists(), reason=f"tree template not found at {TEMPLATE_FILE}")
@pytest.mark.parametrize("prompt_index", range(4))
def test_template_tree_equals_plain(manager, prompt_index):
    adjacency = json.loads(TEMPLATE_FILE.read_text())["tree_adj"]
    rng = random.Random(100 + prompt_index)
    prompt = [rng.randrange(VOCAB) for _ in range(rng.randint(2, 120))]
    truth = plain_greedy(manager, prompt)
    tokens_per_step: list[int] = []

    def propose(generated: list[int]) -> tuple[list[int], list[int]]:
        tokens, parents = template_tree(adjacency, truth[len(generated) :])
        tokens_per_step.append(len(tokens))
        return tokens, parents

    speculative, steps = generate(manager, prompt, propose)
    assert tokens_per_step[0] == 60
    assert speculative == truth
    assert steps < NEW_TOKENS // 2


def test_plain_steps_match_dense_reference(manager, tiny_model):
    from edgespec_gpu.reference import full_logits

    prompt = list(range(10, 80))
    generated = plain_greedy(manager, prompt)[:16]
    sequence = torch.tensor(prompt + generated)
    logits = full_logits(tiny_model, sequence)
    expected = logits[len(prompt) - 1 : -1].argmax(-1).tolist()
    assert generated == expected
