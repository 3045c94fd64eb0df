"""Grouped-query self-attention of the forward's rows under the tree mask."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from edgespec_gpu.attention_policy import AttentionPolicy, LayerKVView
from edgespec_gpu.config import ModelConfig
from edgespec_gpu.model.numerics import LinearFn, NumericsMode
from edgespec_gpu.model.rope import RotaryTable
from edgespec_gpu.model.tree_attention import blocked_tree_attention, dense_tree_attention


@dataclass
class RowLayout:
    """Positions and tree structure of a forward's rows (see `edgespec_gpu.tree.row_layout`)."""

    kv_len: int  # committed positions already in KV; row depth 0 sits at this position
    positions: Tensor  # [M] int64 absolute positions
    ancestor_rows: Tensor  # [M, A] int64: ancestor-or-self at depth d, -1 past the row's depth


@dataclass
class LayerInput:
    """Inputs of one attention layer besides its hidden states."""

    layout: RowLayout
    cache: LayerKVView | None  # None: no committed KV (kv_len must be 0)
    policy: AttentionPolicy | None
    mode: NumericsMode
    linear: LinearFn


class Attention(nn.Module):
    def __init__(self, config: ModelConfig, layer: int, rotary: RotaryTable) -> None:
        super().__init__()
        self.layer = layer
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.scale = config.head_dim**-0.5
        self.rotary = rotary
        q_size = self.num_heads * self.head_dim
        kv_size = self.num_kv_heads * self.head_dim
        self.q_proj = nn.Linear(config.hidden_size, q_size, bias=config.attention_bias)
        self.k_proj = nn.Linear(config.hidden_size, kv_size, bias=config.attention_bias)
        self.v_proj = nn.Linear(config.hidden_size, kv_size, bias=config.attention_bias)
        self.o_proj = nn.Linear(q_size, config.hidden_size, bias=False)

    def forward(self, x: Tensor, inputs: LayerInput) -> tuple[Tensor, Tensor, Tensor]:
        """Return the output [M, hidden] and the rows' rotated keys and values, each [M, Hkv, D]."""
        rows = x.shape[0]
        layout = inputs.layout
        q = inputs.linear(x, self.q_proj).view(rows, self.num_heads, self.head_dim)
        k = inputs.linear(x, self.k_proj).view(rows, self.num_kv_heads, self.head_dim)
        v = inputs.linear(x, self.v_proj).view(rows, self.num_kv_heads, self.head_dim)
        q = self.rotary.rotate(q, layout.positions)
        k = self.rotary.rotate(k, layout.positions)

        context_k, context_v, dense = self._context(q, inputs)
        if dense and inputs.mode is NumericsMode.BATCH_INVARIANT:
            out = blocked_tree_attention(q, context_k, context_v, k, v, layout.ancestor_rows, self.scale)
        else:
            out = dense_tree_attention(q, context_k, context_v, k, v, layout.ancestor_rows, self.scale)
        out = inputs.linear(out.reshape(rows, self.num_heads * self.head_dim), self.o_proj)
        return out, k, v

    def _context(self, q: Tensor, inputs: LayerInput) -> tuple[Tensor, Tensor, bool]:
        """Return the committed keys and values to attend to, [Hkv, L, D] each, and whether they are all of them."""
        cache = inputs.cache
        kv_len = inputs.layout.kv_len
        if cache is None:
            assert kv_len == 0, f"kv_len {kv_len} without a cache"
            empty = q.new_zeros((self.num_kv_heads, 0, self.head_dim))
            return empty, empty, True
        selection = None if inputs.policy is None else inputs.policy.select(self.layer, q, cache, kv_len)
        if selection is None:
            return cache.keys(), cache.values(), True
        keys, values = cache.gather(selection.positions)  # [Hkv, K, D]
        if selection.position_ids is not None:
            keys = self.rotary.rotate_by(keys, selection.position_ids - selection.positions)
        return keys, values, False
