"""Draft-tree helpers: pure functions of `parents` (flat form, `parents[i] < i`, -1 = root child).

Worked example, used by every docstring below: the committed sequence has 3 tokens, c[0..3), and
the tree is

    tokens  = [17, 42, 18, 99]
    parents = [-1,  0, -1,  1]       root (= c[2], the last committed token)
                                     ├── node 0 (17) ── node 1 (42) ── node 3 (99)
                                     └── node 2 (18)

Depth counts edges from the root, so root children have depth 1: depths = [1, 2, 1, 3]. The root
sits at position committed_len - 1 = 2, so node i sits at position committed_len - 1 + depth(i):
positions = [3, 4, 3, 5].
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edgespec_gpu.model.attention import RowLayout


class TreeError(ValueError):
    """Invalid draft tree; `code` is the wire error code (invalid_tree, tree_too_large, ...)."""

    def __init__(self, code: str, message: str, param: str = "tree") -> None:
        super().__init__(message)
        self.code = code
        self.param = param


def validate_tree(
    tokens: list[int], parents: list[int], vocab_size: int, max_nodes: int, max_depth: int
) -> None:
    """Raise TreeError unless the tree is well formed and within the limits.

    Example: parents [-1, 0, -1, 1] is valid; [-1, 2] is not (parents[1] = 2 must be < 1), nor are
    tokens [5, 5] with parents [-1, -1] (duplicate siblings).
    """
    if len(tokens) != len(parents):
        raise TreeError("invalid_tree", f"tree.tokens has {len(tokens)} entries but tree.parents has {len(parents)}")
    if len(tokens) > max_nodes:
        raise TreeError("tree_too_large", f"tree has {len(tokens)} nodes, more than the limit {max_nodes}")
    for i, parent in enumerate(parents):
        if not -1 <= parent < i:
            raise TreeError("invalid_tree", f"tree.parents[{i}] = {parent} must be in [-1, {i})", "tree.parents")
    for i, token in enumerate(tokens):
        if not 0 <= token < vocab_size:
            raise TreeError(
                "token_out_of_range", f"tree.tokens[{i}] = {token} is outside [0, {vocab_size})", "tree.tokens"
            )
    seen: set[tuple[int, int]] = set()
    for i, (parent, token) in enumerate(zip(parents, tokens)):
        if (parent, token) in seen:
            raise TreeError(
                "invalid_tree", f"tree.tokens[{i}] = {token} repeats a sibling under parent {parent}", "tree.tokens"
            )
        seen.add((parent, token))
    deepest = max(node_depths(parents), default=0)
    if deepest > max_depth:
        raise TreeError("tree_too_deep", f"tree depth {deepest} exceeds the limit {max_depth}")


def node_depths(parents: list[int]) -> list[int]:
    """Return the depth of each node, root children = 1. Example: [-1, 0, -1, 1] -> [1, 2, 1, 3]."""
    depths: list[int] = []
    for parent in parents:
        depths.append(1 if parent == -1 else depths[parent] + 1)
    return depths


def node_positions(parents: list[int], committed_len: int) -> list[int]:
    """Return each node's absolute position. Example: committed_len 3 -> [3, 4, 3, 5]."""
    return [committed_len - 1 + depth for depth in node_depths(parents)]


def node_ancestors(parents: list[int], node: int) -> list[int]:
    """Return the path from the root's child down to `node`, inclusive. Example: node 3 -> [0, 1, 3]."""
    path = [node]
    while parents[path[-1]] != -1:
        path.append(parents[path[-1]])
    return path[::-1]


def tree_attention_mask(parents: list[int]) -> torch.Tensor:
    """Return [T, T] bool: node i attends to node j (j is i or an ancestor of i).

    Built row by row as parent row + self. Example rows: node 1 -> [1, 1, 0, 0], node 3 -> [1, 1, 0, 1].
    """
    size = len(parents)
    mask = torch.zeros((size, size), dtype=torch.bool)
    for i, parent in enumerate(parents):
        if parent != -1:
            mask[i] = mask[parent]
        mask[i, i] = True
    return mask


def children_by_token(parents: list[int], tokens: list[int]) -> dict[tuple[int, int], int]:
    """Return {(parent, token): node}. Example: (-1, 18) -> 2, (0, 42) -> 1."""
    return {(parent, token): i for i, (parent, token) in enumerate(zip(parents, tokens))}


@dataclass(frozen=True)
class RowPlan:
    """Rows of one forward: `pending` committed tokens not in KV (a chain), then the tree nodes."""

    pending: int
    parents: list[int]  # tree parents, flat form

    @property
    def rows(self) -> int:
        return self.pending + len(self.parents)

    def row_parents(self) -> list[int]:
        """Return the parent row of each row, -1 for the first. Example (pending 1): [-1, 0, 1, 0, 2]."""
        chain = [row - 1 for row in range(self.pending)]
        root_row = self.pending - 1
        tree = [root_row if parent == -1 else self.pending + parent for parent in self.parents]
        return chain + tree

    def layout(self, kv_len: int, device: torch.device | str = "cpu") -> RowLayout:
        """Return positions `kv_len + row depth` and the ancestor table of the rows.

        Example (kv_len 2, pending 1): row depths [0, 1, 2, 1, 3], positions [2, 3, 4, 3, 5], and
        row 4 (node 3) has ancestor rows [0, 1, 2, 4] at depths 0..3.
        """
        row_parents = self.row_parents()
        depths: list[int] = []
        for parent in row_parents:
            depths.append(0 if parent == -1 else depths[parent] + 1)
        width = max(depths, default=-1) + 1
        ancestors = torch.full((len(row_parents), width), -1, dtype=torch.int64)
        for row, parent in enumerate(row_parents):
            if parent != -1:
                ancestors[row] = ancestors[parent]
            ancestors[row, depths[row]] = row
        positions = torch.tensor(depths, dtype=torch.int64) + kv_len
        return RowLayout(kv_len=kv_len, positions=positions.to(device), ancestor_rows=ancestors.to(device))
