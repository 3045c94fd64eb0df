"""Session state: KV after rejections, isolation between sessions, eviction and re-sending."""

from __future__ import annotations

import random

import pytest
import torch

from edgespec_gpu.errors import ServiceError
from edgespec_gpu.sessions import VerifyRequest
from service_helpers import make_manager
from test_exactness import plain_greedy, random_tree_with_truth


def committed_kv(manager, session):
    """Return per layer (keys, values) [Hkv, kv_len, D] of a session."""
    return [
        (manager.cache.view(session.table, layer, session.kv_len).keys(), manager.cache.view(session.table, layer, session.kv_len).values())
        for layer in range(manager.model.config.num_hidden_layers)
    ]


def speculative_step(manager, session, truth, rng):
    done = len(session.tokens)
    tokens, parents = random_tree_with_truth(truth[done:], rng, rng.randint(1, 24))
    result = manager.verify(session.session_id, VerifyRequest(base_len=done, tree_tokens=tokens, tree_parents=parents))
    return result, len(tokens) - len(result.accepted_nodes)


def test_kv_equals_fresh_prefill_after_rejections(tiny_model):
    manager = make_manager(tiny_model)
    rng = random.Random(0)
    prompt = [rng.randrange(256) for _ in range(50)]
    truth = prompt + plain_greedy(manager, prompt)
    session, _ = manager.create(prompt, None)
    rejected_nodes = 0
    while len(session.tokens) < 100:
        _, rejected = speculative_step(manager, session, truth, rng)
        rejected_nodes += rejected
    assert rejected_nodes > 0
    assert session.kv_len == len(session.tokens) - 1

    fresh, _ = manager.create(list(session.tokens), None)
    assert fresh.kv_len == session.kv_len
    for (keys, values), (fresh_keys, fresh_values) in zip(committed_kv(manager, session), committed_kv(manager, fresh)):
        assert torch.equal(keys, fresh_keys)
        assert torch.equal(values, fresh_values)


def test_interleaved_sessions_are_independent(tiny_model):
    manager = make_manager(tiny_model)
    rng = random.Random(1)
    prompts = [[rng.randrange(256) for _ in range(length)] for length in (30, 70)]
    truths = [prompt + plain_greedy(manager, prompt) for prompt in prompts]
    sessions = [manager.create(prompt, None)[0] for prompt in prompts]
    while any(len(s.tokens) < len(t) - 8 for s, t in zip(sessions, truths)):
        for session, truth in zip(sessions, truths):
            if len(session.tokens) < len(truth) - 8:
                speculative_step(manager, session, truth, rng)
    for session, truth in zip(sessions, truths):
        assert session.tokens == truth[: len(session.tokens)]


def test_evicted_session_resend_recovers(tiny_model):
    # A page is 2 layers x 16 slots x 2 heads x 8 dims x 4 bytes x 2 (keys, values) = 4 KiB, so the
    # cache has 12 pages. The first session takes 4 and each other session 6: the second other evicts the first.
    manager = make_manager(tiny_model, memory_bytes=12 * 4096)
    prompt = list(range(1, 60))
    expected = plain_greedy(manager, prompt)[:24]
    first, _ = manager.create(prompt, None)
    first_tokens = list(first.tokens)
    result = manager.verify(first.session_id, VerifyRequest(base_len=len(first_tokens)))
    first_tokens += result.accepted_tokens

    others = [manager.create(list(range(100, 190)), None)[0] for _ in range(2)]  # evicts the least recently used
    assert manager.session(first.session_id) is None
    assert manager.metrics.evictions >= 1
    with pytest.raises(ServiceError) as raised:
        manager.verify(first.session_id, VerifyRequest(base_len=len(first_tokens)))
    assert raised.value.status == 409
    assert raised.value.code == "session_evicted"
    assert raised.value.committed_len == 0

    generated = first_tokens[len(prompt) :]
    result = manager.verify(first.session_id, VerifyRequest(base_len=0, append=first_tokens))
    generated += result.accepted_tokens
    while len(generated) < 24:
        result = manager.verify(first.session_id, VerifyRequest(base_len=len(prompt) + len(generated)))
        generated += result.accepted_tokens
    assert generated[:24] == expected
    assert manager.session(others[-1].session_id) is not None


def test_idle_session_expires_after_ttl(tiny_model):
    now = [0.0]
    manager = make_manager(tiny_model, session_ttl_s=10.0)
    manager.clock = lambda: now[0]
    session, _ = manager.create([1, 2, 3], None)
    now[0] = 11.0
    with pytest.raises(ServiceError) as raised:
        manager.verify(session.session_id, VerifyRequest(base_len=3))
    assert raised.value.code == "session_evicted"
    assert manager.cache.used_pages == 0


def test_base_len_mismatch_leaves_session_unchanged(tiny_model):
    manager = make_manager(tiny_model)
    session, _ = manager.create([1, 2, 3], None)
    with pytest.raises(ServiceError) as raised:
        manager.verify(session.session_id, VerifyRequest(base_len=5, append=[4]))
    assert raised.value.status == 409
    assert raised.value.code == "base_len_mismatch"
    assert raised.value.committed_len == 3
    assert session.tokens == [1, 2, 3]
    assert session.kv_len == 2


def test_append_then_step_equals_longer_prompt(tiny_model):
    manager = make_manager(tiny_model)
    session, _ = manager.create([7, 8, 9], None)
    result = manager.verify(session.session_id, VerifyRequest(base_len=3, append=list(range(20, 120))))
    direct, _ = manager.create([7, 8, 9, *range(20, 120)], None)
    expected = manager.verify(direct.session_id, VerifyRequest(base_len=103))
    assert result.accepted_tokens == expected.accepted_tokens
    assert result.committed_len == 104


def test_eos_stops_the_path(tiny_model):
    manager = make_manager(tiny_model)
    prompt = [11, 12, 13]
    truth = plain_greedy(manager, prompt)[:6]
    manager.eos_token_ids = frozenset({truth[2]})
    session, _ = manager.create(prompt, None)
    result = manager.verify(
        session.session_id, VerifyRequest(base_len=3, tree_tokens=truth[:5], tree_parents=[-1, 0, 1, 2, 3])
    )
    stop = truth.index(truth[2])  # the first EOS, a drafted node of the chain
    assert result.accepted_tokens == truth[: stop + 1]
    assert result.accepted_nodes == list(range(stop + 1))
    assert result.eos is True
    assert result.committed_len == 3 + stop + 1
    assert session.kv_len == 3 + stop
