"""The committed embedded model: its files, its logits in the service against transformers, and
its validation perplexity against the figure in its model card."""

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM

ROOT = Path(__file__).resolve().parents[2]
MODEL_FOLDER = ROOT / "models" / "edgespec-tiny"
sys.path.insert(0, str(ROOT / "scripts" / "model"))

import evaluate_model  # noqa: E402
from tokenizer_format import load_encoding  # noqa: E402

PROMPTS = [
    "def read_config(path):\n    \"\"\"Read the configuration file.",
    "import os\nimport sys\n\n\nclass Queue:\n    def __init__(self, maxsize=0):\n",
    "The `fs.readFile()` method reads the entire contents of a file. Größe 日本 🙂",
]
MAX_WEIGHTS_BYTES = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def transformers_model() -> LlamaForCausalLM:
    torch.set_num_threads(2)
    return LlamaForCausalLM.from_pretrained(MODEL_FOLDER, dtype=torch.float32).eval()


def test_model_config_matches_tokenizer():
    config = json.loads((MODEL_FOLDER / "config.json").read_text())
    encoding, tokenizer_config = load_encoding(MODEL_FOLDER)
    assert config["vocab_size"] == encoding.n_vocab == 8192
    assert config["max_position_embeddings"] >= 1024
    assert config["num_key_value_heads"] < config["num_attention_heads"]
    assert sorted(config["eos_token_id"]) == sorted(tokenizer_config.special_tokens[n] for n in tokenizer_config.eos_tokens)
    assert (MODEL_FOLDER / "model.safetensors").stat().st_size <= MAX_WEIGHTS_BYTES


def test_service_logits_match_transformers(transformers_model):
    # NOTE: skipped until the service's weights loader module exists.
    loader = pytest.importorskip("edgespec_gpu.loader")
    reference = pytest.importorskip("edgespec_gpu.reference")
    service_model = loader.load_model(MODEL_FOLDER)
    encoding, _ = load_encoding(MODEL_FOLDER)
    for prompt in PROMPTS:
        tokens = torch.tensor(encoding.encode_ordinary(prompt))  # [T]
        with torch.no_grad():
            expected = transformers_model(input_ids=tokens[None]).logits[0]  # [T, V]
            actual = reference.full_logits(service_model, tokens)  # [T, V]
        assert actual.shape == expected.shape
        assert (actual.float() - expected).abs().max().item() <= 1e-4, prompt


def test_validation_perplexity_matches_card():
    recorded = json.loads((MODEL_FOLDER / evaluate_model.EVALUATION_FILE).read_text())
    slice_spec = recorded["slice"]
    tokens = evaluate_model.validation_slice(MODEL_FOLDER, slice_spec["windows"], slice_spec["seq_len"])
    digest = evaluate_model.slice_digest(tokens)
    if digest != slice_spec["tokens_sha256"]:
        pytest.skip(f"this interpreter's standard library gives another validation slice "
                    f"(recorded with Python {slice_spec['python_version']})")

    result = evaluate_model.evaluate(MODEL_FOLDER, slice_spec["windows"], slice_spec["seq_len"])
    assert result["perplexity"] == pytest.approx(recorded["perplexity"], rel=0.01)
    assert math.exp(recorded["loss"]) == pytest.approx(recorded["perplexity"])
    card = (MODEL_FOLDER / "README.md").read_text()
    assert f"{recorded['perplexity']:.2f}" in card
