"""Which committed positions one verify step attends to, and where their keys are rotated to.

The committed context [0, L) splits into three parts:

    [0, sinks_end)            attention sinks, always kept
    [sinks_end, window_start) the middle: whole pages of the key-bounds grid, kept if selected
    [window_start, L)         the recent window, always kept

Worked example: L = 100, sinks = 4, window = 20, page_size = 16, budget = 64. The grid starts at 4,
so the middle [4, 80) contains the full pages [4, 20), [20, 36), [36, 52), [52, 68) and a 12-token tail
[68, 80). 64 - 4 - 20 = 40 tokens of budget remain: room for two pages, and the 8 tokens left are
too few for the tail, which is dropped. Each KV head keeps its best two pages, so K = 4 + 32 + 20
= 56 positions per head. With budget = 68 the tail would join the window instead.

Selected keys are re-rotated to the contiguous positions [L - K, L), as StreamingLLM does inside
its cache. RoPE scores depend only on position differences, so a query at its true position
L + j then sees the selected keys at distances 1 + j ... K + j, inside the trained range when K
is, however long the true context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgespec_gpu.attention_policy import ContextSelection


@dataclass(frozen=True)
class ContextLayout:
    """Split of a committed context of `length` tokens into sinks, candidate pages and window."""

    length: int
    sinks_end: int
    window_start: int
    first_page_start: int  # position where page 0 of the grid starts
    page_size: int
    num_candidate_pages: int  # whole pages inside [sinks_end, window_start)
    num_selected_pages: int  # pages each KV head keeps

    @property
    def selected_tokens(self) -> int:
        """K, the number of positions each KV head attends to."""
        window = self.length - self.window_start
        return self.sinks_end + self.num_selected_pages * self.page_size + window


def plan_layout(
    length: int, sinks: int, window: int, page_size: int, budget: int, with_pages: bool
) -> ContextLayout:
    """Split [0, length) into sinks, candidate pages and window so that K <= budget.

    With `with_pages` False (sinks + window only) the window grows to fill the budget, so every
    mode reads the same number of keys at the same budget, and the middle is dropped. Otherwise each KV
    head keeps as many whole pages as the budget allows. The tail of the middle that is shorter
    than a page joins the window if the budget has room left for it, and is dropped if not.
    The page grid starts at `sinks`, matching `PageBounds`.
    """
    assert sinks + window <= budget, f"sinks {sinks} + window {window} > budget {budget}"
    if not with_pages:
        window = budget - sinks
    sinks_end = min(sinks, length)
    window_start = max(length - window, sinks_end)
    num_full_pages = max(window_start - sinks, 0) // page_size
    num_selected = 0

    if with_pages:
        room = budget - sinks_end - (length - window_start)
        num_selected = min(num_full_pages, room // page_size)
        pages_end = sinks + num_full_pages * page_size
        tail = window_start - pages_end
        if 0 < tail <= room - num_selected * page_size:
            window_start = pages_end

    return ContextLayout(
        length=length,
        sinks_end=sinks_end,
        window_start=window_start,
        first_page_start=sinks,
        page_size=page_size,
        num_candidate_pages=num_full_pages if with_pages else 0,
        num_selected_pages=num_selected,
    )


def select_top_pages(page_scores: Tensor, count: int) -> Tensor:
    """Pick the `count` best-scoring pages per KV head, returned in ascending page order.

    page_scores: [Hkv, P] with P >= count. Returns [Hkv, count] int64.
    """
    assert page_scores.shape[1] >= count, f"{count} pages requested of {page_scores.shape[1]}"
    best = torch.topk(page_scores, count, dim=1).indices  # [Hkv, count]
    return best.sort(dim=1).values


def build_selection(
    layout: ContextLayout, pages: Tensor | None, num_kv_heads: int, device: torch.device | str
) -> ContextSelection:
    """Turn a layout and the kept pages ([Hkv, n] ascending, or None) into a ContextSelection."""
    sinks = torch.arange(layout.sinks_end, device=device)
    window = torch.arange(layout.window_start, layout.length, device=device)
    parts = [sinks.expand(num_kv_heads, -1)]
    if pages is not None and pages.shape[1] > 0:
        assert pages.shape[1] == layout.num_selected_pages, (
            f"{pages.shape[1]} pages given, layout keeps {layout.num_selected_pages}"
        )
        offsets = torch.arange(layout.page_size, device=device)
        starts = layout.first_page_start + pages * layout.page_size  # [Hkv, n]
        page_tokens = (starts.unsqueeze(-1) + offsets).reshape(num_kv_heads, -1)  # [Hkv, n * page]
        parts.append(page_tokens)
    parts.append(window.expand(num_kv_heads, -1))
    positions = torch.cat(parts, dim=1)  # [Hkv, K]

    kept = positions.shape[1]
    assert kept == layout.selected_tokens, f"built {kept} positions, layout says {layout.selected_tokens}"
    if kept == layout.length:
        return ContextSelection(positions=positions, position_ids=None)
    shifted = torch.arange(layout.length - kept, layout.length, device=device)
    return ContextSelection(positions=positions, position_ids=shifted.expand(num_kv_heads, -1))
