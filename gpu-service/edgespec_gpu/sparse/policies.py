"""Attention policies: per session, decide which committed positions each layer attends to.

The service calls `select(layer, q, cache, committed_len)` once per layer and verify step, before
attention. A policy returns None for dense attention, or a `ContextSelection`: per KV head, the
committed positions to attend to and the positions to rotate their keys to. The rows of the
forward itself (tokens not yet in KV, then the tree) are always attended under the tree mask, so
a policy only narrows the committed context. `on_kv_written` keeps page bounds in step with the
committed KV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import Tensor

from edgespec_gpu.attention_policy import ContextSelection, LayerKVView

from .config import SparseAttentionConfig
from .page_bounds import PageBounds
from .page_scores import page_upper_bounds
from .selection import ContextLayout, build_selection, plan_layout, select_top_pages

logger = logging.getLogger(__name__)


def read_keys(cache: LayerKVView, num_kv_heads: int, start: int, end: int) -> Tensor:
    """Return the committed keys of positions [start, end) as [Hkv, end - start, D]."""
    device = cache.page_table().device  # where the cache indexes, so no host copy on a GPU
    positions = torch.arange(start, end, device=device).expand(num_kv_heads, -1)  # [Hkv, end - start]
    keys, _ = cache.gather(positions)
    return keys


@dataclass
class SelectionStats:
    """Counters over `select` calls (one call = one layer of one verify step)."""

    dense_calls: int = 0
    sparse_calls: int = 0
    scored_calls: int = 0  # calls that scored pages against their key bounds
    recycled_calls: int = 0  # calls that reused an earlier call's page scores
    attended_tokens: int = 0  # sum of K, the committed positions kept per KV head
    scored_pages: int = 0  # sum of pages whose bounds were read to score them


class SinksWindowPolicy:
    """Attend to the first `sinks` and the last `budget - sinks` committed tokens (StreamingLLM)."""

    def __init__(self, config: SparseAttentionConfig, num_kv_heads: int) -> None:
        self.config = config
        self.num_kv_heads = num_kv_heads
        self.stats = SelectionStats()
        self._went_sparse = False

    def select(
        self, layer: int, q: Tensor, cache: LayerKVView, committed_len: int
    ) -> ContextSelection | None:
        """Return the positions `layer` attends to for the rows' queries q [M, Hq, D]; None = dense."""
        layout = self._plan(committed_len)
        if layout is None:
            self.stats.dense_calls += 1
            return None
        queries = q.transpose(0, 1)  # [Hq, M, D]
        pages = self._pick_pages(layer, queries, cache, layout)
        selection = build_selection(layout, pages, self.num_kv_heads, q.device)
        self.stats.sparse_calls += 1
        self.stats.attended_tokens += layout.selected_tokens
        return selection

    def on_kv_written(self, layer: int, cache: LayerKVView, start: int, end: int) -> None:
        """Observe committed KV written at [start, end); this policy keeps no per-position state."""

    def _plan(self, committed_len: int) -> ContextLayout | None:
        config = self.config
        if committed_len < config.dense_below:
            return None
        layout = plan_layout(
            committed_len,
            config.sinks,
            config.window,
            config.page_size,
            config.budget,
            with_pages=self._uses_pages(),
        )
        if layout.selected_tokens == committed_len:
            return None  # the budget covers the whole context
        if not self._went_sparse:
            self._went_sparse = True
            logger.info(
                "sparse attention (%s) starts at %d committed tokens: %d attended per KV head",
                config.mode.value, committed_len, layout.selected_tokens,
            )
        return layout

    def _uses_pages(self) -> bool:
        return False

    def _pick_pages(
        self, layer: int, queries: Tensor, cache: LayerKVView, layout: ContextLayout
    ) -> Tensor | None:
        return None


