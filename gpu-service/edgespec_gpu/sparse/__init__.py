"""Sparse long-context attention for verify steps: sinks + window, Quest page selection, recycling.

`make_policy(attention, model_config)` is the service's entry point: it validates a session's
`attention` request object and returns the policy to call before each layer's attention, or
None for dense attention.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .config import AttentionMode, InvalidAttentionConfig, SparseAttentionConfig, parse_attention_config
from .policies import (
    AttentionPolicy,
    CommittedKeys,
    QuerySelectPolicy,
    RecycledSelectPolicy,
    SelectionStats,
    SinksWindowPolicy,
    policy_for,
)
from .selected_kv import gather_selected_kv, rope_inverse_frequencies, rotate_keys
from .selection import ContextSelection

logger = logging.getLogger(__name__)

__all__ = [
    "AttentionMode",
    "AttentionPolicy",
    "CommittedKeys",
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


def make_policy(attention: Mapping[str, Any] | None, model_config: Any = None) -> AttentionPolicy | None:
    """Validate a session's `attention` object and build its policy; None means dense attention.

    Raises InvalidAttentionConfig (the service's `400 invalid_attention`) for a bad object.
    `model_config`, when given, is read for `max_position_embeddings` only: a budget above the
    trained context is allowed but logged, because positions past it are out of distribution.
    """
    config = parse_attention_config(attention)
    trained_context = getattr(model_config, "max_position_embeddings", None)
    sparse = config.mode is not AttentionMode.DENSE
    if sparse and trained_context is not None and config.budget > trained_context:
        logger.warning(
            "attention budget %d exceeds the model's trained context %d: "
            "selected keys will sit at untrained distances",
            config.budget, trained_context,
        )
    return policy_for(config)
