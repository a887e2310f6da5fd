"""Initialisation gains for any activation: the weight scale that keeps the forward second
moment, or the backward gradient second moment, constant through depth.

With weights w ~ N(0, gain² / fan), a layer maps unit-variance pre-activations z to
pre-activations of variance gain² E[f(z)²] (forward, fan = fan_in) and back-propagated
gradients of variance gain² E[f'(z)²] (backward, fan = fan_out).  So

    forward gain  = 1 / sqrt(E[f(z)²]),    backward gain = 1 / sqrt(E[f'(z)²]),   z ~ N(0, 1).

ReLU gives √2 both ways (He et al. 2015); leaky ReLU √(2 / (1 + a²)); the identity 1.
PyTorch's ``calculate_gain`` gives 5/3 for tanh and 3/4 for SELU: heuristics, not these moments.
"""

from __future__ import annotations

import math
from typing import Any

from ..catalog import registry
from ..numpy import Activation, get

TORCH_GAINS: dict[str, tuple[str, float]] = {
    # catalog name -> (what torch.nn.init.calculate_gain is asked, its documented value)
    "identity": ("linear", 1.0),
    "sigmoid": ("sigmoid", 1.0),
    "tanh": ("tanh", 5.0 / 3.0),
    "relu": ("relu", math.sqrt(2.0)),
    "leaky_relu": ("leaky_relu", math.sqrt(2.0 / (1 + 0.01**2))),
    "selu": ("selu", 3.0 / 4.0),
}


def gains(act: Activation | str, **params: Any) -> dict[str, float]:
    """{"forward": ..., "backward": ...} for ``act`` at its parameters."""
    from .properties import properties

    act = get(act, **params) if isinstance(act, str) else act
    p = properties(act)
    return {
        "forward": 1.0 / math.sqrt(p.second_moment) if p.second_moment > 0 else math.inf,
        "backward": 1.0 / math.sqrt(p.derivative_second_moment) if p.derivative_second_moment > 0 else math.inf,
    }


def gain_table() -> list[dict[str, Any]]:
    """Forward and backward gains of every elementwise catalog entry, beside calculate_gain's."""
    rows = []
    for name in registry.names(kind="elementwise"):
        g = gains(name)
        torch_name, torch_value = TORCH_GAINS.get(name, (None, None))
        rows.append({"name": name, **g, "torch": torch_value, "torch_name": torch_name})
    return rows
