"""Helpers shared by the service tests: tiny random models and session managers.

The module name is unique on purpose: other folders of the repository also have a `tests` package,
so `tests.conftest` can resolve to the wrong file.
"""

from __future__ import annotations

import torch

from edgespec_gpu.config import ModelConfig
from edgespec_gpu.kv_cache import PagedKVCache
from edgespec_gpu.model.llama import LlamaModel
from edgespec_gpu.sessions import Limits, SessionManager

TINY_CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 8,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "tie_word_embeddings": True,
    "eos_token_id": [],
}


def make_tiny_model(seed: int = 0, near_ties: bool = True, max_positions: int | None = None, **overrides) -> LlamaModel:
    """Build a random model; with `near_ties`, tokens 2k and 2k + 1 get almost equal logits.

    Their LM-head rows differ by about 1e-6 relative, so which of the two wins the argmax depends
    on the last bits of the hidden state: a forward whose rounding changed with the number of rows
    would flip such argmaxes.
    """
    torch.manual_seed(seed)
    config = {**TINY_CONFIG, **overrides}
    if near_ties:
        config["tie_word_embeddings"] = False
    model = LlamaModel(ModelConfig.from_dict(config), max_positions=max_positions)
    for parameter in model.parameters():
        if parameter.dim() > 1:
            torch.nn.init.normal_(parameter, std=0.05)
    if near_ties:
        with torch.no_grad():
            head = model.lm_head.weight  # [V, hidden]
            head[1::2] = head[0::2] * (1 + 1e-6 * torch.randn_like(head[0::2]))
    return model.eval()


def make_manager(model: LlamaModel, *, memory_bytes: int = 32 << 20, page_size: int = 16, **limits) -> SessionManager:
    config = model.config
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers, num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
        page_size=page_size, memory_bytes=memory_bytes,
    )
    return SessionManager(model, cache, Limits(**limits))
