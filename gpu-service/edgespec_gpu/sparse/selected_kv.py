"""Gather a ContextSelection's keys and values and re-rotate the keys to their new positions.

Cached keys are stored rotated by RoPE at their true positions. RoPE turns each channel pair
(d, d + D/2) by the angle position * inv_freq[d], and rotations compose, so a key rotated at
position p becomes the key rotated at p' by one more turn of (p' - p) * inv_freq. This holds for
any inv_freq, including Llama 3's rescaled frequencies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor

from edgespec_gpu.attention_policy import ContextSelection


def rope_inverse_frequencies(
    head_dim: int, theta: float, scaling: Mapping[str, Any] | None = None
) -> Tensor:
    """Return RoPE's [D/2] float32 inverse frequencies, with Llama 3 scaling when given.

    `scaling` is the checkpoint's `rope_scaling` object; None, "default" and "llama3" are supported.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    rope_type = None if scaling is None else scaling.get("rope_type", scaling.get("type"))
    if rope_type in (None, "default"):
        return inv_freq.float()
    if rope_type != "llama3":
        raise ValueError(f"unsupported rope_scaling type {rope_type!r}; supported: default, llama3")

    # Llama 3.1: long wavelengths are slowed by `factor`, short ones kept, the band between blended.
    factor = scaling["factor"]
    low_freq_factor = scaling["low_freq_factor"]
    high_freq_factor = scaling["high_freq_factor"]
    original_context = scaling["original_max_position_embeddings"]
    wavelength = 2 * math.pi / inv_freq
    low_freq_wavelength = original_context / low_freq_factor
    high_freq_wavelength = original_context / high_freq_factor
    smooth = (original_context / wavelength - low_freq_factor) / (high_freq_factor - low_freq_factor)
    blended = (1 - smooth) * inv_freq / factor + smooth * inv_freq
    scaled = torch.where(wavelength > low_freq_wavelength, inv_freq / factor, inv_freq)
    in_band = (wavelength >= high_freq_wavelength) & (wavelength <= low_freq_wavelength)
    return torch.where(in_band, blended, scaled).float()


def rotate_keys(keys: Tensor, delta: Tensor, inv_freq: Tensor) -> Tensor:
    """Turn RoPE-rotated keys by `delta` more positions (rotate-half channel layout, as in HF Llama).

    keys: [H, K, D]; delta: [H, K] integer position differences; inv_freq: [D/2] float32.
    Angles are computed in float32, like the rotation of the cached keys themselves.
    """
    angles = delta.float().unsqueeze(-1) * inv_freq  # [H, K, D/2]
    angles = torch.cat([angles, angles], dim=-1)  # [H, K, D]
    cos = angles.cos().to(keys.dtype)
    sin = angles.sin().to(keys.dtype)
    half = keys.shape[-1] // 2
    rotated_half = torch.cat([-keys[..., half:], keys[..., :half]], dim=-1)
    return keys * cos + rotated_half * sin


def gather_selected_kv(
    keys: Tensor, values: Tensor, selection: ContextSelection, inv_freq: Tensor
) -> tuple[Tensor, Tensor]:
    """Return the selected committed keys and values, keys re-rotated to selection.position_ids.

    keys, values: [Hkv, L, D] committed KV of one layer. Returns two [Hkv, K, D] tensors.
    """
    index = selection.positions.unsqueeze(-1).expand(-1, -1, keys.shape[-1])  # [Hkv, K, D]
    selected_keys = keys.gather(1, index)
    selected_values = values.gather(1, index)
    if selection.position_ids is not None:
        delta = selection.position_ids - selection.positions  # [Hkv, K]
        selected_keys = rotate_keys(selected_keys, delta, inv_freq)
    return selected_keys, selected_values
