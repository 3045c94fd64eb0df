"""Sparse policies inside a verify forward of a tiny random Llama (fp32, CPU)."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from edgespec_gpu.attention_policy import DensePolicy
from edgespec_gpu.sparse import make_policy
from edgespec_gpu.sparse.reference_forward import PolicyForward

VOCAB = 512
SPARSE_MODES = ["sinks_window", "query_select", "recycled_select"]


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=128, max_position_embeddings=256,
        rope_theta=10000.0, attn_implementation="eager",
    )
    return LlamaForCausalLM(config).eval()


def prompt_tokens(length, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (length,), generator=generator).tolist()


def prefill(model, policy, prompt, chunk=16):
    """Commit the KV of all prompt tokens but the last, in chunks, as the service keeps it."""
    forward = PolicyForward(model, policy)
    for start in range(0, len(prompt) - 1, chunk):
        rows = prompt[start : min(start + chunk, len(prompt) - 1)]
        forward.forward(rows)
        forward.commit(range(len(rows)))
    return forward


def speculative_greedy(model, policy, prompt, new_tokens, reference=None):
    """Greedy decoding through verify steps; drafts come from `reference` (None = no tree)."""
    forward = prefill(model, policy, prompt)
    output = list(prompt)
    while len(output) < len(prompt) + new_tokens:
        rows, parents = [output[-1]], [-1]
        if reference is not None:
            done = len(output) - len(prompt)
            upcoming = reference[len(prompt) + done : len(prompt) + done + 3]
            # A chain of the right guesses, with a wrong sibling under every node.
            for depth, token in enumerate(upcoming):
                parent = 0 if depth == 0 else len(rows) - 2
                rows += [token, (token + 1) % VOCAB]
                parents += [parent, parent]
        logits = forward.forward(rows, parents)
        path = [0]
        while True:
            best = int(logits[path[-1]].argmax())
            children = [row for row, parent in enumerate(parents) if parent == path[-1] and rows[row] == best]
            if not children:
                break
            path.append(children[0])
        output += [rows[row] for row in path[1:]] + [best]
        forward.commit(path)
    return output[: len(prompt) + new_tokens]


def covering_policy(mode):
    fields = {"mode": mode, "sinks": 2, "window": 8, "page_size": 4, "budget": 128, "dense_below": 0,
              "recycle_steps": 2}
    return make_policy(fields, {"num_key_value_heads": 2})


def test_dense_forward_matches_transformers(model):
    tokens = prompt_tokens(40)
    forward = prefill(model, DensePolicy(), tokens + [0])
    chained = PolicyForward(model, DensePolicy()).forward(tokens)
    expected = model(torch.tensor([tokens])).logits[0]
    assert forward.kv_len == 40
    assert torch.allclose(chained, expected, atol=1e-4)


@pytest.mark.parametrize("mode", SPARSE_MODES)
def test_covering_budget_gives_dense_logits(model, mode):
    prompt = prompt_tokens(70)
    rows, parents = [prompt[-1], 5, 6, 7, 8], [-1, 0, 0, 1, 3]
    dense = prefill(model, DensePolicy(), prompt).forward(rows, parents)
    policy = covering_policy(mode)
    sparse = prefill(model, policy, prompt).forward(rows, parents)
    assert torch.equal(sparse, dense)
    assert policy.stats.sparse_calls == 0


@pytest.mark.parametrize("mode", SPARSE_MODES)
def test_covering_budget_speculative_equals_dense_greedy(model, mode):
    prompt = prompt_tokens(50, seed=2)
    plain = speculative_greedy(model, DensePolicy(), prompt, 24)
    speculative = speculative_greedy(model, covering_policy(mode), prompt, 24, reference=plain)
    assert speculative == plain


def test_tree_nodes_see_ancestors_and_selected_context(model):
    policy = make_policy(
        {"mode": "sinks_window", "sinks": 2, "window": 8, "budget": 12, "dense_below": 0},
        {"num_key_value_heads": 2},
    )
    forward = prefill(model, policy, prompt_tokens(60, seed=3))
    calls_before = policy.stats.sparse_calls
    rows, parents = [11, 20, 21, 30, 31, 40], [-1, 0, 0, 1, 2, 3]
    tree_logits = forward.forward(rows, parents)
    for path in ([0, 1, 3, 5], [0, 2, 4]):
        chain_logits = forward.forward([rows[row] for row in path])
        assert torch.allclose(tree_logits[path], chain_logits, atol=1e-5), path
    assert policy.stats.sparse_calls - calls_before == 2 * 3  # 2 layers x (tree + two chains)


@pytest.mark.parametrize("mode", SPARSE_MODES)
def test_small_budget_changes_logits_within_budget(model, mode):
    fields = {"mode": mode, "sinks": 2, "window": 8, "page_size": 4, "budget": 18, "dense_below": 0}
    policy = make_policy(fields, {"num_key_value_heads": 2})
    prompt = prompt_tokens(80, seed=4)
    sparse = prefill(model, policy, prompt).forward([prompt[-1]])
    dense = prefill(model, DensePolicy(), prompt).forward([prompt[-1]])
    assert not torch.allclose(sparse, dense)
    assert policy.stats.sparse_calls > 0
    assert policy.stats.attended_tokens <= 18 * policy.stats.sparse_calls


class ReplayPolicy:
    """Return the selections another policy made, layer by layer, to rerun a step on a path."""

    def __init__(self, selections):
        self.selections = selections

    def select(self, layer, q, cache, committed_len):
        return self.selections[layer]

    def on_kv_written(self, layer, cache, start, end):
        pass


class RecordingPolicy:
    """Forward to `inner` and keep the last selection of each layer."""

    def __init__(self, inner):
        self.inner, self.selections = inner, {}

    def select(self, layer, q, cache, committed_len):
        self.selections[layer] = self.inner.select(layer, q, cache, committed_len)
        return self.selections[layer]

    def on_kv_written(self, layer, cache, start, end):
        self.inner.on_kv_written(layer, cache, start, end)


@pytest.mark.parametrize("mode", ["query_select", "recycled_select"])
def test_query_modes_tree_rows_match_paths(model, mode):
    fields = {"mode": mode, "sinks": 2, "window": 8, "page_size": 4, "budget": 18, "dense_below": 0}
    recording = RecordingPolicy(make_policy(fields, {"num_key_value_heads": 2}))
    forward = prefill(model, recording, prompt_tokens(70, seed=6))
    rows, parents = [11, 20, 21, 30, 31, 40], [-1, 0, 0, 1, 2, 3]
    tree_logits = forward.forward(rows, parents)
    assert all(selection is not None for selection in recording.selections.values())

    forward.policy = ReplayPolicy(dict(recording.selections))
    for path in ([0, 1, 3, 5], [0, 2, 4]):
        chain_logits = forward.forward([rows[row] for row in path])
        assert torch.allclose(tree_logits[path], chain_logits, atol=1e-5), path