class QuerySelectPolicy(SinksWindowPolicy):
    """Sinks + window + the pages with the highest Quest upper bound for this step's queries."""

    def __init__(self, config: SparseAttentionConfig, num_kv_heads: int) -> None:
        super().__init__(config, num_kv_heads)
        self._bounds: dict[int, PageBounds] = {}

    def on_kv_written(self, layer: int, cache: LayerKVView, start: int, end: int) -> None:
        """Fold committed keys [start, end) into the page bounds; a rewrite first cuts back to start."""
        bounds = self._bounds_of(layer, cache)
        if start < bounds.num_tokens:
            bounds.truncate(start, self._reader(cache))
        self._sync_bounds(layer, cache, end)

    def _uses_pages(self) -> bool:
        return True

    def _pick_pages(
        self, layer: int, queries: Tensor, cache: LayerKVView, layout: ContextLayout
    ) -> Tensor | None:
        if layout.num_selected_pages == 0:
            return None
        scores = self._score_pages(layer, queries, cache, layout)
        return select_top_pages(scores, layout.num_selected_pages)

    def _score_pages(self, layer: int, queries: Tensor, cache: LayerKVView, layout: ContextLayout) -> Tensor:
        bounds = self._sync_bounds(layer, cache, layout.length)
        candidates = layout.num_candidate_pages
        scores = page_upper_bounds(queries, bounds.key_min[:, :candidates], bounds.key_max[:, :candidates])
        self.stats.scored_calls += 1
        self.stats.scored_pages += candidates
        return scores  # [Hkv, candidates]

    def _sync_bounds(self, layer: int, cache: LayerKVView, committed_len: int) -> PageBounds:
        """Bring the layer's page bounds to the committed keys [0, committed_len).

        Normally `on_kv_written` has already done so and this costs nothing. It reads keys
        only when the service skipped that call, or when the context shrank.
        """
        bounds = self._bounds_of(layer, cache)
        if committed_len < bounds.num_tokens:
            bounds.truncate(committed_len, self._reader(cache))
        if committed_len > bounds.num_tokens:
            start = bounds.num_tokens
            bounds.extend(read_keys(cache, self.num_kv_heads, start, committed_len), start)
        return bounds

    def _bounds_of(self, layer: int, cache: LayerKVView) -> PageBounds:
        bounds = self._bounds.get(layer)
        if bounds is None:
            sample = read_keys(cache, self.num_kv_heads, 0, 1)  # [Hkv, 1, D]
            bounds = PageBounds(
                num_kv_heads=self.num_kv_heads,
                head_dim=sample.shape[2],
                page_size=self.config.page_size,
                origin=self.config.sinks,
                dtype=sample.dtype,
                device=sample.device,
            )
            self._bounds[layer] = bounds
        return bounds

    def _reader(self, cache: LayerKVView):
        return lambda start, end: read_keys(cache, self.num_kv_heads, start, end)


@dataclass
class _ScoredPages:
    scores: Tensor  # [Hkv, P] page scores when they were computed
    query: Tensor  # [Hq, D] mean query of the step that computed them
    age: int  # steps that used these scores, the scoring step included


class RecycledSelectPolicy(QuerySelectPolicy):
    """Query-aware selection that reuses the last page scores while the query stays similar.

    Pages are re-scored after `recycle_steps` steps, or earlier when, for any query head, the
    cosine similarity between this step's mean query and the scoring step's drops below
    `recycle_similarity`. Pages that entered the middle since the scoring step rank last.
    """

    def __init__(self, config: SparseAttentionConfig, num_kv_heads: int) -> None:
        super().__init__(config, num_kv_heads)
        self._scored: dict[int, _ScoredPages] = {}

    def _pick_pages(
        self, layer: int, queries: Tensor, cache: LayerKVView, layout: ContextLayout
    ) -> Tensor | None:
        if layout.num_selected_pages == 0:
            return None
        query = queries.float().mean(dim=1)  # [Hq, D]
        previous = self._scored.get(layer)
        if previous is not None and self._can_reuse(previous, query):
            previous.age += 1
            self.stats.recycled_calls += 1
            scores = _fit_scores(previous.scores, layout.num_candidate_pages)
        else:
            scores = self._score_pages(layer, queries, cache, layout)
            self._scored[layer] = _ScoredPages(scores=scores, query=query, age=1)
        return select_top_pages(scores, layout.num_selected_pages)

    def _can_reuse(self, previous: _ScoredPages, query: Tensor) -> bool:
        if previous.age >= self.config.recycle_steps:
            return False
        similarity = torch.nn.functional.cosine_similarity(query, previous.query, dim=-1)  # [Hq]
        return bool(similarity.min() >= self.config.recycle_similarity)


def _fit_scores(scores: Tensor, num_pages: int) -> Tensor:
    """Cut or pad [Hkv, P] scores to num_pages columns; padded pages score -inf."""
    if scores.shape[1] >= num_pages:
        return scores[:, :num_pages]
    padding = scores.new_full((scores.shape[0], num_pages - scores.shape[1]), -torch.inf)
    return torch.cat([scores, padding], dim=1)


