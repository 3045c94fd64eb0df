"""Sparse policies inside the service's own Llama forward (fp32, CPU, random weights)."""

import pytest
import torch

from edgespec_gpu.attention_policy import DensePolicy
from edgespec_gpu.config import ModelConfig
from edgespec_gpu.model.llama import LlamaModel
from edgespec_gpu.sparse import make_policy
from edgespec_gpu.sparse.reference_forward import ContiguousLayerKV
from edgespec_gpu.tree import RowPlan

VOCAB = 300


@pytest.fixture(scope="module")
def model():
    config = ModelConfig.from_dict({
        "architectures": ["LlamaForCausalLM"], "vocab_size": VOCAB, "hidden_size": 64,
        "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 256, "rope_theta": 10000.0,
    })
    torch.manual_seed(0)
    return LlamaModel(config).eval()


class Session:
    """Committed KV of one session in contiguous per-layer caches, fed to the service model."""

    def __init__(self, model, policy):
        self.model, self.policy = model, policy
        config = model.config
        self.caches = [ContiguousLayerKV(layer, config.num_key_value_heads, config.head_dim, torch.float32, "cpu")
                       for layer in range(config.num_hidden_layers)]

    def forward(self, tokens, plan):
        layout = plan.layout(self.caches[0].kv_len)
        return self.model(torch.tensor(tokens), layout, cache_for_layer=lambda layer: self.caches[layer],
                          policy=self.policy)

    def commit(self, output, rows):
        for cache, keys, values in zip(self.caches, output.keys, output.values):
            start = cache.kv_len
            cache.append(keys[rows].transpose(0, 1), values[rows].transpose(0, 1))  # [Hkv, n, D]
            self.policy.on_kv_written(cache.layer, cache, start, cache.kv_len)


def prefilled(model, policy, length, chunk=16):
    session = Session(model, policy)
    tokens = torch.randint(0, VOCAB, (length,), generator=torch.Generator().manual_seed(5)).tolist()
    for start in range(0, length, chunk):
        rows = tokens[start : start + chunk]
        session.commit(session.forward(rows, RowPlan(pending=len(rows), parents=[])), list(range(len(rows))))
    return session


TREE = ([7, 8, 9, 10, 11], [-1, -1, 0, 1, 2])  # after one pending row


@pytest.mark.parametrize("mode", ["sinks_window", "query_select", "recycled_select"])
def test_service_forward_dense_when_budget_covers(model, mode):
    policy = make_policy({"mode": mode, "sinks": 2, "window": 8, "page_size": 4, "budget": 128,
                          "dense_below": 0}, model.config)
    plan = RowPlan(pending=1, parents=TREE[1])
    sparse = prefilled(model, policy, 70).forward([3] + TREE[0], plan).logits
    dense = prefilled(model, DensePolicy(), 70).forward([3] + TREE[0], plan).logits
    assert torch.equal(sparse, dense)


@pytest.mark.parametrize("mode", ["query_select", "recycled_select"])
def test_service_forward_attends_within_budget(model, mode):
    policy = make_policy({"mode": mode, "sinks": 2, "window": 8, "page_size": 4, "budget": 18,
                          "dense_below": 0}, model.config)
    session = prefilled(model, policy, 90)
    calls_before = policy.stats.sparse_calls
    logits = session.forward([3] + TREE[0], RowPlan(pending=1, parents=TREE[1])).logits
    assert logits.shape == (6, VOCAB)
    assert torch.isfinite(logits).all()
    assert policy.stats.sparse_calls - calls_before == 2


def test_service_tree_rows_match_their_paths(model):
    policy = make_policy({"mode": "sinks_window", "sinks": 2, "window": 8, "budget": 12, "dense_below": 0},
                         model.config)
    session = prefilled(model, policy, 60)
    tree_logits = session.forward([3] + TREE[0], RowPlan(pending=1, parents=TREE[1])).logits
    for path_nodes in ([0, 2, 4], [1, 3]):
        tokens = [3] + [TREE[0][node] for node in path_nodes]
        chain_logits = session.forward(tokens, RowPlan(pending=len(tokens), parents=[])).logits
        rows = [0] + [1 + node for node in path_nodes]
        assert torch.allclose(tree_logits[rows], chain_logits, atol=1e-5), path_nodes
