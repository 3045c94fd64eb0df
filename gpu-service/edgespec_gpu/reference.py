"""Plain dense causal forward without a cache: the reference the tests compare against."""

from __future__ import annotations

import torch
from torch import Tensor

from edgespec_gpu.model.llama import LlamaModel
from edgespec_gpu.tree import RowPlan


@torch.inference_mode()
def full_logits(model: LlamaModel, tokens: Tensor) -> Tensor:
    """Return the logits of every position of `tokens` [T]: [T, vocab] float32."""
    layout = RowPlan(pending=tokens.shape[0], parents=[]).layout(kv_len=0, device=tokens.device)
    return model(tokens, layout).logits
