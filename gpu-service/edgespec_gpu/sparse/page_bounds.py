"""Per-page key bounds of one layer: the metadata that query-aware selection scores.

The committed keys of positions [origin, ...) are cut into pages of `page_size` tokens: page p
covers positions [origin + p * page_size, origin + (p + 1) * page_size). For every page and KV
head the bounds are the per-channel min and max of its keys (Quest). `origin` is the number of
attention sinks, so the first page starts right after them and no page mixes sinks with others.

Bounds grow incrementally on `extend` and shrink on `truncate`, which recomputes the one page it
cuts from the committed keys, so keys of a rolled-back draft tree never linger in a bound.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

# Reads committed keys of positions [start, end) as a [Hkv, end - start, D] tensor.
KeyReader = Callable[[int, int], Tensor]


class PageBounds:
    """Per-channel key min/max per page and KV head for one layer, grown in place."""

    def __init__(
        self,
        num_kv_heads: int,
        head_dim: int,
        page_size: int,
        origin: int,
        dtype: torch.dtype,
        device: torch.device | str,
    ) -> None:
        assert page_size >= 1, f"page_size must be >= 1, got {page_size}"
        assert origin >= 0, f"origin must be >= 0, got {origin}"
        self.num_kv_heads = num_kv_heads
        self.head_dim = head_dim
        self.page_size = page_size
        self.origin = origin
        self.num_tokens = 0  # committed positions covered so far, sinks included
        capacity = 8
        self._key_min = torch.empty(num_kv_heads, capacity, head_dim, dtype=dtype, device=device)
        self._key_max = torch.empty_like(self._key_min)

    @property
    def num_pages(self) -> int:
        """Pages holding at least one key; the last one may be partial."""
        paged_tokens = max(self.num_tokens - self.origin, 0)
        return -(-paged_tokens // self.page_size)

    @property
    def key_min(self) -> Tensor:
        """[Hkv, num_pages, D] per-channel minimum of each page's keys."""
        return self._key_min[:, : self.num_pages]

    @property
    def key_max(self) -> Tensor:
        """[Hkv, num_pages, D] per-channel maximum of each page's keys."""
        return self._key_max[:, : self.num_pages]

    def extend(self, keys: Tensor, start: int) -> None:
        """Fold the keys of positions [start, start + T) into the bounds, in place.

        keys: [Hkv, T, D]. `start` must equal `num_tokens`: positions are added in order.
        """
        assert start == self.num_tokens, f"extend at {start}, but {self.num_tokens} tokens are indexed"
        assert keys.shape[0] == self.num_kv_heads and keys.shape[2] == self.head_dim, (
            f"keys shape {tuple(keys.shape)} does not match "
            f"[{self.num_kv_heads}, T, {self.head_dim}]"
        )
        end = start + keys.shape[1]
        first_paged = max(start, self.origin)
        if end <= first_paged:
            self.num_tokens = end
            return

        old_pages = self.num_pages
        self.num_tokens = end
        new_pages = self.num_pages
        self._ensure_capacity(new_pages)
        # Fresh pages start empty so that the reduction below only sees their own keys.
        self._key_min[:, old_pages:new_pages] = torch.inf
        self._key_max[:, old_pages:new_pages] = -torch.inf

        paged_keys = keys[:, first_paged - start :]  # [Hkv, T', D]
        page_index = (
            torch.arange(first_paged, end, device=keys.device) - self.origin
        ) // self.page_size  # [T']
        index = page_index.view(1, -1, 1).expand_as(paged_keys)  # [Hkv, T', D]
        paged_keys = paged_keys.to(self._key_min.dtype)
        self._key_min.scatter_reduce_(1, index, paged_keys, reduce="amin", include_self=True)
        self._key_max.scatter_reduce_(1, index, paged_keys, reduce="amax", include_self=True)

    def truncate(self, length: int, read_keys: KeyReader) -> None:
        """Forget positions >= length, in place, and recompute the page the cut falls in."""
        assert 0 <= length <= self.num_tokens, f"truncate to {length} of {self.num_tokens} tokens"
        self.num_tokens = length
        last_page = self.num_pages - 1
        if last_page < 0:
            return
        page_start = self.origin + last_page * self.page_size
        keys = read_keys(page_start, length).to(self._key_min.dtype)  # [Hkv, n, D]
        self._key_min[:, last_page] = keys.amin(dim=1)
        self._key_max[:, last_page] = keys.amax(dim=1)

    def _ensure_capacity(self, pages: int) -> None:
        capacity = self._key_min.shape[1]
        if pages <= capacity:
            return
        while capacity < pages:
            capacity *= 2
        grown_min = self._key_min.new_empty(self.num_kv_heads, capacity, self.head_dim)
        grown_max = self._key_max.new_empty(self.num_kv_heads, capacity, self.head_dim)
        grown_min[:, : self._key_min.shape[1]] = self._key_min
        grown_max[:, : self._key_max.shape[1]] = self._key_max
        self._key_min, self._key_max = grown_min, grown_max
