"""Paged KV cache shared by all sessions under one memory budget.

Every layer owns a pool of pages, [num_pages, page_size, Hkv, D] for keys and the same for values.
A session holds a block table, the list of its page ids in position order: position p lives in page
`table[p // page_size]`, slot `p % page_size`. Only committed KV is stored. A verify step keeps the
tree's KV in the forward's own tensors and writes just the accepted rows into their slots, so
rejecting a branch needs no copy and no rollback.
"""

from __future__ import annotations

import torch
from torch import Tensor


class KVCacheFullError(RuntimeError):
    """Not enough free pages for a request (HTTP 503 kv_cache_full)."""


class PagedKVCache:
    def __init__(
        self,
        *,
        num_layers: int,
        num_kv_heads: int,
        head_dim: int,
        page_size: int,
        memory_bytes: int,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        if page_size <= 0:
            raise ValueError(f"page_size must be positive, got {page_size}")
        self.page_size = page_size
        self.num_layers = num_layers
        bytes_per_page = 2 * num_layers * page_size * num_kv_heads * head_dim * torch.tensor([], dtype=dtype).element_size()
        self.num_pages = memory_bytes // bytes_per_page
        if self.num_pages < 1:
            raise ValueError(f"KV memory budget of {memory_bytes} bytes is smaller than one page ({bytes_per_page} bytes)")
        shape = (num_layers, self.num_pages, page_size, num_kv_heads, head_dim)
        self.keys = torch.zeros(shape, dtype=dtype, device=device)  # [layers, pages, page_size, Hkv, D]
        self.values = torch.zeros(shape, dtype=dtype, device=device)
        self._free = list(range(self.num_pages - 1, -1, -1))  # a stack: pop() gives the lowest id first

    @property
    def free_pages(self) -> int:
        return len(self._free)

    @property
    def used_pages(self) -> int:
        return self.num_pages - len(self._free)

    def pages_for(self, length: int) -> int:
        return -(-length // self.page_size)

    def reserve(self, table: list[int], length: int) -> list[int]:
        """Append pages to `table` (in place) until it covers `length` positions; return the new ids.

        Raises KVCacheFullError and leaves `table` unchanged when the pool lacks pages.
        """
        needed = self.pages_for(length) - len(table)
        if needed <= 0:
            return []
        if needed > len(self._free):
            raise KVCacheFullError(f"KV cache full: {needed} pages needed, {len(self._free)} free of {self.num_pages}")
        new_pages = [self._free.pop() for _ in range(needed)]
        table.extend(new_pages)
        return new_pages

    def release(self, pages: list[int]) -> None:
        """Return pages to the pool."""
        self._free.extend(reversed(pages))

    def truncate(self, table: list[int], length: int) -> None:
        """Release the pages of `table` (in place) past those covering `length` positions."""
        keep = self.pages_for(length)
        self.release(table[keep:])
        del table[keep:]

    def write(self, table: list[int], layer: int, start: int, keys: Tensor, values: Tensor) -> None:
        """Store rows `keys`, `values` [N, Hkv, D] at positions [start, start + N) (in place)."""
        count = keys.shape[0]
        positions = torch.arange(start, start + count)
        pages = torch.tensor(table, dtype=torch.int64)[positions // self.page_size]
        slots = positions % self.page_size
        self.keys[layer, pages, slots] = keys
        self.values[layer, pages, slots] = values

    def view(self, table: list[int], layer: int, kv_len: int) -> "PagedLayerView":
        return PagedLayerView(self, table, layer, kv_len)


class PagedLayerView:
    """One layer of one session's committed KV; implements `attention_policy.LayerKVView`."""

    def __init__(self, cache: PagedKVCache, table: list[int], layer: int, kv_len: int) -> None:
        assert cache.pages_for(kv_len) <= len(table), f"kv_len {kv_len} exceeds the {len(table)} pages of the table"
        self._cache = cache
        self._table = table
        self.layer = layer
        self.kv_len = kv_len
        self.page_size = cache.page_size

    def page_table(self) -> Tensor:
        return torch.tensor(self._table[: self._cache.pages_for(self.kv_len)], dtype=torch.int64)

    def key_pages(self) -> Tensor:
        return self._cache.keys[self.layer, self.page_table()]  # [P, page_size, Hkv, D]

    def keys(self) -> Tensor:
        return self._in_position_order(self._cache.keys)

    def values(self) -> Tensor:
        return self._in_position_order(self._cache.values)

    def gather(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """Return keys and values at `positions` [Hkv, K]: [Hkv, K, D] each."""
        table = self.page_table().to(positions.device)
        pages = table[positions // self.page_size]  # [Hkv, K]
        slots = positions % self.page_size
        heads = torch.arange(positions.shape[0], device=positions.device)[:, None].expand_as(positions)
        keys = self._cache.keys[self.layer, pages, slots, heads]  # [Hkv, K, D]
        values = self._cache.values[self.layer, pages, slots, heads]
        return keys, values

    def _in_position_order(self, pool: Tensor) -> Tensor:
        pages = pool[self.layer, self.page_table()]  # [P, page_size, Hkv, D]
        flat = pages.reshape(-1, *pages.shape[2:])[: self.kv_len]  # [L, Hkv, D]
        return flat.transpose(0, 1).contiguous()  # [Hkv, L, D]
