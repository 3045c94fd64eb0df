"""Load a Hugging Face Llama-family folder: config.json + model.safetensors (or sharded with an index)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import safe_open

from edgespec_gpu.config import ModelConfig
from edgespec_gpu.model.llama import LlamaModel


class ModelLoadError(ValueError):
    """Missing file, or missing, unexpected or mis-shaped tensor; the message names both."""


def load_model(
    folder: str | Path, *, device: str = "cpu", dtype: torch.dtype = torch.float32, max_positions: int | None = None
) -> LlamaModel:
    """Build the model from `folder` and load every weight, or raise without returning a partial model."""
    folder = Path(folder)
    config = ModelConfig.from_file(folder / "config.json")
    files = _weight_files(folder)
    model = LlamaModel(config, max_positions=max_positions, device=device)
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    if config.tie_word_embeddings:
        expected.pop("lm_head.weight")

    loaded: dict[str, torch.Tensor] = {}
    for file in files:
        with safe_open(str(file), framework="pt") as reader:
            for checkpoint_name in reader.keys():
                name = _model_name(checkpoint_name)
                if name is None or (name == "lm_head.weight" and config.tie_word_embeddings):
                    continue
                if name not in expected:
                    raise ModelLoadError(f"{file}: unexpected tensor {checkpoint_name!r}")
                tensor = reader.get_tensor(checkpoint_name)
                if tuple(tensor.shape) != expected[name]:
                    raise ModelLoadError(
                        f"{file}: tensor {checkpoint_name!r} has shape {tuple(tensor.shape)}, expected {expected[name]}"
                    )
                loaded[name] = tensor
    missing = sorted(set(expected) - set(loaded))
    if missing:
        raise ModelLoadError(f"{folder}: missing tensor(s) {['model.' + n if n != 'lm_head.weight' else n for n in missing][:5]}")

    model.load_state_dict(loaded, strict=not config.tie_word_embeddings)
    if config.tie_word_embeddings:
        model.lm_head.weight = model.embed_tokens.weight
    return model.to(device=device, dtype=dtype).eval()


def _weight_files(folder: Path) -> list[Path]:
    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.exists():
        return [single]
    if not index.exists():
        raise ModelLoadError(f"{folder}: missing file model.safetensors (or model.safetensors.index.json)")
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ModelLoadError(f"{index}: invalid index file ({error})") from None
    shards = [folder / name for name in sorted(set(weight_map.values()))]
    for shard in shards:
        if not shard.exists():
            raise ModelLoadError(f"{index}: missing shard file {shard.name}")
    return shards


def _model_name(checkpoint_name: str) -> str | None:
    """Map a checkpoint tensor name to this model's parameter name; None for buffers to skip."""
    if checkpoint_name.endswith("rotary_emb.inv_freq"):
        return None
    if checkpoint_name.startswith("model."):
        return checkpoint_name[len("model.") :]
    return checkpoint_name
