"""Weight initialisation for any activation, from its computed gains (:mod:`actlab.analysis.gains`).

``calculate_gain("gelu")`` works where ``torch.nn.init.calculate_gain`` raises, and for every
entry the gain is the one that keeps the forward second moment (``mode="fan_in"``) or the
backward gradient second moment (``mode="fan_out"``) constant through depth.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..analysis.gains import layer_gain
from ..catalog import registry


def _name_and_params(activation: Any) -> tuple[str, dict[str, Any]]:
    from .surgery import catalog_entry

    if isinstance(activation, str):
        return registry.spec(activation).name, {}
    if isinstance(activation, nn.Module):
        entry = catalog_entry(activation)
        if entry is None:
            raise TypeError(f"{type(activation).__name__} is not an activation actlab knows")
        return entry
    if hasattr(activation, "spec") and hasattr(activation, "params"):  # actlab.Activation (NumPy)
        return activation.name, activation.params
    raise TypeError(f"expected an activation name or module, not {type(activation).__name__}")


def calculate_gain(activation: Any, mode: str = "fan_in", **params: Any) -> float:
    """The gain for ``activation`` (a name, an actlab activation or a torch.nn activation module).

    ``mode="fan_in"``: 1 / √E[f(z)²], which keeps the second moment of the forward signal at 1
    through a layer with weights N(0, gain² / fan_in), z ~ N(0, 1); ``mode="fan_out"``:
    1 / √E[f'(z)²], the same for the backward gradient.  It shares its name with
    ``torch.nn.init.calculate_gain`` and agrees with it where that one is such a moment (identity 1,
    ReLU √2, leaky ReLU √(2 / (1 + a²))), not where PyTorch states a convention: tanh 5/3 (here
    1.5925 forward, 1.4674 backward), the sigmoid 1 (here 1.8462), and SELU 3/4, which PyTorch's
    documentation says gives up self-normalization for steadier gradients in rectangular layers,
    advising ``nonlinearity='linear'`` (gain 1, the value here) for self-normalizing networks.
    """
    name, found = _name_and_params(activation)
    return layer_gain(name, mode, **{**found, **params})


def _fan(tensor: torch.Tensor, mode: str) -> int:
    fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def kaiming_normal_(
    tensor: torch.Tensor, activation: Any = "relu", mode: str = "fan_in", **params: Any
) -> torch.Tensor:
    """w ~ N(0, gain² / fan) with ``activation``'s computed gain (He et al. for any activation)."""
    std = calculate_gain(activation, mode, **params) / math.sqrt(_fan(tensor, mode))
    with torch.no_grad():
        return tensor.normal_(0.0, std)


def kaiming_uniform_(
    tensor: torch.Tensor, activation: Any = "relu", mode: str = "fan_in", **params: Any
) -> torch.Tensor:
    """w ~ U(-b, b), b = gain √(3 / fan): the same variance as :func:`kaiming_normal_`."""
    bound = calculate_gain(activation, mode, **params) * math.sqrt(3.0 / _fan(tensor, mode))
    with torch.no_grad():
        return tensor.uniform_(-bound, bound)


def lecun_normal_(tensor: torch.Tensor) -> torch.Tensor:
    """w ~ N(0, 1 / fan_in): the initialisation self-normalizing (SELU) networks need."""
    with torch.no_grad():
        return tensor.normal_(0.0, 1.0 / math.sqrt(_fan(tensor, "fan_in")))


def init_(module: nn.Module, activation: Any, mode: str = "fan_in", **params: Any) -> nn.Module:
    """Initialise every Linear and Conv weight in ``module`` for ``activation`` (biases to 0).

    SELU gets LeCun normal (its forward gain is exactly 1); any other activation
    :func:`kaiming_normal_` with its computed gain.
    """
    name, _ = _name_and_params(activation)
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            if name == "selu":
                lecun_normal_(m.weight)
            else:
                kaiming_normal_(m.weight, activation, mode, **params)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module
