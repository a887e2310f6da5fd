"""Initialisation gains for any activation: the weight scale that keeps the forward second
moment, or the backward gradient second moment, constant through depth.

With weights w ~ N(0, gain² / fan), a layer maps unit-variance pre-activations z to
pre-activations of variance gain² E[f(z)²] (forward, fan = fan_in) and back-propagated
gradients of variance gain² E[f'(z)²] (backward, fan = fan_out).  So

    forward gain  = 1 / sqrt(E[f(z)²]),    backward gain = 1 / sqrt(E[f'(z)²]),   z ~ N(0, 1).

ReLU gives √2 both ways (He et al. 2015); leaky ReLU √(2 / (1 + a²)); the identity 1.
PyTorch's ``calculate_gain`` gives 5/3 for tanh, 3/4 for SELU and 1 for the sigmoid: conventions
(:data:`TORCH_CONVENTIONS`), not these moments.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any

import numpy as np

from ..catalog import registry
from ..numpy import Activation, get
from .quadrature import Float64RangeError, gaussian_expectation, square, vectorised

TORCH_GAINS: dict[str, tuple[str, float]] = {
    # catalog name -> (what torch.nn.init.calculate_gain is asked, its documented value)
    "identity": ("linear", 1.0),
    "sigmoid": ("sigmoid", 1.0),
    "tanh": ("tanh", 5.0 / 3.0),
    "relu": ("relu", math.sqrt(2.0)),
    "leaky_relu": ("leaky_relu", math.sqrt(2.0 / (1 + 0.01**2))),
    "selu": ("selu", 3.0 / 4.0),
}

TORCH_CONVENTIONS: dict[str, str] = {
    # why torch.nn.init.calculate_gain differs from the computed gains, as its documentation has it
    "tanh": "PyTorch's 5/3 for tanh is a convention its documentation states without derivation",
    "sigmoid": "PyTorch's 1 for the sigmoid is a convention its documentation states without derivation",
    "selu": (
        "PyTorch's 3/4 for SELU gives up self-normalization for steadier gradients in rectangular layers, "
        "as its documentation says (it advises 'linear', gain 1, for self-normalizing networks)"
    ),
}
MOMENT_CLAUSE = (
    "these gains keep the second moment of the forward signal (forward gain) and of the backward gradient "
    "(backward gain) at 1 through a layer, for z ~ N(0, 1)"
)


def gains(act: Activation | str, **params: Any) -> dict[str, float]:
    """{"forward": ..., "backward": ...} for ``act`` at its parameters.

    Where E[f(z)²] or E[f'(z)²] leaves float64's range (leaky_relu with negative_slope=1e308:
    5e615) but f or f' stays finite, the gain is 1 / (s √E[(f/s)²]) with s the scale of f:
    still correct, and tiny or huge.  Where f or f' is itself ±inf or NaN at a finite z, there
    is no gain to compute: :class:`Float64RangeError`.
    """
    from .properties import breaks, properties

    act = get(act, **params) if isinstance(act, str) else act
    p = properties(act)
    out = {}
    for key, fn, moment, what in (
        ("forward", act, p.second_moment, "f"),
        ("backward", act.derivative, p.derivative_second_moment, "f'"),
    ):
        if sys.float_info.min <= moment < math.inf:
            out[key] = 1.0 / math.sqrt(moment)
        else:  # E[f²] over- or underflows: scale f
            out[key] = _scaled_gain(act, vectorised(fn), breaks(act, p.kinks), what)
    return out


@functools.lru_cache(maxsize=256)
def _cached(name: str, params: tuple[tuple[str, Any], ...]) -> dict[str, float]:
    return gains(name, **dict(params))


def layer_gain(name: str, mode: str = "fan_in", **params: Any) -> float:
    """The gain an initialiser scales by: forward for ``mode="fan_in"``, backward for ``"fan_out"``
    (cached: every layer of a network asks for the same one).

    >>> round(layer_gain("relu"), 6), round(layer_gain("selu"), 6)
    (1.414214, 1.0)
    """
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', not {mode!r}")
    g = _cached(registry.spec(name).name, tuple(sorted(params.items())))
    return g["forward" if mode == "fan_in" else "backward"]


def _scaled_gain(act: Activation, fn: Any, kinks: list[float], what: str) -> float:
    z = np.linspace(-8.0, 8.0, 129)
    with np.errstate(all="ignore"):
        values = np.array([fn(t) for t in z])
    bad = np.nonzero(~np.isfinite(values))[0]
    if bad.size:
        nearest = bad[np.argmin(np.abs(z[bad]))]
        raise Float64RangeError(
            f"{act!r}: {what}(z) is {values[nearest]:g} in float64 at z = {z[nearest]:g}, so E[{what}(z)²] "
            "for z ~ N(0, 1), and the gain, cannot be computed"
        )
    scale = float(np.max(np.abs(values)))
    if scale == 0:
        return math.inf
    moment = gaussian_expectation(square(lambda t: fn(t) / scale), breaks=kinks)
    if not math.isfinite(moment):
        raise Float64RangeError(f"{act!r}: E[{what}(z)²] for z ~ N(0, 1) is not finite in float64: no gain")
    rms = scale * math.sqrt(moment)
    return 1.0 / rms if rms > 0 else math.inf


def gain_table() -> list[dict[str, Any]]:
    """Forward and backward gains of every elementwise catalog entry, beside calculate_gain's."""
    rows = []
    for name in registry.names(kind="elementwise"):
        g = gains(name)
        torch_name, torch_value = TORCH_GAINS.get(name, (None, None))
        rows.append({"name": name, **g, "torch": torch_value, "torch_name": torch_name})
    return rows
