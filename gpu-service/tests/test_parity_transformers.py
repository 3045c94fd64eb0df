"""Logits of the own model code match transformers on random tiny Llama-family checkpoints."""

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM

from edgespec_gpu.loader import load_model
from edgespec_gpu.model.numerics import NumericsMode
from edgespec_gpu.reference import full_logits

SHAPE = dict(
    vocab_size=256, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
    num_key_value_heads=2, max_position_embeddings=512,
)
CASES = {
    "llama_tied": (LlamaForCausalLM, LlamaConfig(**SHAPE, tie_word_embeddings=True)),
    "llama3_rope_untied": (
        LlamaForCausalLM,
        LlamaConfig(
            **SHAPE, tie_word_embeddings=False, rope_theta=500000.0,
            rope_scaling={
                "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
        ),
    ),
    "llama_linear_rope": (
        LlamaForCausalLM, LlamaConfig(**SHAPE, rope_scaling={"rope_type": "linear", "factor": 4.0})
    ),
    "qwen2_bias": (Qwen2ForCausalLM, Qwen2Config(**SHAPE, tie_word_embeddings=False)),
    "mistral": (MistralForCausalLM, MistralConfig(**SHAPE, sliding_window=None)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_logits_match_transformers(case, tmp_path):
    model_class, config = CASES[case]
    torch.manual_seed(0)
    reference = model_class(config).eval()
    if case == "qwen2_bias":
        with torch.no_grad():
            for layer in reference.model.layers:
                layer.self_attn.q_proj.bias.normal_(std=0.5)  # non-zero biases, or the test cannot see them
                layer.self_attn.k_proj.bias.normal_(std=0.5)
    reference.save_pretrained(tmp_path)
    model = load_model(tmp_path)
    tokens = torch.randint(0, 256, (200,), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(input_ids=tokens[None]).logits[0]  # [T, V]
    for mode in NumericsMode:
        model.mode = mode
        actual = full_logits(model, tokens)
        assert actual.shape == expected.shape
        assert (actual - expected).abs().max().item() <= 1e-4, mode
