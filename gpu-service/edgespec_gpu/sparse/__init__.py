"""Sparse long-context attention for verify steps: sinks + window, Quest page selection, recycling.

`make_policy(attention, model_config)` is the service's entry point: it validates a session's
`attention` request object and returns the attention policy of the session.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from edgespec_gpu.attention_policy import AttentionPolicy, ContextSelection, DensePolicy

from .config import AttentionMode, InvalidAttentionConfig, SparseAttentionConfig, parse_attention_config
from .policies import QuerySelectPolicy, RecycledSelectPolicy, SelectionStats, SinksWindowPolicy
from .selected_kv import gather_selected_kv, rope_inverse_frequencies, rotate_keys

logger = logging.getLogger(__name__)

__all__ = [
    "AttentionMode",
    "ContextSelection",
    "InvalidAttentionConfig",
    "QuerySelectPolicy",
    "RecycledSelectPolicy",
    "SelectionStats",
    "SinksWindowPolicy",
    "SparseAttentionConfig",
    "gather_selected_kv",
    "make_policy",
    "parse_attention_config",
    "rope_inverse_frequencies",
    "rotate_keys",
]

_POLICY_BY_MODE: dict[AttentionMode, type[SinksWindowPolicy]] = {
    AttentionMode.SINKS_WINDOW: SinksWindowPolicy,
    AttentionMode.QUERY_SELECT: QuerySelectPolicy,
    AttentionMode.RECYCLED_SELECT: RecycledSelectPolicy,
}


def make_policy(attention: Mapping[str, Any] | None, model_config: Any) -> AttentionPolicy:
    """Validate a session's `attention` object and build its policy.

    Raises InvalidAttentionConfig, a ValueError that the service answers with
    `400 invalid_attention`. From `model_config` (attributes or a mapping) it reads
    `num_key_value_heads`, and `max_position_embeddings` to log a budget above the trained
    context: allowed, but the selected keys then sit at distances the model never saw.
    """
    config = parse_attention_config(attention)
    if config.mode is AttentionMode.DENSE:
        return DensePolicy()

    trained_context = _model_field(model_config, "max_position_embeddings")
    if trained_context is not None and config.budget > trained_context:
        logger.warning(
            "attention budget %d exceeds the model's trained context %d: "
            "selected keys will sit at untrained distances",
            config.budget, trained_context,
        )
    num_kv_heads = _model_field(model_config, "num_key_value_heads")
    if num_kv_heads is None:
        raise TypeError(f"model_config {model_config!r} has no num_key_value_heads")
    return _POLICY_BY_MODE[config.mode](config, int(num_kv_heads))


def _model_field(model_config: Any, name: str) -> Any:
    if isinstance(model_config, Mapping):
        return model_config.get(name)
    return getattr(model_config, name, None)
