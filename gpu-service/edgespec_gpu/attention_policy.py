"""Per-session attention policy: which committed KV positions each layer attends to.

The verify forward attends to two kinds of keys at every layer:

- the committed context, the KV stored in the session's pages (`LayerKVView`, positions
  `[0, kv_len)`), and
- the rows of the current forward (committed tokens not yet in KV, then the draft tree), which are
  always attended densely under the tree mask.

A policy decides only the first part. `DensePolicy` attends to the whole committed context. A sparse
policy (sinks + window, query-aware page selection, recycled selection) returns a `ContextSelection`
per layer. Keys in the cache are stored already rotated by RoPE at their true positions, so a policy
that moves a key to another position sets `position_ids`, and the attention re-rotates the gathered
keys by `position_ids - positions`.

Contract for `edgespec_gpu.sparse.make_policy(config, model_config)`: return an `AttentionPolicy`
for one session, or raise `ValueError` with a message naming the offending field. The service maps
that error to `400 invalid_attention`.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from torch import Tensor

if TYPE_CHECKING:
    from edgespec_gpu.config import ModelConfig

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContextSelection:
    """Committed KV positions one layer attends to, per KV head."""

    positions: Tensor  # [Hkv, K] int64, sorted ascending, each in [0, kv_len)
    position_ids: Tensor | None = None  # [Hkv, K] int64 positions to rotate the keys to; None keeps them


@runtime_checkable
class LayerKVView(Protocol):
    """Read access to one layer of one session's committed KV, stored in pages.

    Position `p` lives in page `page_table[p // page_size]` at slot `p % page_size`. Slots past
    `kv_len` in the last page hold stale but finite values.
    """

    layer: int
    kv_len: int
    page_size: int

    def page_table(self) -> Tensor:
        """Return the page ids covering positions `[0, kv_len)`: [P] int64."""
        ...

    def key_pages(self) -> Tensor:
        """Return this session's key pages for the layer: [P, page_size, Hkv, D] (a gathered copy)."""
        ...

    def keys(self) -> Tensor:
        """Return the committed keys in position order: [Hkv, kv_len, D], rotated at true positions."""
        ...

    def values(self) -> Tensor:
        """Return the committed values in position order: [Hkv, kv_len, D]."""
        ...

    def gather(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """Return keys and values at `positions` [Hkv, K]: two tensors [Hkv, K, D]."""
        ...


class AttentionPolicy(Protocol):
    """Chooses the committed context each layer attends to, for one session."""

    def select(self, layer: int, q: Tensor, cache: LayerKVView, committed_len: int) -> ContextSelection | None:
        """Return the positions to attend to, or None to attend to the whole committed context.

        `q` is [M, Hq, D], the rotated queries of the forward's rows (committed tokens not yet in KV,
        then tree nodes, in that order). `committed_len` is the number of committed positions that
        have KV (`cache.kv_len`).
        """
        ...

    def on_kv_written(self, layer: int, cache: LayerKVView, start: int, end: int) -> None:
        """Observe that positions `[start, end)` of `layer` were just written (committed)."""
        ...


class DensePolicy:
    """Attend to every committed position: the default, and the exact baseline."""

    def select(self, layer: int, q: Tensor, cache: LayerKVView, committed_len: int) -> ContextSelection | None:
        return None

    def on_kv_written(self, layer: int, cache: LayerKVView, start: int, end: int) -> None:
        return None


class AttentionConfigError(ValueError):
    """Invalid `attention` object in a session create request (HTTP 400 invalid_attention)."""


def make_attention_policy(config: dict[str, Any] | None, model_config: "ModelConfig") -> AttentionPolicy:
    """Build the policy for a new session from the request's `attention` object.

    `None` or `{"mode": "dense"}` gives `DensePolicy`. Any other mode goes to
    `edgespec_gpu.sparse.make_policy` when that module exists; without it only dense is accepted.
    """
    if config is None:
        return DensePolicy()
    if not isinstance(config, dict):
        raise AttentionConfigError(f"attention must be an object, got {type(config).__name__}")
    mode = config.get("mode", "dense")
    if mode == "dense" and set(config) <= {"mode"}:
        return DensePolicy()

    sparse = _import_sparse_module()
    if sparse is None:
        if mode != "dense":
            raise AttentionConfigError(
                f"attention mode {mode!r} is not available: this build supports only {{'mode': 'dense'}}"
            )
        extra = sorted(set(config) - {"mode"})
        raise AttentionConfigError(f"attention mode 'dense' takes no other fields, got {extra}")
    try:
        return sparse.make_policy(config, model_config)
    except AttentionConfigError:
        raise
    except ValueError as error:
        raise AttentionConfigError(str(error)) from error


def _import_sparse_module() -> Any | None:
    """Import `edgespec_gpu.sparse`, or return None when this build does not contain it."""
    try:
        return importlib.import_module("edgespec_gpu.sparse")
    except ModuleNotFoundError as error:
        if error.name != "edgespec_gpu.sparse":
            raise
        return None
