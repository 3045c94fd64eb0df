"""Llama-family decoder: embeddings, decoder layers (attention + SwiGLU), final norm, LM head."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn

from edgespec_gpu.attention_policy import AttentionPolicy, LayerKVView
from edgespec_gpu.config import ModelConfig
from edgespec_gpu.model.attention import Attention, LayerInput, RowLayout
from edgespec_gpu.model.mlp import SwiGLU
from edgespec_gpu.model.numerics import NumericsMode, linear_for
from edgespec_gpu.model.rmsnorm import RMSNorm
from edgespec_gpu.model.rope import RotaryTable


@dataclass
class ForwardOutput:
    logits: Tensor  # [R, vocab] float32, for the requested rows
    hidden: Tensor  # [M, hidden] final-norm hidden states of every row, for `compute_logits`
    keys: list[Tensor]  # per layer [M, Hkv, D]: the rows' rotated keys, to commit
    values: list[Tensor]  # per layer [M, Hkv, D]


class DecoderLayer(nn.Module):
    def __init__(self, config: ModelConfig, layer: int, rotary: RotaryTable) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.self_attn = Attention(config, layer, rotary)
        self.post_attention_layernorm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = SwiGLU(config.hidden_size, config.intermediate_size)

    def forward(self, x: Tensor, inputs: LayerInput) -> tuple[Tensor, Tensor, Tensor]:
        attended, k, v = self.self_attn(self.input_layernorm(x), inputs)
        x = x + attended
        x = x + self.mlp(self.post_attention_layernorm(x), inputs.linear)
        return x, k, v


class LlamaModel(nn.Module):
    def __init__(self, config: ModelConfig, max_positions: int | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.config = config
        # The rotary table may reach past the trained context: sparse attention sessions keep attended
        # distances inside it while absolute positions grow. Dense sessions are capped by the service.
        self.max_positions = max_positions or config.max_position_embeddings
        self.rotary = RotaryTable(config.rope, config.head_dim, self.max_positions, torch.device(device))
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(config, i, self.rotary) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.mode = NumericsMode.BATCH_INVARIANT

    @torch.inference_mode()
    def forward(
        self,
        tokens: Tensor,  # [M] int64
        layout: RowLayout,
        cache_for_layer: Callable[[int], LayerKVView] | None = None,
        policy: AttentionPolicy | None = None,
        logits_rows: Tensor | None = None,  # [R] int64 rows whose logits to return; None = all
    ) -> ForwardOutput:
        linear = linear_for(self.mode)
        x = self.embed_tokens(tokens)  # [M, hidden]
        keys, values = [], []
        for index, layer in enumerate(self.layers):
            cache = None if cache_for_layer is None else cache_for_layer(index)
            inputs = LayerInput(layout=layout, cache=cache, policy=policy, mode=self.mode, linear=linear)
            x, k, v = layer(x, inputs)
            keys.append(k)
            values.append(v)
        hidden = self.norm(x)  # [M, hidden]
        selected = hidden if logits_rows is None else hidden[logits_rows]
        return ForwardOutput(logits=self.compute_logits(selected), hidden=hidden, keys=keys, values=values)

    @torch.inference_mode()
    def compute_logits(self, hidden: Tensor) -> Tensor:
        """Apply the LM head to final-norm hidden states [R, hidden]: [R, vocab] float32."""
        if hidden.shape[0] == 0:
            return hidden.new_zeros((0, self.config.vocab_size), dtype=torch.float32)
        return linear_for(self.mode)(hidden, self.lm_head).float()
