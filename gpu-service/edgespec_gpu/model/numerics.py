"""Numerics modes of the forward pass and the row-blocked linear layer of the batch-invariant mode.

On CPU, oneDNN/MKL pick different GEMM kernels by row count. Measured with torch 2.15 on a 2-core
x86 CPU, `F.linear` rows differ bitwise from the same rows of a 600-row call when the call has
1-3 rows (1 thread), or 1-11 rows other than 4 and 8 (2 threads). A 1-token decode step and a k-node
verify step then round differently and near-tied argmaxes flip. The batch-invariant mode calls
every GEMM with one fixed shape, so a row's result depends only on that row.
"""

from __future__ import annotations

import enum
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

ROW_BLOCK = 16  # rows per GEMM call in batch-invariant mode


class NumericsMode(enum.Enum):
    """Trade-off of the forward between speed and bitwise reproducibility across row counts."""

    BATCH_INVARIANT = "batch_invariant"  # fixed GEMM shapes, blocked attention: exact speculative greedy
    FAST = "fast"  # one GEMM per layer and a masked dense attention: results may vary with row count


LinearFn = Callable[[Tensor, nn.Linear], Tensor]


def fast_linear(x: Tensor, layer: nn.Linear) -> Tensor:
    return F.linear(x, layer.weight, layer.bias)


def pad_rows(x: Tensor, multiple: int) -> Tensor:
    """Append zero rows to `x` [M, ...] so that M is a multiple of `multiple` (at least one block)."""
    rows = x.shape[0]
    padded = max(multiple, -(-rows // multiple) * multiple)
    if padded == rows:
        return x
    return torch.cat([x, x.new_zeros((padded - rows, *x.shape[1:]))], dim=0)


def batch_invariant_linear(x: Tensor, layer: nn.Linear) -> Tensor:
    """Apply `layer` to `x` [M, in] in blocks of exactly ROW_BLOCK rows: [M, out]."""
    rows = x.shape[0]
    padded = pad_rows(x, ROW_BLOCK)
    blocks = [F.linear(block, layer.weight, layer.bias) for block in padded.split(ROW_BLOCK)]
    return torch.cat(blocks, dim=0)[:rows]


def linear_for(mode: NumericsMode) -> LinearFn:
    return batch_invariant_linear if mode is NumericsMode.BATCH_INVARIANT else fast_linear
