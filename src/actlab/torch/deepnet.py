"""Random deep networks, measured layer by layer: what the mean-field theory predicts, watched.

``simulate`` pushes a batch of Gaussian inputs through a deep random MLP and back,
recording per layer the mean and variance of the pre-activations, the fractions of dead
(f' = 0) and saturated (|f'| < 0.01) units and the norm of the gradient reaching it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

import actlab

from .modules import Activation


@dataclass
class LayerStats:
    mean: float
    variance: float
    dead: float
    saturated: float
    grad_norm: float


@dataclass
class Simulation:
    name: str
    width: int
    depth: int
    sigma_w2: float
    sigma_b2: float
    layers: list[LayerStats] = field(default_factory=list)

    def variances(self) -> list[float]:
        return [s.variance for s in self.layers]

    def grad_norms(self) -> list[float]:
        return [s.grad_norm for s in self.layers]


def simulate(
    activation: str,
    *,
    width: int = 1000,
    depth: int = 20,
    sigma_w2: float = 1.0,
    sigma_b2: float = 0.0,
    batch: int = 256,
    input_mean: float = 0.0,
    input_std: float = 1.0,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    **params: Any,
) -> Simulation:
    """Forward and backward through ``depth`` random layers W ~ N(0, σ_w²/width), b ~ N(0, σ_b²)."""
    gen = torch.Generator().manual_seed(seed)
    act = Activation(activation, **params)
    ref = actlab.get(activation, **params)
    x = (input_mean + input_std * torch.randn(batch, width, generator=gen, dtype=dtype)).requires_grad_()
    pre: list[torch.Tensor] = []
    h = x
    for _ in range(depth):
        w = torch.randn(width, width, generator=gen, dtype=dtype) * math.sqrt(sigma_w2 / width)
        b = torch.randn(width, generator=gen, dtype=dtype) * math.sqrt(sigma_b2)
        z = h @ w.T + b
        z.retain_grad()
        pre.append(z)
        h = act(z)
    h.pow(2).sum().div(2 * batch).backward()
    sim = Simulation(activation, width, depth, sigma_w2, sigma_b2)
    for z in pre:
        zd = z.detach()
        d = torch.from_numpy(ref.derivative(zd.numpy()))
        sim.layers.append(
            LayerStats(
                mean=float(zd.mean()),
                variance=float(zd.var()),
                dead=float((d == 0).all(dim=0).double().mean()),
                saturated=float((d.abs() < 0.01).double().mean()),
                grad_norm=float(z.grad.norm()),
            )
        )
    return sim


def linear_collapse(depth: int = 12, width: int = 64, seed: int = 0) -> float:
    """A deep network with the identity activation is one linear map: the largest difference
    between the network's output and the single product matrix applied to the input."""
    gen = torch.Generator().manual_seed(seed)
    ws = [torch.randn(width, width, generator=gen, dtype=torch.float64) / math.sqrt(width) for _ in range(depth)]
    x = torch.randn(32, width, generator=gen, dtype=torch.float64)
    identity = Activation("identity")
    h = x
    for w in ws:
        h = identity(h @ w.T)
    product = torch.eye(width, dtype=torch.float64)
    for w in ws:
        product = w @ product
    return float((h - x @ product.T).abs().max() / h.abs().max())
