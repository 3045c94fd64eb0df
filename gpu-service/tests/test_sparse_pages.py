"""Page key bounds and their Quest scores."""

import torch

from edgespec_gpu.sparse.page_bounds import PageBounds
from edgespec_gpu.sparse.page_scores import page_upper_bounds

HKV, D = 2, 8


def brute_force_bounds(keys, origin, page_size):
    """keys [Hkv, L, D] -> per-page (min, max), each [Hkv, P, D], by a plain loop."""
    mins, maxs = [], []
    for start in range(origin, keys.shape[1], page_size):
        page = keys[:, start : start + page_size]
        mins.append(page.amin(dim=1))
        maxs.append(page.amax(dim=1))
    return torch.stack(mins, dim=1), torch.stack(maxs, dim=1)


def make_bounds(origin=3, page_size=4):
    return PageBounds(HKV, D, page_size=page_size, origin=origin, dtype=torch.float32, device="cpu")


def test_bounds_built_in_uneven_chunks_match_brute_force():
    torch.manual_seed(0)
    keys = torch.randn(HKV, 61, D)
    bounds = make_bounds()
    start = 0
    for size in [1, 2, 5, 1, 13, 4, 35]:  # crosses the origin, page edges and capacity growth
        bounds.extend(keys[:, start : start + size], start)
        start += size
    expected_min, expected_max = brute_force_bounds(keys, origin=3, page_size=4)
    assert bounds.num_tokens == 61
    assert bounds.num_pages == 15  # 58 paged tokens, the last page holds 2
    assert torch.equal(bounds.key_min, expected_min)
    assert torch.equal(bounds.key_max, expected_max)


def test_sinks_only_context_has_no_pages():
    bounds = make_bounds(origin=3)
    bounds.extend(torch.randn(HKV, 3, D), 0)
    assert bounds.num_pages == 0
    assert bounds.key_min.shape == (HKV, 0, D)


def test_rollback_leaves_no_stale_bounds():
    torch.manual_seed(1)
    committed = torch.randn(HKV, 22, D)
    tree = 50 * torch.randn(HKV, 9, D)  # draft keys far outside the committed range
    bounds = make_bounds()
    bounds.extend(committed, 0)
    bounds.extend(tree, 22)
    bounds.truncate(22, lambda start, end: committed[:, start:end])
    expected_min, expected_max = brute_force_bounds(committed, origin=3, page_size=4)
    assert bounds.num_pages == 5
    assert torch.equal(bounds.key_min, expected_min)
    assert torch.equal(bounds.key_max, expected_max)


def test_rollback_then_different_keys_matches_brute_force():
    torch.manual_seed(2)
    first = torch.randn(HKV, 30, D)
    second = torch.randn(HKV, 30, D)
    rewritten = torch.cat([first[:, :17], second[:, 17:]], dim=1)
    bounds = make_bounds()
    bounds.extend(first, 0)
    bounds.truncate(17, lambda start, end: first[:, start:end])
    bounds.extend(second[:, 17:], 17)
    expected_min, expected_max = brute_force_bounds(rewritten, origin=3, page_size=4)
    assert torch.equal(bounds.key_min, expected_min)
    assert torch.equal(bounds.key_max, expected_max)


def test_score_matches_channelwise_formula():
    torch.manual_seed(3)
    queries = torch.randn(4, 3, D)  # 4 query heads over 2 KV heads, 3 queries
    key_min = torch.randn(HKV, 5, D)
    key_max = key_min + torch.rand(HKV, 5, D)
    scores = page_upper_bounds(queries, key_min, key_max)
    assert scores.shape == (HKV, 5)
    for kv_head in range(HKV):
        for page in range(5):
            best = -torch.inf
            for q_head in (2 * kv_head, 2 * kv_head + 1):
                for query in queries[q_head]:
                    bound = torch.maximum(query * key_min[kv_head, page], query * key_max[kv_head, page]).sum()
                    best = max(best, bound.item())
            assert abs(scores[kv_head, page].item() - best) < 1e-5


def test_score_bounds_every_key_in_page():
    torch.manual_seed(4)
    keys = torch.randn(HKV, 43, D)
    bounds = make_bounds()
    bounds.extend(keys, 0)
    queries = torch.randn(4, 2, D)
    scores = page_upper_bounds(queries, bounds.key_min, bounds.key_max)
    grouped = queries.reshape(HKV, 4, D)  # [Hkv, G * T, D]
    for page in range(bounds.num_pages):
        start = 3 + 4 * page
        page_keys = keys[:, start : start + 4]  # [Hkv, n, D]
        brute_max = (grouped @ page_keys.transpose(1, 2)).amax(dim=(1, 2))  # [Hkv]
        assert torch.all(scores[:, page] >= brute_max - 1e-5), (page, scores[:, page], brute_max)


def test_score_is_tight_for_single_token_pages():
    torch.manual_seed(5)
    keys = torch.randn(HKV, 10, D)
    bounds = make_bounds(origin=0, page_size=1)
    bounds.extend(keys, 0)
    queries = torch.randn(2, 1, D)  # one query head per KV head
    scores = page_upper_bounds(queries, bounds.key_min, bounds.key_max)
    exact = (queries @ keys.transpose(1, 2)).squeeze(1)  # [Hkv, L]
    assert torch.allclose(scores, exact, atol=1e-5)
