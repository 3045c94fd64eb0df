"""Attention policies: per session, decide which committed positions each layer attends to.

The service calls `select(layer, q, cache, committed_len)` once per layer and verify step, before
attention. A policy returns None for dense attention, or a `ContextSelection`: per KV head, the
committed positions to attend to and the positions to rotate their keys to. The step's own tokens
(appended tokens, the last committed token and the tree) are always attended under the tree mask;
a policy only narrows the committed context.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from .config import AttentionMode, SparseAttentionConfig
from .page_bounds import PageBounds
from .page_scores import page_upper_bounds
from .selection import ContextLayout, ContextSelection, build_selection, plan_layout, select_top_pages

logger = logging.getLogger(__name__)


class CommittedKeys(Protocol):
    """Read access to one layer's cached keys, as stored: already rotated at their true positions."""

    def keys(self, start: int, end: int) -> Tensor:
        """Return the keys of positions [start, end) as [Hkv, end - start, D]."""
        ...


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
    """Attend to the first `sinks` and the last `window` committed tokens (StreamingLLM)."""

    def __init__(self, config: SparseAttentionConfig) -> None:
        self.config = config
        self.stats = SelectionStats()
        self._went_sparse = False

    def select(
        self, layer: int, q: Tensor, cache: CommittedKeys, committed_len: int
    ) -> ContextSelection | None:
        """Return the positions `layer` attends to for queries q [Hq, T, D]; None = dense."""
        layout = self._plan(committed_len)
        if layout is None:
            self.stats.dense_calls += 1
            return None
        num_kv_heads = self._num_kv_heads(cache, committed_len)
        selection = build_selection(layout, self._pick_pages(layer, q, cache, layout), num_kv_heads, q.device)
        self.stats.sparse_calls += 1
        self.stats.attended_tokens += layout.selected_tokens
        return selection

    def forget_after(self, length: int) -> None:
        """Drop derived state of positions >= length; call when committed KV there is rewritten."""

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
        self, layer: int, q: Tensor, cache: CommittedKeys, layout: ContextLayout
    ) -> Tensor | None:
        return None

    @staticmethod
    def _num_kv_heads(cache: CommittedKeys, committed_len: int) -> int:
        return cache.keys(committed_len - 1, committed_len).shape[0]


class QuerySelectPolicy(SinksWindowPolicy):
    """Sinks + window + the pages with the highest Quest upper bound for this step's queries."""

    def __init__(self, config: SparseAttentionConfig) -> None:
        super().__init__(config)
        self._bounds: dict[int, PageBounds] = {}
        self._stale_from: dict[int, int] = {}  # layer -> first position whose bounds are invalid

    def forget_after(self, length: int) -> None:
        for layer, bounds in self._bounds.items():
            self._stale_from[layer] = min(self._stale_from.get(layer, length), length, bounds.num_tokens)

    def _uses_pages(self) -> bool:
        return True

    def _pick_pages(
        self, layer: int, q: Tensor, cache: CommittedKeys, layout: ContextLayout
    ) -> Tensor | None:
        if layout.num_selected_pages == 0:
            return None
        scores = self._score_pages(layer, q, cache, layout)
        return select_top_pages(scores, layout.num_selected_pages)

    def _score_pages(self, layer: int, q: Tensor, cache: CommittedKeys, layout: ContextLayout) -> Tensor:
        bounds = self._sync_bounds(layer, cache, layout.length)
        candidates = layout.num_candidate_pages
        scores = page_upper_bounds(q, bounds.key_min[:, :candidates], bounds.key_max[:, :candidates])
        self.stats.scored_calls += 1
        self.stats.scored_pages += candidates
        return scores  # [Hkv, candidates]

    def _sync_bounds(self, layer: int, cache: CommittedKeys, committed_len: int) -> PageBounds:
        """Bring the layer's page bounds to exactly the committed keys [0, committed_len)."""
        bounds = self._bounds.get(layer)
        if bounds is None:
            sample = cache.keys(0, 1)  # [Hkv, 1, D]
            bounds = PageBounds(
                num_kv_heads=sample.shape[0],
                head_dim=sample.shape[2],
                page_size=self.config.page_size,
                origin=self.config.sinks,
                dtype=sample.dtype,
                device=sample.device,
            )
            self._bounds[layer] = bounds

        valid = min(self._stale_from.pop(layer, bounds.num_tokens), committed_len)
        if valid < bounds.num_tokens:
            bounds.truncate(valid, cache.keys)
        if committed_len > bounds.num_tokens:
            start = bounds.num_tokens
            bounds.extend(cache.keys(start, committed_len), start)
        return bounds


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

    def __init__(self, config: SparseAttentionConfig) -> None:
        super().__init__(config)
        self._scored: dict[int, _ScoredPages] = {}

    def forget_after(self, length: int) -> None:
        super().forget_after(length)
        self._scored.clear()

    def _pick_pages(
        self, layer: int, q: Tensor, cache: CommittedKeys, layout: ContextLayout
    ) -> Tensor | None:
        if layout.num_selected_pages == 0:
            return None
        query = q.float().mean(dim=1)  # [Hq, D]
        previous = self._scored.get(layer)
        if previous is not None and self._can_reuse(previous, query):
            previous.age += 1
            self.stats.recycled_calls += 1
            scores = _fit_scores(previous.scores, layout.num_candidate_pages)
        else:
            scores = self._score_pages(layer, q, cache, layout)
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


AttentionPolicy = SinksWindowPolicy | QuerySelectPolicy | RecycledSelectPolicy

_POLICY_BY_MODE: dict[AttentionMode, type[SinksWindowPolicy]] = {
    AttentionMode.SINKS_WINDOW: SinksWindowPolicy,
    AttentionMode.QUERY_SELECT: QuerySelectPolicy,
    AttentionMode.RECYCLED_SELECT: RecycledSelectPolicy,
}


def policy_for(config: SparseAttentionConfig) -> SinksWindowPolicy | None:
    """Build the policy of a validated config; None for dense attention."""
    if config.mode is AttentionMode.DENSE:
        return None
    return _POLICY_BY_MODE[config.mode](config)
