"""Rotary position embeddings with the default, linear and llama3 frequency schedules.

Cos/sin come from a table built once for every position, so a row's rotation is a lookup and
does not depend on how many rows share the forward.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from edgespec_gpu.config import RopeConfig


def inverse_frequencies(rope: RopeConfig, head_dim: int) -> Tensor:
    """Return the rotation frequency of each dimension pair: [head_dim / 2] float32."""
    exponents = torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim
    inv_freq = 1.0 / (rope.theta**exponents)
    if rope.rope_type == "linear":
        return inv_freq / rope.factor
    if rope.rope_type == "llama3":
        return _llama3_frequencies(inv_freq, rope)
    return inv_freq


def _llama3_frequencies(inv_freq: Tensor, rope: RopeConfig) -> Tensor:
    """Divide long wavelengths by `factor`, keep short ones, and interpolate smoothly in between."""
    old_context = rope.original_max_position_embeddings
    low_freq_wavelen = old_context / rope.low_freq_factor
    high_freq_wavelen = old_context / rope.high_freq_factor
    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / rope.factor, inv_freq)
    smooth = (old_context / wavelen - rope.low_freq_factor) / (rope.high_freq_factor - rope.low_freq_factor)
    smoothed = (1 - smooth) * scaled / rope.factor + smooth * scaled
    is_medium = (wavelen >= high_freq_wavelen) & (wavelen <= low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


class RotaryTable:
    """Cos/sin for positions [0, max_positions): each [max_positions, head_dim] float32."""

    def __init__(self, rope: RopeConfig, head_dim: int, max_positions: int, device: torch.device) -> None:
        inv_freq = inverse_frequencies(rope, head_dim).to(device)
        positions = torch.arange(max_positions, device=device, dtype=torch.float32)
        angles = positions[:, None] * inv_freq[None, :]  # [P, D/2]
        angles = torch.cat([angles, angles], dim=-1)  # [P, D]
        self.cos = angles.cos()
        self.sin = angles.sin()
        self.max_positions = max_positions
        self.inv_freq = inv_freq  # [D/2]

    def rotate(self, x: Tensor, positions: Tensor) -> Tensor:
        """Rotate `x` [M, H, D] by `positions` [M] (half-split pairs, as in the HF Llama code)."""
        cos = self.cos[positions][:, None, :].to(x.dtype)  # [M, 1, D]
        sin = self.sin[positions][:, None, :].to(x.dtype)
        half = x.shape[-1] // 2
        rotated_half = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated_half * sin

    def rotate_by(self, x: Tensor, delta: Tensor) -> Tensor:
        """Rotate already-rotated keys `x` [H, K, D] further by `delta` [H, K] positions (may be negative)."""
        angles = delta.to(torch.float32)[..., None] * self.inv_freq  # [H, K, D/2]
        angles = torch.cat([angles, angles], dim=-1)  # [H, K, D]
        cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
        half = x.shape[-1] // 2
        rotated_half = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
        return x * cos + rotated_half * sin
