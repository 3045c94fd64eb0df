"""The loader reads single-file and sharded folders and names the file and tensor on every error."""

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from edgespec_gpu.config import ModelConfigError
from edgespec_gpu.loader import ModelLoadError, load_model
from edgespec_gpu.reference import full_logits


@pytest.fixture
def folder(saved_llama_folder, tmp_path):
    target = tmp_path / "model"
    shutil.copytree(saved_llama_folder, target)
    return target


def test_config_fields(folder):
    model = load_model(folder)
    assert model.config.eos_token_ids == (3, 5)
    assert model.config.num_query_groups == 4
    assert model.lm_head.weight is model.embed_tokens.weight


def test_sharded_folder_loads_same_logits(folder, tmp_path):
    tensors = load_file(folder / "model.safetensors")
    names = sorted(tensors)
    half = len(names) // 2
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    shutil.copy(folder / "config.json", sharded / "config.json")
    shards = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    weight_map = {}
    for file, shard_names in shards.items():
        save_file({name: tensors[name] for name in shard_names}, sharded / file)
        weight_map.update({name: file for name in shard_names})
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))

    tokens = torch.arange(20)
    assert torch.equal(full_logits(load_model(sharded), tokens), full_logits(load_model(folder), tokens))


def test_unsupported_architecture(folder):
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["GPT2LMHeadModel"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelConfigError, match="unsupported architecture 'GPT2LMHeadModel'"):
        load_model(folder)


def test_missing_config_file(folder):
    (folder / "config.json").unlink()
    with pytest.raises(ModelConfigError, match="missing file .*config.json"):
        load_model(folder)


def test_missing_weights_file(folder):
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="missing file model.safetensors"):
        load_model(folder)


def test_missing_tensor(folder):
    tensors = load_file(folder / "model.safetensors")
    del tensors["model.layers.1.mlp.up_proj.weight"]
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"missing tensor\(s\) \['model.layers.1.mlp.up_proj.weight'\]"):
        load_model(folder)


def test_misshaped_tensor(folder):
    tensors = load_file(folder / "model.safetensors")
    tensors["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(8, 64)
    save_file(tensors, folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match=r"model.safetensors: tensor 'model.layers.0.self_attn.k_proj.weight' has shape \(8, 64\), expected \(16, 64\)"):
        load_model(folder)
