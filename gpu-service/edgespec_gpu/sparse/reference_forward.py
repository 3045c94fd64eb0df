"""A small verify forward that runs a Hugging Face Llama under an attention policy.

It exists to test and measure the policies outside the service: one session, one contiguous
KV cache per layer, the draft tree given as `parents`. It calls the policy exactly as the
service's hook does: `select` before each layer's attention, `on_kv_written` after each commit.
The weights and sub-modules come from a `transformers` LlamaForCausalLM, so only the attention
is written here. It is not the service's paged forward, so its timings show trends, not
the service's speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from edgespec_gpu.attention_policy import AttentionPolicy

from .selected_kv import gather_selected_kv, rope_inverse_frequencies, rotate_keys


class ContiguousLayerKV:
    """One layer's committed KV in growing [Hkv, capacity, D] tensors; a LayerKVView."""

    page_size = 1  # contiguous storage: every position is its own page

    def __init__(self, layer: int, num_kv_heads: int, head_dim: int, dtype: torch.dtype, device) -> None:
        self.layer = layer
        self.kv_len = 0
        self._keys = torch.empty(num_kv_heads, 256, head_dim, dtype=dtype, device=device)
        self._values = torch.empty_like(self._keys)

    def page_table(self) -> Tensor:
        return torch.arange(self.kv_len, device=self._keys.device)

    def key_pages(self) -> Tensor:
        return self.keys().permute(1, 0, 2).unsqueeze(1)  # [P, 1, Hkv, D]

    def keys(self) -> Tensor:
        return self._keys[:, : self.kv_len]

    def values(self) -> Tensor:
        return self._values[:, : self.kv_len]

    def gather(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        index = positions.to(self._keys.device).unsqueeze(-1).expand(-1, -1, self._keys.shape[-1])
        return self.keys().gather(1, index), self.values().gather(1, index)

    def append(self, keys: Tensor, values: Tensor) -> None:
        """Append [Hkv, n, D] keys and values in place, growing the storage when full."""
        end = self.kv_len + keys.shape[1]
        if end > self._keys.shape[1]:
            capacity = max(end, 2 * self._keys.shape[1])
            grown_keys = self._keys.new_empty(self._keys.shape[0], capacity, self._keys.shape[2])
            grown_values = torch.empty_like(grown_keys)
            grown_keys[:, : self.kv_len] = self.keys()
            grown_values[:, : self.kv_len] = self.values()
            self._keys, self._values = grown_keys, grown_values
        self._keys[:, self.kv_len : end] = keys
        self._values[:, self.kv_len : end] = values
        self.kv_len = end


def tree_depths(parents: Sequence[int]) -> list[int]:
    """Depth of each row: parent -1 gives depth 0, every other row its parent's depth + 1."""
    depths: list[int] = []
    for row, parent in enumerate(parents):
        assert parent < row, f"parents[{row}] = {parent} must be < {row}"
        depths.append(0 if parent < 0 else depths[parent] + 1)
    return depths


def tree_mask(parents: Sequence[int], device) -> Tensor:
    """[M, M] bool: row i may attend to row j when j is i or one of its ancestors."""
    size = len(parents)
    mask = torch.zeros(size, size, dtype=torch.bool, device=device)
    for row, parent in enumerate(parents):
        if parent >= 0:
            mask[row] = mask[parent]  # a row attends to its parent's rows, plus itself
        mask[row, row] = True
    return mask


class PolicyForward:
    """One session's forward passes over a Llama model, attending as `policy` selects."""

    def __init__(self, model, policy: AttentionPolicy) -> None:
        config = model.config
        self.model = model
        self.policy = policy
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        # transformers 5 keeps theta and scaling in `rope_parameters`, 4.x in two attributes.
        rope = getattr(config, "rope_parameters", None) or {
            "rope_theta": config.rope_theta, **(getattr(config, "rope_scaling", None) or {})
        }
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        scaling = None if rope_type == "default" else rope
        parameter = next(model.parameters())
        self.inv_freq = rope_inverse_frequencies(self.head_dim, rope["rope_theta"], scaling).to(parameter.device)
        self.layers = [
            ContiguousLayerKV(index, self.num_kv_heads, self.head_dim, parameter.dtype, parameter.device)
            for index in range(config.num_hidden_layers)
        ]
        self._pending: list[tuple[Tensor, Tensor]] = []  # per layer: the last forward's rows' KV

    @property
    def kv_len(self) -> int:
        return self.layers[0].kv_len

    @torch.no_grad()
    def forward(
        self, tokens: Sequence[int], parents: Sequence[int] | None = None, with_logits: bool = True
    ) -> Tensor | None:
        """Run the rows `tokens` (a chain when `parents` is None) and return logits [M, V].

        Row i sits at position kv_len + depth(i) and attends to the selected committed context,
        itself and its ancestors. Call `commit` to keep some rows' KV. With `with_logits` False
        the output head is skipped and None returned, which saves time while prefilling.
        """
        if parents is None:
            parents = list(range(-1, len(tokens) - 1))
        device = self.inv_freq.device
        positions = self.kv_len + torch.tensor(tree_depths(parents), device=device)  # [M]
        mask = tree_mask(parents, device)  # [M, M]
        hidden = self.model.model.embed_tokens(torch.tensor(list(tokens), device=device))  # [M, H]
        self._pending = []
        for layer_index, layer in enumerate(self.model.model.layers):
            attended = self._attention(layer_index, layer, layer.input_layernorm(hidden), positions, mask)
            hidden = hidden + attended
            hidden = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
        if not with_logits:
            return None
        return self.model.lm_head(self.model.model.norm(hidden)).float()

    def commit(self, rows: Sequence[int]) -> None:
        """Append the KV of `rows` (a path of the last forward, in order) to the cache."""
        index = torch.tensor(list(rows), device=self.inv_freq.device)
        for cache, (keys, values) in zip(self.layers, self._pending):
            start = cache.kv_len
            cache.append(keys[:, index], values[:, index])
            self.policy.on_kv_written(cache.layer, cache, start, cache.kv_len)

    def _attention(self, layer_index: int, layer, hidden: Tensor, positions: Tensor, mask: Tensor) -> Tensor:
        attention = layer.self_attn
        rows = hidden.shape[0]
        q = attention.q_proj(hidden).view(rows, self.num_heads, self.head_dim)  # [M, Hq, D]
        k = attention.k_proj(hidden).view(rows, self.num_kv_heads, self.head_dim)  # [M, Hkv, D]
        v = attention.v_proj(hidden).view(rows, self.num_kv_heads, self.head_dim)  # [M, Hkv, D]
        # RoPE at each row's true position: rotate from position 0 by `positions`.
        q = rotate_keys(q.transpose(0, 1), positions.expand(self.num_heads, -1), self.inv_freq)  # [Hq, M, D]
        k = rotate_keys(k.transpose(0, 1), positions.expand(self.num_kv_heads, -1), self.inv_freq)  # [Hkv, M, D]
        v = v.transpose(0, 1)  # [Hkv, M, D]
        self._pending.append((k, v))

        cache = self.layers[layer_index]
        context_keys, context_values = cache.keys(), cache.values()  # [Hkv, L, D]
        if cache.kv_len > 0:
            selection = self.policy.select(layer_index, q.transpose(0, 1), cache, cache.kv_len)
            if selection is not None:
                context_keys, context_values = gather_selected_kv(
                    context_keys, context_values, selection, self.inv_freq
                )  # [Hkv, K, D]

        group = self.num_heads // self.num_kv_heads
        keys = torch.cat([context_keys, k], dim=1).repeat_interleave(group, dim=0)  # [Hq, K + M, D]
        values = torch.cat([context_values, v], dim=1).repeat_interleave(group, dim=0)  # [Hq, K + M, D]
        allowed = torch.cat(
            [torch.ones(rows, context_keys.shape[1], dtype=torch.bool, device=mask.device), mask], dim=1
        )  # [M, K + M]
        scores = (q @ keys.transpose(1, 2)) * self.head_dim**-0.5  # [Hq, M, K + M]
        scores = scores.masked_fill(~allowed, -torch.inf)
        weights = torch.softmax(scores.float(), dim=-1).to(values.dtype)
        output = (weights @ values).transpose(0, 1).reshape(rows, -1)  # [M, Hq * D]
        return attention.o_proj(output)
