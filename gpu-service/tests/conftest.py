"""Shared fixtures: tiny random Llama-family models, built in memory or saved to a temporary folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edgespec_gpu.model.llama import LlamaModel
from service_helpers import make_tiny_model

# One intra-op thread: on a shared 2-core machine, two OpenMP threads wait on each other and made
# a tiny-model verify step about 100x slower (3 ms vs 370 ms measured under load).
SINGLE_THREAD_EXEMPT = ("test_embedded_model", "test_sparse")  # modules that choose their own thread count
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def single_thread(request):
    """Run the service tests on one thread even after another module raised the thread count."""
    if request.module.__name__.startswith(SINGLE_THREAD_EXEMPT):
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


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
