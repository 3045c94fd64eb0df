"""Per-session sparse attention settings: the modes, their sizes and their validation.

A session's request carries `"attention": {...}`. `parse_attention_config` turns that object into
a `SparseAttentionConfig` or raises `InvalidAttentionConfig`, which the service maps to
`400 invalid_attention`.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


class AttentionMode(enum.StrEnum):
    """Rule that selects the committed tokens each verify step attends to."""

    DENSE = "dense"
    # The first `sinks` tokens plus the most recent `budget - sinks` tokens (StreamingLLM, LM-Infinite).
    SINKS_WINDOW = "sinks_window"
    # Sinks + window + the pages with the highest upper-bound score for this step's queries (Quest).
    QUERY_SELECT = "query_select"
    # Like QUERY_SELECT, but a scored page set is reused until the query drifts or ages out
    # (Recycled Attention).
    RECYCLED_SELECT = "recycled_select"


class InvalidAttentionConfig(ValueError):
    """An `attention` request object that cannot be used; `param` names the offending field."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class SparseAttentionConfig:
    """Validated sparse attention settings of one session. Sizes count tokens."""

    mode: AttentionMode = AttentionMode.DENSE
    # Attention sinks: the first tokens absorb much of the softmax mass, so they always stay.
    sinks: int = 4
    # Most recent committed tokens that query-aware modes always attend to. sinks_window
    # fills its whole budget with recent tokens instead.
    window: int = 256
    # Tokens per page of key bounds; one page is the unit that query-aware selection keeps or drops.
    page_size: int = 16
    # Max committed tokens one verify step attends to (sinks + window + selected pages).
    budget: int = 1024
    # Recycled selection re-scores pages at least every `recycle_steps` verify steps...
    recycle_steps: int = 4
    # ...and earlier when the cosine similarity between the step's query and the query that
    # scored the pages drops below this value.
    recycle_similarity: float = 0.9
    # Committed contexts shorter than this use dense attention in every mode.
    dense_below: int = 1024


# The smallest valid value of each integer field: a page, a budget and a recycling period need
# at least one token or step, while the other sizes may be zero.
_INTEGER_MINIMUMS = {"sinks": 0, "window": 0, "page_size": 1, "budget": 1, "recycle_steps": 1, "dense_below": 0}
_KNOWN_FIELDS = frozenset(field.name for field in fields(SparseAttentionConfig))


def parse_attention_config(raw: Mapping[str, Any] | None) -> SparseAttentionConfig:
    """Validate a session's `attention` object; a missing object means dense attention.

    Raises InvalidAttentionConfig for unknown fields or modes, values of the wrong type,
    negative sizes, `page_size`, `budget` or `recycle_steps` below 1, a `recycle_similarity` outside
    [-1, 1], and a `budget` smaller than `sinks + window`.
    """
    if raw is None:
        return SparseAttentionConfig()
    if not isinstance(raw, Mapping):
        raise InvalidAttentionConfig(
            f"attention must be an object, got {type(raw).__name__}", param="attention"
        )

    unknown = sorted(set(raw) - _KNOWN_FIELDS)
    if unknown:
        raise InvalidAttentionConfig(
            f"unknown attention field(s) {unknown}; known fields are {sorted(_KNOWN_FIELDS)}",
            param=f"attention.{unknown[0]}",
        )

    values: dict[str, Any] = {}
    if "mode" in raw:
        values["mode"] = _parse_mode(raw["mode"])
    for name, minimum in _INTEGER_MINIMUMS.items():
        if name in raw:
            values[name] = _parse_int_at_least(name, raw[name], minimum)
    if "recycle_similarity" in raw:
        values["recycle_similarity"] = _parse_similarity(raw["recycle_similarity"])

    config = SparseAttentionConfig(**values)
    _check_sizes(config)
    return config


def _parse_mode(value: Any) -> AttentionMode:
    modes = [mode.value for mode in AttentionMode]
    if not isinstance(value, str) or value not in modes:
        raise InvalidAttentionConfig(
            f"attention.mode must be one of {modes}, got {value!r}", param="attention.mode"
        )
    return AttentionMode(value)


def _parse_int_at_least(name: str, value: Any, minimum: int) -> int:
    # bool is a subclass of int in Python, but `"window": true` is a client bug, not a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAttentionConfig(
            f"attention.{name} must be an integer, got {value!r}", param=f"attention.{name}"
        )
    if value < minimum:
        raise InvalidAttentionConfig(
            f"attention.{name} must be >= {minimum}, got {value}", param=f"attention.{name}"
        )
    return value


def _parse_similarity(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidAttentionConfig(
            f"attention.recycle_similarity must be a finite number, got {value!r}",
            param="attention.recycle_similarity",
        )
    if not -1.0 <= value <= 1.0:
        raise InvalidAttentionConfig(
            f"attention.recycle_similarity must be in [-1, 1] (a cosine similarity), got {value}",
            param="attention.recycle_similarity",
        )
    return float(value)


def _check_sizes(config: SparseAttentionConfig) -> None:
    if config.budget < config.sinks + config.window:
        raise InvalidAttentionConfig(
            f"attention.budget ({config.budget}) must be >= sinks + window "
            f"({config.sinks} + {config.window} = {config.sinks + config.window})",
            param="attention.budget",
        )
