"""Upper-bound attention scores of key pages for a step's queries (Quest).

For a query q and a page with per-channel key bounds [min, max], every key k in the page gives
q·k = Σ_d q_d k_d <= Σ_d max(q_d · min_d, q_d · max_d). The bound splits into two matrix products:
a positive q_d picks max_d and a negative q_d picks min_d, so the bound is q⁺·max + q⁻·min.
"""

from __future__ import annotations

from torch import Tensor


def page_upper_bounds(queries: Tensor, key_min: Tensor, key_max: Tensor) -> Tensor:
    """Score each page per KV head by the largest upper bound any of its query heads reaches.

    queries: [Hq, T, D], the step's queries after RoPE (T = new tokens and tree nodes).
    key_min, key_max: [Hkv, P, D]. Query head h belongs to KV head h // (Hq // Hkv), as in GQA.
    Returns [Hkv, P] float32: max over the group's query heads and the T queries of the bound.
    Taking the max keeps a page that any query of the group could attend to strongly.

    NOTE: the bounds come from keys rotated at their true positions, as cached. The attention
    then sees a selected page re-rotated closer to the query, which changes its logits by that
    shift's RoPE turn. So past the trained context a score ranks pages at distances the model
    never saw, and passkey retrieval at 8x measures how much that matters.
    """
    num_q_heads, num_queries, head_dim = queries.shape
    num_kv_heads = key_min.shape[0]
    assert num_q_heads % num_kv_heads == 0, f"{num_q_heads} query heads, {num_kv_heads} KV heads"
    group = num_q_heads // num_kv_heads

    # [Hkv, G * T, D]: the queries of each KV group side by side.
    grouped = queries.float().reshape(num_kv_heads, group * num_queries, head_dim)
    positive = grouped.clamp(min=0)
    negative = grouped.clamp(max=0)
    bounds = positive @ key_max.float().transpose(1, 2) + negative @ key_min.float().transpose(1, 2)
    return bounds.amax(dim=1)  # [Hkv, P]
