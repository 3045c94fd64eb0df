"""Context layouts, selections within budget, key re-rotation and the policies' decisions."""

import torch

from edgespec_gpu.sparse import (
    QuerySelectPolicy,
    RecycledSelectPolicy,
    SinksWindowPolicy,
    gather_selected_kv,
    parse_attention_config,
    rope_inverse_frequencies,
    rotate_keys,
)
from edgespec_gpu.sparse.selection import build_selection, plan_layout

HKV, HQ, D = 2, 4, 8


class TensorKeys:
    """LayerKVView over committed keys of one layer held in a plain [Hkv, L, D] tensor."""

    layer = 0
    page_size = 16

    def __init__(self, keys):
        self.data = keys

    @property
    def kv_len(self):
        return self.data.shape[1]

    def page_table(self):
        return torch.arange(self.kv_len)

    def keys(self):
        return self.data

    def values(self):
        return torch.zeros_like(self.data)

    def gather(self, positions):
        index = positions.unsqueeze(-1).expand(-1, -1, self.data.shape[-1])
        return self.data.gather(1, index), self.values().gather(1, index)


def test_layout_worked_example():
    layout = plan_layout(100, sinks=4, window=20, page_size=16, budget=64, with_pages=True)
    assert layout.sinks_end == 4
    assert layout.window_start == 80  # the tail [68, 80) does not fit next to two pages
    assert layout.num_candidate_pages == 4
    assert layout.num_selected_pages == 2
    assert layout.selected_tokens == 56


def test_layout_folds_tail_into_window_when_it_fits():
    layout = plan_layout(100, sinks=4, window=20, page_size=16, budget=68, with_pages=True)
    assert layout.window_start == 68
    assert layout.num_selected_pages == 2
    assert layout.selected_tokens == 68


def test_layout_drops_short_tail_when_budget_is_full():
    layout = plan_layout(100, sinks=4, window=20, page_size=16, budget=30, with_pages=True)
    assert layout.window_start == 80  # joining the tail [68, 80) would need 36 > 30 tokens
    assert layout.num_selected_pages == 0
    assert layout.selected_tokens == 24


def test_selection_sizes_stay_within_budget():
    for length in range(1, 300, 7):
        for sinks, window, page_size, budget in [(4, 20, 16, 64), (0, 1, 1, 5), (3, 10, 8, 13), (4, 32, 16, 200)]:
            for with_pages in (False, True):
                layout = plan_layout(length, sinks, window, page_size, budget, with_pages)
                pages = None
                if layout.num_selected_pages:
                    pages = torch.arange(layout.num_selected_pages).expand(HKV, -1)
                selection = build_selection(layout, pages, HKV, "cpu")
                kept = selection.positions.shape[1]
                assert kept <= max(budget, 0) or kept == length, (length, sinks, window, page_size, budget)
                assert kept <= length
                assert kept >= min(length, sinks + window)
                assert torch.all(selection.positions[:, 1:] > selection.positions[:, :-1])
                assert torch.equal(selection.positions[:, -min(window, length):][0],
                                   torch.arange(length - min(window, length), length))


def test_position_ids_are_contiguous_before_the_step():
    layout = plan_layout(100, sinks=4, window=20, page_size=16, budget=48, with_pages=True)
    pages = torch.tensor([[2], [0]])
    selection = build_selection(layout, pages, HKV, "cpu")
    expected_first_head = list(range(4)) + list(range(36, 52)) + list(range(80, 100))
    expected_second_head = list(range(4)) + list(range(4, 20)) + list(range(80, 100))
    assert selection.positions[0].tolist() == expected_first_head
    assert selection.positions[1].tolist() == expected_second_head
    assert selection.position_ids[0].tolist() == list(range(60, 100))
    assert selection.position_ids[1].tolist() == list(range(60, 100))


def test_rotation_by_delta_equals_rotation_at_target():
    torch.manual_seed(0)
    inv_freq = rope_inverse_frequencies(D, theta=10000.0)
    raw = torch.randn(HKV, 5, D, dtype=torch.float64)
    old = torch.tensor([[3, 9, 40, 41, 77]] * HKV)
    new = torch.tensor([[0, 1, 2, 3, 4]] * HKV)
    at_old = rotate_keys(raw, old, inv_freq.double())
    moved = rotate_keys(at_old, new - old, inv_freq.double())
    assert torch.allclose(moved, rotate_keys(raw, new, inv_freq.double()), atol=1e-10)


def test_llama3_scaling_keeps_high_frequencies():
    scaling = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    plain = rope_inverse_frequencies(128, 500000.0)
    scaled = rope_inverse_frequencies(128, 500000.0, scaling)
    assert torch.equal(scaled[:10], plain[:10])
    assert torch.allclose(scaled[-1], plain[-1] / 8.0)


def test_gather_keeps_values_and_shifts_keys():
    torch.manual_seed(1)
    inv_freq = rope_inverse_frequencies(D, theta=10000.0)
    keys, values = torch.randn(HKV, 30, D), torch.randn(HKV, 30, D)
    layout = plan_layout(30, sinks=2, window=8, page_size=4, budget=14, with_pages=True)
    selection = build_selection(layout, torch.tensor([[1], [3]]), HKV, "cpu")
    selected_keys, selected_values = gather_selected_kv(keys, values, selection, inv_freq)
    assert selected_values[1, 2].tolist() == values[1, 2 + 3 * 4].tolist()
    expected = rotate_keys(keys[1:2, 14:15], torch.tensor([[30 - 14 + 2 - 14]]), inv_freq)
    assert torch.allclose(selected_keys[1, 2], expected[0, 0])


