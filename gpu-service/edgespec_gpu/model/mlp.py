"""SwiGLU feed-forward block: down(silu(gate(x)) * up(x))."""

from torch import Tensor, nn
from torch.nn import functional as F

from edgespec_gpu.model.numerics import LinearFn


class SwiGLU(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.up_proj = nn.Linear(hidden_size, intermediate_size, bias=False)
        self.down_proj = nn.Linear(intermediate_size, hidden_size, bias=False)

    def forward(self, x: Tensor, linear: LinearFn) -> Tensor:  # x: [M, hidden]
        gate = linear(x, self.gate_proj)  # [M, intermediate]
        up = linear(x, self.up_proj)
        return linear(F.silu(gate) * up, self.down_proj)  # [M, hidden]
