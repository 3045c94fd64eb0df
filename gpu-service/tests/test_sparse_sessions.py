"""Sparse attention through the service's sessions: create, verify with trees, commit, roll back."""

import pytest
import torch

from edgespec_gpu.errors import ServiceError
from edgespec_gpu.sessions import VerifyRequest
from service_helpers import make_manager, make_tiny_model

SPARSE_MODES = ["sinks_window", "query_select", "recycled_select"]


@pytest.fixture(scope="module")
def model():
    return make_tiny_model(seed=3, near_ties=False)


def prompt(length):
    return torch.randint(0, 256, (length,), generator=torch.Generator().manual_seed(9)).tolist()


def generate(manager, attention, tokens, new_tokens, reference=None):
    """Greedy generation through verify steps; trees guess from `reference` with a wrong sibling."""
    session, _ = manager.create(tokens, attention)
    output = list(tokens)
    while len(output) < len(tokens) + new_tokens:
        tree_tokens, tree_parents = [], []
        if reference is not None:
            for depth, token in enumerate(reference[len(output) : len(output) + 3]):
                parent = -1 if depth == 0 else len(tree_tokens) - 2
                tree_tokens += [token, (token + 1) % 256]
                tree_parents += [parent, parent]
        result = manager.verify(session.session_id, VerifyRequest(
            base_len=len(output), tree_tokens=tree_tokens, tree_parents=tree_parents))
        output += result.accepted_tokens
    return output[: len(tokens) + new_tokens], session


@pytest.mark.parametrize("mode", SPARSE_MODES)
def test_session_greedy_equals_dense_when_budget_covers(model, mode):
    tokens = prompt(60)
    dense, _ = generate(make_manager(model), None, tokens, 20)
    attention = {"mode": mode, "sinks": 2, "window": 8, "page_size": 4, "budget": 200, "dense_below": 0}
    sparse, _ = generate(make_manager(model), attention, tokens, 20, reference=dense)
    assert sparse == dense


def test_session_rejects_bad_attention(model):
    with pytest.raises(ServiceError) as raised:
        make_manager(model).create(prompt(5), {"mode": "query_select", "budget": 4, "window": 8})
    assert raised.value.status == 400
    assert raised.value.code == "invalid_attention"
    assert "attention.budget (4) must be >= sinks + window" in str(raised.value)


@pytest.mark.parametrize("mode", ["query_select", "recycled_select"])
def test_session_page_bounds_match_committed_keys(model, mode):
    manager = make_manager(model)
    attention = {"mode": mode, "sinks": 3, "window": 8, "page_size": 4, "budget": 19, "dense_below": 0}
    dense, _ = generate(make_manager(model), None, prompt(70), 12)
    _, session = generate(manager, attention, prompt(70), 12, reference=dense)
    policy = session.policy
    assert policy.stats.sparse_calls > 0
    for layer in range(model.config.num_hidden_layers):
        keys = manager.cache.view(session.table, layer, session.kv_len).keys()  # [Hkv, L, D]
        bounds = policy._bounds[layer]
        assert bounds.num_tokens == session.kv_len
        for page in range(bounds.num_pages):
            start = 3 + 4 * page
            page_keys = keys[:, start : min(start + 4, session.kv_len)]
            assert torch.equal(bounds.key_min[:, page], page_keys.amin(dim=1)), (layer, page)
            assert torch.equal(bounds.key_max[:, page], page_keys.amax(dim=1)), (layer, page)


def test_sparse_session_grows_past_trained_context():
    model = make_tiny_model(seed=3, near_ties=False, max_positions=4 * 512, max_position_embeddings=512)
    manager = make_manager(model, max_session_tokens=4 * 512)
    assert manager.max_context == 512
    assert manager.max_sparse_context == 2048
    long_prompt = torch.randint(0, 256, (1200,), generator=torch.Generator().manual_seed(5)).tolist()

    with pytest.raises(ServiceError) as raised:
        manager.create(long_prompt, None)
    assert raised.value.code == "context_overflow"

    attention = {"mode": "query_select", "sinks": 4, "window": 64, "page_size": 16, "budget": 256, "dense_below": 512}
    output, session = generate(manager, attention, long_prompt, 8)
    assert len(output) == 1208
    assert len(session.tokens) >= 1208
