"""Model configuration parsed and validated from a Hugging Face `config.json` (Llama family)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM")

RopeType = Literal["default", "linear", "llama3"]


class ModelConfigError(ValueError):
    """Invalid or unsupported `config.json`."""


@dataclass(frozen=True)
class RopeConfig:
    """Rotary embedding parameters: base frequency and optional scaling of long wavelengths."""

    theta: float = 10000.0
    rope_type: RopeType = "default"
    factor: float = 1.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_position_embeddings: int = 8192


@dataclass(frozen=True)
class ModelConfig:
    """The fields of `config.json` the model code reads, with HF names."""

    architecture: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    max_position_embeddings: int
    tie_word_embeddings: bool
    attention_bias: bool  # q/k/v projections carry a bias (always true for Qwen2)
    rope: RopeConfig = field(default_factory=RopeConfig)
    eos_token_ids: tuple[int, ...] = ()

    @property
    def num_query_groups(self) -> int:
        """Query heads per KV head (GQA group size)."""
        return self.num_attention_heads // self.num_key_value_heads

    @classmethod
    def from_dict(cls, raw: dict[str, Any], source: str = "config.json") -> "ModelConfig":
        architectures = raw.get("architectures") or []
        architecture = architectures[0] if architectures else None
        if architecture not in SUPPORTED_ARCHITECTURES:
            raise ModelConfigError(
                f"{source}: unsupported architecture {architecture!r}; supported: {list(SUPPORTED_ARCHITECTURES)}"
            )

        def required_int(name: str) -> int:
            value = raw.get(name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ModelConfigError(f"{source}: {name} must be a positive integer, got {value!r}")
            return value

        hidden_size = required_int("hidden_size")
        num_heads = required_int("num_attention_heads")
        num_kv_heads = raw.get("num_key_value_heads") or num_heads
        head_dim = raw.get("head_dim") or hidden_size // num_heads
        if num_heads % num_kv_heads != 0:
            raise ModelConfigError(
                f"{source}: num_attention_heads {num_heads} is not a multiple of num_key_value_heads {num_kv_heads}"
            )
        if head_dim % 2 != 0:
            raise ModelConfigError(f"{source}: head_dim must be even for rotary embeddings, got {head_dim}")

        eos = raw.get("eos_token_id")
        if eos is None:
            eos_ids: tuple[int, ...] = ()
        elif isinstance(eos, list):
            eos_ids = tuple(int(token) for token in eos)
        else:
            eos_ids = (int(eos),)
        return cls(
            architecture=architecture,
            vocab_size=required_int("vocab_size"),
            hidden_size=hidden_size,
            intermediate_size=required_int("intermediate_size"),
            num_hidden_layers=required_int("num_hidden_layers"),
            num_attention_heads=num_heads,
            num_key_value_heads=int(num_kv_heads),
            head_dim=int(head_dim),
            rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
            max_position_embeddings=required_int("max_position_embeddings"),
            tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
            attention_bias=architecture == "Qwen2ForCausalLM" or bool(raw.get("attention_bias", False)),
            rope=_parse_rope(raw, source),
            eos_token_ids=eos_ids,
        )

    @classmethod
    def from_file(cls, path: Path) -> "ModelConfig":
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelConfigError(f"missing file {path}") from None
        except json.JSONDecodeError as error:
            raise ModelConfigError(f"{path}: invalid JSON: {error}") from None
        if not isinstance(raw, dict):
            raise ModelConfigError(f"{path}: expected a JSON object")
        return cls.from_dict(raw, str(path))


def _parse_rope(raw: dict[str, Any], source: str) -> RopeConfig:
    """Read rope settings from `rope_scaling` + `rope_theta` (transformers 4) or `rope_parameters` (5)."""
    params = raw.get("rope_parameters") or raw.get("rope_scaling") or {}
    theta = float(params.get("rope_theta", raw.get("rope_theta", 10000.0)))
    rope_type = params.get("rope_type", params.get("type", "default"))
    if rope_type not in ("default", "linear", "llama3"):
        raise ModelConfigError(f"{source}: unsupported rope type {rope_type!r}; supported: default, linear, llama3")
    if rope_type == "default":
        return RopeConfig(theta=theta)
    factor = float(params.get("factor", 1.0))
    if factor < 1.0:
        raise ModelConfigError(f"{source}: rope scaling factor must be >= 1, got {factor}")
    return RopeConfig(
        theta=theta,
        rope_type=rope_type,
        factor=factor,
        low_freq_factor=float(params.get("low_freq_factor", 1.0)),
        high_freq_factor=float(params.get("high_freq_factor", 4.0)),
        original_max_position_embeddings=int(params.get("original_max_position_embeddings", 8192)),
    )
