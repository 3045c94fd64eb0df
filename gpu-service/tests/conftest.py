"""Shared fixtures: tiny random Llama-family models, built in memory or saved to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgespec_gpu.config import ModelConfig
from edgespec_gpu.kv_cache import PagedKVCache
from edgespec_gpu.model.llama import LlamaModel
from edgespec_gpu.sessions import Limits, SessionManager

torch.set_num_threads(2)

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


def make_tiny_model(seed: int = 0, **overrides) -> LlamaModel:
    """Build a random model whose logits are close together, so argmax near-ties are common."""
    torch.manual_seed(seed)
    model = LlamaModel(ModelConfig.from_dict({**TINY_CONFIG, **overrides}))
    for name, parameter in model.named_parameters():
        if parameter.dim() > 1:
            torch.nn.init.normal_(parameter, std=0.05)
    return model.eval()


def make_manager(model: LlamaModel, *, memory_bytes: int = 32 << 20, page_size: int = 16, **limits) -> SessionManager:
    config = model.config
    cache = PagedKVCache(
        num_layers=config.num_hidden_layers, num_kv_heads=config.num_key_value_heads, head_dim=config.head_dim,
        page_size=page_size, memory_bytes=memory_bytes,
    )
    return SessionManager(model, cache, Limits(**limits))


@pytest.fixture(scope="session")
def tiny_model() -> LlamaModel:
    return make_tiny_model()


@pytest.fixture(scope="session")
def saved_llama_folder(tmp_path_factory) -> Path:
    """A randomly initialised transformers LlamaForCausalLM saved with save_pretrained."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
        num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=True, eos_token_id=[3, 5],
    )
    folder = tmp_path_factory.mktemp("llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder
