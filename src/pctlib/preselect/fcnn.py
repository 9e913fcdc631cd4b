"""The residual fully connected network of the thesis (A. Jeendgar, Graph Neural Networks for charged particle tracking, undergraduate thesis, BITS Pilani, 2024, Sec. 2.3: ``GraphConstructionFCNN`` with
``alpha``, ``depth``, ``hidden_dim``), used for the hit classifier and the hit embedding.

x -> h_0 = ReLU(W_in x); h_{k+1} = alpha h_k + (1 - alpha) ReLU(W_k h_k) for k < depth; out = W_out h_depth.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualFCNN(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64, depth: int = 4, alpha: float = 0.6):
        super().__init__()
        if in_dim < 1 or out_dim < 1 or hidden < 1 or depth < 0:
            raise ValueError("in_dim, out_dim and hidden must be positive, depth non-negative")
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must be in [0, 1), got {alpha}")
        self.alpha = float(alpha)
        self.inp = nn.Linear(in_dim, hidden)
        self.hidden = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(depth))
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        for lin in self.hidden:
            h = self.alpha * h + (1.0 - self.alpha) * torch.relu(lin(h))
        return self.out(h)