def make_policy(policy_class, **fields):
    raw = {"mode": "query_select", "sinks": 2, "window": 8, "page_size": 4, "budget": 18, "dense_below": 0}
    raw.update(fields)
    return policy_class(parse_attention_config(raw), num_kv_heads=HKV)


def test_policy_is_dense_below_threshold():
    policy = make_policy(SinksWindowPolicy, dense_below=50)
    cache = TensorKeys(torch.randn(HKV, 49, D))
    assert policy.select(0, torch.randn(1, HQ, D), cache, 49) is None
    assert policy.select(0, torch.randn(1, HQ, D), TensorKeys(torch.randn(HKV, 50, D)), 50) is not None
    assert policy.stats.dense_calls == 1
    assert policy.stats.sparse_calls == 1


def test_policy_is_dense_when_budget_covers_context():
    policy = make_policy(QuerySelectPolicy)
    assert policy.select(0, torch.randn(1, HQ, D), TensorKeys(torch.randn(HKV, 18, D)), 18) is None


def test_query_select_picks_page_matching_query():
    keys = 0.01 * torch.randn(HKV, 40, D)
    query = torch.zeros(1, HQ, D)
    query[0, :, 0] = 1.0
    keys[0, 14, 0] = 5.0  # page 3 of KV head 0: positions [14, 18)
    keys[1, 23, 0] = 5.0  # page 5 of KV head 1: positions [22, 26)
    policy = make_policy(QuerySelectPolicy, budget=14)
    selection = policy.select(0, query, TensorKeys(keys), 40)
    assert selection.positions[0].tolist() == [0, 1, 14, 15, 16, 17] + list(range(32, 40))
    assert selection.positions[1].tolist() == [0, 1, 22, 23, 24, 25] + list(range(32, 40))


def test_query_select_updates_bounds_after_rollback():
    keys = 0.01 * torch.randn(HKV, 60, D)
    query = torch.zeros(1, HQ, D)
    query[0, :, 0] = 1.0
    policy = make_policy(QuerySelectPolicy, budget=14)
    cache = TensorKeys(keys.clone())
    cache.data[:, 15, 0] = 5.0  # page [14, 18) has the top score
    policy.select(0, query, cache, 40)
    cache.data = keys.clone()
    cache.data[:, 27, 0] = 5.0  # now page [26, 30) has the top score
    policy.on_kv_written(0, cache, 10, 40)  # committed KV from position 10 on is rewritten
    selection = policy.select(0, query, cache, 40)
    assert selection.positions[0, 2:6].tolist() == [26, 27, 28, 29]


def recycled_policy():
    return make_policy(RecycledSelectPolicy, mode="recycled_select", budget=14,
                       recycle_steps=3, recycle_similarity=0.9)


def test_recycling_rescores_after_fixed_steps():
    policy = recycled_policy()
    cache = TensorKeys(torch.randn(HKV, 60, D))
    query = torch.randn(1, HQ, D)
    for length in range(40, 47):
        policy.select(0, query, cache, length)
    # steps 0, 3 and 6 score; 1, 2, 4 and 5 reuse.
    assert policy.stats.scored_calls == 3
    assert policy.stats.recycled_calls == 4


def test_recycling_rescores_when_query_drifts():
    policy = recycled_policy()
    cache = TensorKeys(torch.randn(HKV, 60, D))
    query = torch.randn(1, HQ, D)
    policy.select(0, query, cache, 40)
    policy.select(0, 1.5 * query + 0.01, cache, 41)  # same direction: cosine ~ 1
    drifted = query.clone()
    drifted[:, 1] = -drifted[:, 1]  # one head turns around: cosine -1
    policy.select(0, drifted, cache, 42)
    assert policy.stats.scored_calls == 2
    assert policy.stats.recycled_calls == 1


def test_recycled_selection_reuses_scored_pages():
    keys = 0.01 * torch.randn(HKV, 60, D)
    keys[:, 15, 0] = 5.0
    query = torch.zeros(1, HQ, D)
    query[0, :, 0] = 1.0
    policy = recycled_policy()
    cache = TensorKeys(keys)
    first = policy.select(0, query, cache, 40)
    keys[:, 15, 0] = 0.0
    keys[:, 19, 0] = 5.0  # a re-score would now pick [18, 22); the recycled set still contains [14, 18)
    second = policy.select(0, query, cache, 41)
    assert first.positions[0, 2:6].tolist() == [14, 15, 16, 17]
    assert second.positions[0, 2:6].tolist() == [14, 15, 16, 17]
    assert policy.stats.recycled_calls == 1


def test_sinks_window_fills_budget_with_recent_tokens():
    layout = plan_layout(100, sinks=4, window=20, page_size=16, budget=48, with_pages=False)
    assert layout.sinks_end == 4
    assert layout.window_start == 56
    assert layout.selected_tokens == 48
