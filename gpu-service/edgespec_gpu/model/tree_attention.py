"""Attention of a forward's rows over the committed context plus their own tree ancestors.

Row layout: the forward's M rows form a forest over the committed context. Row i sits at position
`kv_len + depth(i)` and attends to committed positions [0, kv_len) and to `ancestor_rows[i, d]`,
its ancestor-or-self at depth d, for d <= depth(i). Two kernels compute the same maths:

- `dense_tree_attention`: one masked SDPA call over [context | rows]. Fast; the rounding of a row
  depends on how many keys and rows share the call.
- `blocked_tree_attention`: batch-invariant. Every query lays its keys out by absolute position in
  blocks of 64. Each score and each block's weighted value sum equals the result of a fixed-shape
  GEMM, [16, D] x [D, 64] or [16, 64] x [64, D] (see `blocked_matmul`), and the block sums are
  then added left to right. Masked slots
  contribute exact zeros and trailing blocks are all zero, so a row's output depends only on its
  query and its own keys, not on the other rows, `kv_len`, or the tree shape.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from edgespec_gpu.model.numerics import KEY_BLOCK, ROW_BLOCK, blocked_matmul, pad_rows


def dense_tree_attention(
    q: Tensor,  # [M, Hq, D] rotated queries
    context_k: Tensor,  # [Hkv, L, D] keys of the context (all attended)
    context_v: Tensor,  # [Hkv, L, D]
    new_k: Tensor,  # [M, Hkv, D] keys of the rows
    new_v: Tensor,  # [M, Hkv, D]
    ancestor_rows: Tensor,  # [M, A] int64, -1 past the row's depth
    scale: float,
) -> Tensor:  # [M, Hq, D]
    rows = q.shape[0]
    context_len = context_k.shape[1]
    keys = torch.cat([context_k, new_k.transpose(0, 1)], dim=1)  # [Hkv, L + M, D]
    values = torch.cat([context_v, new_v.transpose(0, 1)], dim=1)
    row_mask = row_attention_mask(ancestor_rows, rows)  # [M, M]
    mask = torch.cat([row_mask.new_ones((rows, context_len)), row_mask], dim=1)  # [M, L + M]
    out = F.scaled_dot_product_attention(
        q.transpose(0, 1)[None], keys[None], values[None], attn_mask=mask, scale=scale, enable_gqa=True
    )  # [1, Hq, M, D]
    return out[0].transpose(0, 1)


def row_attention_mask(ancestor_rows: Tensor, rows: int) -> Tensor:
    """Return [M, M] bool: row i may attend to row j (j is an ancestor of i, or i itself)."""
    mask = torch.zeros((rows, rows + 1), dtype=torch.bool, device=ancestor_rows.device)
    targets = torch.where(ancestor_rows >= 0, ancestor_rows, rows)  # -1 goes to a spare column
    mask.scatter_(1, targets, True)
    return mask[:, :rows]


def blocked_tree_attention(
    q: Tensor,  # [M, Hq, D]
    context_k: Tensor,  # [Hkv, L0, D] committed keys in position order
    context_v: Tensor,  # [Hkv, L0, D]
    new_k: Tensor,  # [M, Hkv, D]
    new_v: Tensor,  # [M, Hkv, D]
    ancestor_rows: Tensor,  # [M, A] int64
    scale: float,
) -> Tensor:  # [M, Hq, D]
    rows, num_heads, head_dim = q.shape
    num_kv_heads, kv_len, _ = context_k.shape
    group = num_heads // num_kv_heads
    span = kv_len + ancestor_rows.shape[1]  # positions [0, span) may be attended
    num_blocks = -(-span // KEY_BLOCK)
    shared_blocks = kv_len // KEY_BLOCK  # blocks made only of committed keys, equal for every row
    tail_start = shared_blocks * KEY_BLOCK
    tail_len = num_blocks * KEY_BLOCK - tail_start

    tail_index, tail_valid = _tail_key_index(ancestor_rows, kv_len, tail_start, tail_len)  # [M, Lt]
    tail_k = _gather_tail(context_k, new_k, tail_start, tail_index)  # [Hkv, M, Lt, D]
    tail_v = _gather_tail(context_v, new_v, tail_start, tail_index)
    queries = q.view(rows, num_kv_heads, group, head_dim).permute(1, 0, 2, 3)  # [Hkv, M, G, D]

    # Scores in absolute position order: [Hkv, M, G, shared + tail positions].
    shared_scores = _shared_block_products(
        queries, context_k[:, :tail_start].transpose(1, 2), shared_blocks, transpose_keys=True
    )  # [Hkv, M, G, nb_s, 64]
    tail_scores = _tail_block_products(queries, tail_k.transpose(-1, -2), transpose_keys=True)  # [Hkv, M, G, nbt, 64]
    scores = torch.cat([shared_scores, tail_scores], dim=3).mul_(scale)  # [Hkv, M, G, nb, 64]
    # Only tail slots can be masked; the in-place ops round each element as out-of-place ones would.
    scores[:, :, :, shared_blocks:].masked_fill_(_tail_mask(tail_valid), float("-inf"))

    # Softmax numerator and denominator summed per block, then blocks added left to right.
    weights = scores.sub_(scores.amax(dim=(3, 4), keepdim=True)).exp_()  # [Hkv, M, G, nb, 64]
    denominator = weights.sum(-1).cumsum(-1)[..., -1]  # [Hkv, M, G]
    shared_sums = _shared_block_products(
        weights[:, :, :, :shared_blocks], context_v[:, :tail_start], shared_blocks, transpose_keys=False
    )  # [Hkv, M, G, nb_s, D]
    tail_sums = _tail_block_products(weights[:, :, :, shared_blocks:], tail_v, transpose_keys=False)
    numerator = torch.cat([shared_sums, tail_sums], dim=3).cumsum(3)[:, :, :, -1]  # [Hkv, M, G, D]
    out = numerator / denominator[..., None]
    return out.permute(1, 0, 2, 3).reshape(rows, num_heads, head_dim)


def _tail_key_index(ancestor_rows: Tensor, kv_len: int, tail_start: int, tail_len: int) -> tuple[Tensor, Tensor]:
    """Map each row's tail slots (positions tail_start + s) to a source index and a validity flag.

    Source layout: committed keys [tail_start, kv_len), then the M rows, then one zero key.
    """
    rows, depth_span = ancestor_rows.shape
    context_tail = kv_len - tail_start
    zero_index = context_tail + rows
    context_part = torch.arange(context_tail, device=ancestor_rows.device).expand(rows, context_tail)
    row_part = torch.where(ancestor_rows >= 0, ancestor_rows + context_tail, zero_index)  # [M, A]
    filler = torch.full((rows, tail_len - context_tail - depth_span), zero_index, device=ancestor_rows.device)
    index = torch.cat([context_part, row_part, filler], dim=1)  # [M, Lt]
    return index, index != zero_index


def _gather_tail(context: Tensor, new: Tensor, tail_start: int, index: Tensor) -> Tensor:
    num_kv_heads, _, head_dim = context.shape
    source = torch.cat(
        [context[:, tail_start:], new.transpose(0, 1), context.new_zeros((num_kv_heads, 1, head_dim))], dim=1
    )  # [Hkv, S, D]
    return source[:, index]  # [Hkv, M, Lt, D]


def _tail_mask(tail_valid: Tensor) -> Tensor:
    """Return [1, M, 1, nbt, 64] bool, True where the tail slot is masked."""
    rows, tail_len = tail_valid.shape
    return ~tail_valid.view(rows, tail_len // KEY_BLOCK, KEY_BLOCK)[None, :, None]


def _shared_block_products(left: Tensor, right: Tensor, shared_blocks: int, transpose_keys: bool) -> Tensor:
    """Multiply every row of `left` with every committed block through `blocked_matmul`.

    Scores: left [Hkv, M, G, D], right [Hkv, D, nb_s * 64] -> [Hkv, M, G, nb_s, 64].
    Sums: left [Hkv, M, G, nb_s, 64], right [Hkv, nb_s * 64, D] -> [Hkv, M, G, nb_s, D].
    """
    num_kv_heads, rows, group = left.shape[:3]
    width = KEY_BLOCK if transpose_keys else right.shape[-1]
    if shared_blocks == 0:
        return left.new_zeros((num_kv_heads, rows, group, 0, width))
    if transpose_keys:
        operand = left.reshape(num_kv_heads, rows * group, left.shape[-1])  # [Hkv, R, D]
        operand = pad_rows(operand.transpose(0, 1), ROW_BLOCK).transpose(0, 1)  # [Hkv, Rp, D]
        products = blocked_matmul(operand, right)  # [Hkv, Rp, nb_s * 64]
        products = products.view(num_kv_heads, -1, shared_blocks, KEY_BLOCK)
    else:
        # One copy straight into the block-major, row-padded layout: [Hkv, nb_s, Rp, 64].
        padded_rows = max(ROW_BLOCK, -(-rows * group // ROW_BLOCK) * ROW_BLOCK)  # the row count `pad_rows` gives
        operand = left.new_empty((num_kv_heads, shared_blocks, padded_rows, KEY_BLOCK))
        operand[:, :, : rows * group].view(num_kv_heads, shared_blocks, rows, group, KEY_BLOCK).copy_(
            left.permute(0, 3, 1, 2, 4)
        )
        operand[:, :, rows * group :].zero_()
        operand = operand.view(num_kv_heads * shared_blocks, padded_rows, KEY_BLOCK)
        blocks = right.reshape(num_kv_heads * shared_blocks, KEY_BLOCK, width)  # [Hkv * nb_s, 64, D]
        products = blocked_matmul(operand, blocks)  # [Hkv * nb_s, Rp, D]
        products = products.view(num_kv_heads, shared_blocks, padded_rows, width).transpose(1, 2)
    return products[:, : rows * group].reshape(num_kv_heads, rows, group, shared_blocks, width)


def _tail_block_products(left: Tensor, right: Tensor, transpose_keys: bool) -> Tensor:
    """Multiply each row's G query heads (padded to 16) with that row's own tail blocks.

    Scores: left [Hkv, M, G, D], right [Hkv, M, D, Lt] -> [Hkv, M, G, nbt, 64].
    Sums: left [Hkv, M, G, nbt, 64], right [Hkv, M, Lt, D] -> [Hkv, M, G, nbt, D].
    """
    num_kv_heads, rows, group = left.shape[:3]
    if transpose_keys:
        tail_blocks = right.shape[-1] // KEY_BLOCK
        operand = left[:, :, :, None, :].expand(-1, -1, -1, tail_blocks, -1)  # [Hkv, M, G, nbt, D]
        blocks = right.reshape(num_kv_heads, rows, right.shape[2], tail_blocks, KEY_BLOCK).transpose(2, 3)
    else:
        tail_blocks = left.shape[3]
        operand = left  # [Hkv, M, G, nbt, 64]
        blocks = right.reshape(num_kv_heads, rows, tail_blocks, KEY_BLOCK, right.shape[-1])  # [Hkv, M, nbt, 64, D]
    operand = pad_rows(operand.permute(2, 0, 1, 3, 4), ROW_BLOCK)  # [16, Hkv, M, nbt, k]
    operand = operand.permute(1, 2, 3, 0, 4)  # [Hkv, M, nbt, 16, k]
    products = torch.matmul(operand, blocks)  # [Hkv, M, nbt, 16, n]
    return products[:, :, :, :group].permute(0, 1, 3, 2, 4)  # [Hkv, M, G, nbt, n]
