"""Root-mean-square layer norm, computed in float32 like the reference implementation."""

import torch
from torch import Tensor, nn


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:  # x: [M, hidden]
        input_dtype = x.dtype
        x32 = x.float()
        variance = x32.pow(2).mean(-1, keepdim=True)  # [M, 1]
        return self.weight * (x32 * torch.rsqrt(variance + self.eps)).to(input_dtype)
