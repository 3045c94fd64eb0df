"""Numerics modes of the forward pass and the row-blocked linear layer of the batch-invariant mode.

On CPU, oneDNN/MKL pick different GEMM kernels by row count. Measured with torch 2.15 on a 2-core
x86 CPU, `F.linear` rows differ bitwise from the same rows of a 600-row call when the call has
1-3 rows (1 thread), or 1-11 rows other than 4 and 8 (2 threads). A 1-token decode step and a k-node
verify step then round differently and near-tied argmaxes flip. The batch-invariant mode calls
GEMM only with row counts that give every row the same result (see `batch_invariant_linear`), so
a row's result depends only on that row.
"""

from __future__ import annotations

import enum
import logging
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

logger = logging.getLogger(__name__)

ROW_BLOCK = 16  # row granularity of every GEMM call in batch-invariant mode


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
    """Apply `layer` to `x` [M, in] so that each output row depends only on its input row: [M, out].

    Rows are zero-padded to a multiple of ROW_BLOCK. A one-time self-check per weight shape compares
    calls of every padded size up to MAX_WIDE_ROWS with ROW_BLOCK-row calls. When they all match, one
    call covers up to MAX_WIDE_ROWS rows. Otherwise every call has exactly ROW_BLOCK rows.
    """
    rows = x.shape[0]
    padded = pad_rows(x, ROW_BLOCK)
    chunk = MAX_WIDE_ROWS if _wide_calls_are_invariant(layer) else ROW_BLOCK
    outputs = [F.linear(part, layer.weight, layer.bias) for part in padded.split(chunk)]
    return torch.cat(outputs, dim=0)[:rows]


MAX_WIDE_ROWS = 256
_WIDE_CALL_SIZES = range(ROW_BLOCK, MAX_WIDE_ROWS + 1, ROW_BLOCK)
_wide_call_checks: dict[tuple, bool] = {}


def _wide_calls_are_invariant(layer: nn.Linear) -> bool:
    """Check once per weight shape, dtype, device and thread count whether wide calls match 16-row calls."""
    weight = layer.weight
    key = (tuple(weight.shape), weight.dtype, weight.device, layer.bias is not None, torch.get_num_threads())
    if key not in _wide_call_checks:
        generator = torch.Generator(device="cpu").manual_seed(0)
        probe = torch.randn((MAX_WIDE_ROWS, weight.shape[1]), generator=generator).to(weight)
        blocks = torch.cat([F.linear(part, weight, layer.bias) for part in probe.split(ROW_BLOCK)])
        invariant = all(
            torch.equal(F.linear(probe[:size], weight, layer.bias), blocks[:size]) for size in _WIDE_CALL_SIZES
        )
        if not invariant:
            logger.warning("GEMM rows of shape %s vary with the row count: using %d-row calls", key[0], ROW_BLOCK)
        _wide_call_checks[key] = invariant
    return _wide_call_checks[key]


def linear_for(mode: NumericsMode) -> LinearFn:
    return batch_invariant_linear if mode is NumericsMode.BATCH_INVARIANT else fast_linear


KEY_BLOCK = 64  # columns of the fixed-shape attention GEMMs
_MATMUL_CHECK_LIMIT = 4096
_wide_matmul_checks: dict[tuple, bool] = {}


def blocked_matmul(a: Tensor, b: Tensor) -> Tensor:
    """Batched matmul [B, R, K] x [B, K, N] -> [B, R, N] whose entries equal [16, K] x [K, <=64] calls.

    R must be a multiple of ROW_BLOCK. One wide call is used when a self-check for this exact shape,
    dtype, device and thread count has shown that it matches the blocked calls bitwise.
    """
    rows = a.shape[1]
    assert rows % ROW_BLOCK == 0, f"row count {rows} is not a multiple of {ROW_BLOCK}"
    a, b = a.contiguous(), b.contiguous()  # the self-check probes contiguous operands
    if _wide_matmul_is_invariant(a, b):
        return torch.matmul(a, b)
    return _matmul_in_blocks(a, b)


def _matmul_in_blocks(a: Tensor, b: Tensor) -> Tensor:
    row_parts = []
    for rows in a.split(ROW_BLOCK, dim=1):
        row_parts.append(torch.cat([torch.matmul(rows, columns) for columns in b.split(KEY_BLOCK, dim=2)], dim=2))
    return torch.cat(row_parts, dim=1)


def _wide_matmul_is_invariant(a: Tensor, b: Tensor) -> bool:
    key = (tuple(a.shape), tuple(b.shape), a.dtype, a.device, torch.get_num_threads())
    if key not in _wide_matmul_checks:
        if len(_wide_matmul_checks) >= _MATMUL_CHECK_LIMIT:
            _wide_matmul_checks.clear()
        generator = torch.Generator(device="cpu").manual_seed(0)
        probe_a = torch.randn(a.shape, generator=generator).to(a)
        probe_b = torch.randn(b.shape, generator=generator).to(b)
        invariant = torch.equal(torch.matmul(probe_a, probe_b), _matmul_in_blocks(probe_a, probe_b))
        if not invariant:
            logger.warning("batched matmul %s x %s varies with its shape: using blocked calls", key[0], key[1])
        _wide_matmul_checks[key] = invariant
    return _wide_matmul_checks[key]
