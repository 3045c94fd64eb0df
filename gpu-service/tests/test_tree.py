"""Tree helpers are pure functions of `parents`; each is checked against a brute-force walk."""

import random

import pytest
import torch

from edgespec_gpu.tree import (
    RowPlan,
    TreeError,
    children_by_token,
    node_ancestors,
    node_depths,
    node_positions,
    tree_attention_mask,
    validate_tree,
)

EXAMPLE_PARENTS = [-1, 0, -1, 1]
EXAMPLE_TOKENS = [17, 42, 18, 99]


def random_parents(rng: random.Random, size: int) -> list[int]:
    return [rng.randint(-1, i - 1) for i in range(size)]


def walk_to_root(parents: list[int], node: int) -> list[int]:
    """Brute force: every node met walking up from `node`, `node` included."""
    seen = []
    while node != -1:
        seen.append(node)
        node = parents[node]
    return seen


def test_worked_example():
    assert node_depths(EXAMPLE_PARENTS) == [1, 2, 1, 3]
    assert node_positions(EXAMPLE_PARENTS, committed_len=3) == [3, 4, 3, 5]
    assert node_ancestors(EXAMPLE_PARENTS, 3) == [0, 1, 3]
    assert tree_attention_mask(EXAMPLE_PARENTS)[3].tolist() == [True, True, False, True]
    assert children_by_token(EXAMPLE_PARENTS, EXAMPLE_TOKENS)[(0, 42)] == 1


def test_row_layout_worked_example():
    layout = RowPlan(pending=1, parents=EXAMPLE_PARENTS).layout(kv_len=2)
    assert layout.positions.tolist() == [2, 3, 4, 3, 5]
    assert layout.ancestor_rows[4].tolist() == [0, 1, 2, 4]
    assert layout.ancestor_rows[3].tolist() == [0, 3, -1, -1]


@pytest.mark.parametrize("seed", range(20))
def test_helpers_match_brute_force(seed):
    rng = random.Random(seed)
    parents = random_parents(rng, rng.randint(1, 40))
    mask = tree_attention_mask(parents)
    for node in range(len(parents)):
        path = walk_to_root(parents, node)
        assert node_depths(parents)[node] == len(path)
        assert node_positions(parents, 10)[node] == 9 + len(path)
        assert node_ancestors(parents, node) == path[::-1]
        assert set(torch.nonzero(mask[node]).flatten().tolist()) == set(path)


@pytest.mark.parametrize("seed", range(10))
def test_row_layout_matches_brute_force(seed):
    rng = random.Random(seed)
    parents = random_parents(rng, rng.randint(0, 30))
    pending = rng.randint(1, 4)
    layout = RowPlan(pending=pending, parents=parents).layout(kv_len=7)
    for row in range(pending):
        assert layout.positions[row] == 7 + row
        assert layout.ancestor_rows[row, : row + 1].tolist() == list(range(row + 1))
    for node in range(len(parents)):
        chain = list(range(pending)) + [pending + i for i in node_ancestors(parents, node)]
        row = pending + node
        assert layout.positions[row] == 7 + len(chain) - 1
        assert layout.ancestor_rows[row, : len(chain)].tolist() == chain
        assert (layout.ancestor_rows[row, len(chain) :] == -1).all()


@pytest.mark.parametrize(
    ("tokens", "parents", "code"),
    [
        ([1, 2], [-1, 1], "invalid_tree"),
        ([1, 2], [-1, -2], "invalid_tree"),
        ([1, 1], [-1, -1], "invalid_tree"),
        ([1], [-1, 0], "invalid_tree"),
        ([300], [-1], "token_out_of_range"),
        ([-1], [-1], "token_out_of_range"),
        (list(range(9)), [-1] * 9, "tree_too_large"),
        ([1, 2, 3, 4], [-1, 0, 1, 2], "tree_too_deep"),
    ],
)
def test_validate_tree_rejects(tokens, parents, code):
    with pytest.raises(TreeError) as raised:
        validate_tree(tokens, parents, vocab_size=256, max_nodes=8, max_depth=3)
    assert raised.value.code == code


def test_validate_tree_accepts_example():
    validate_tree(EXAMPLE_TOKENS, EXAMPLE_PARENTS, vocab_size=256, max_nodes=8, max_depth=3)
