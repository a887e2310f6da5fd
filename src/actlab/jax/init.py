"""Weight initialisers with the activation's own gain, built on ``jax.nn.initializers``.

``variance_scaling(activation)`` draws w with Var(w) = gain² / fan, the gain computed for the
activation (:mod:`actlab.analysis.gains`): ``mode="fan_in"`` keeps the forward second moment at 1
through depth (He et al. for any activation: ReLU's gain² is 2), ``mode="fan_out"`` the backward
gradient's.  SELU's forward gain is exactly 1: LeCun normal, what self-normalizing networks need.

>>> import jax, actlab.jax as aj
>>> w = aj.init.variance_scaling("relu")(jax.random.key(0), (4096, 256))
>>> round(float(w.var() * 4096), 1)  # gain² for ReLU
2.0
"""

from __future__ import annotations

from typing import Any

import jax

from ..analysis.gains import layer_gain
from ..catalog import registry

__all__ = ["calculate_gain", "variance_scaling"]

_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def _name_and_params(activation: Any) -> tuple[str, dict[str, Any]]:
    """A name, or an actlab activation object (NumPy ``Activation``, ``actlab.jax.nnx.Activation``)."""
    if isinstance(activation, str):
        return registry.spec(activation).name, {}
    if hasattr(activation, "spec") and hasattr(activation, "params"):
        return activation.spec.name, dict(activation.params)
    raise TypeError(f"expected an activation name or an actlab activation, not {type(activation).__name__}")


def calculate_gain(activation: Any, mode: str = "fan_in", **params: Any) -> float:
    """The gain of ``activation``: 1/√E[f(z)²] (``fan_in``) or 1/√E[f'(z)²] (``fan_out``), z ~ N(0, 1).

    The same numbers as :func:`actlab.torch.init.calculate_gain`; ReLU √2, identity 1, SELU 1.
    """
    name, found = _name_and_params(activation)
    return layer_gain(name, mode, **{**found, **params})


def variance_scaling(
    activation: Any = "relu",
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    *,
    in_axis: int | tuple[int, ...] = -2,
    out_axis: int | tuple[int, ...] = -1,
    dtype: Any = None,
    **params: Any,
) -> Any:
    """A ``jax.nn.initializers`` initializer (``init(key, shape, dtype)``) with Var(w) = gain² / fan.

    ``distribution`` as in ``jax.nn.initializers.variance_scaling`` ("truncated_normal", its default
    for ``he_normal`` and Flax's ``lecun_normal``, "normal" or "uniform"); ``in_axis``/``out_axis``
    locate the fans in the kernel's shape (Flax's Dense kernel is (in, out), the defaults).
    """
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {', '.join(_DISTRIBUTIONS)}; got {distribution!r}")
    gain = calculate_gain(activation, mode, **params)
    kwargs = {"in_axis": in_axis, "out_axis": out_axis}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return jax.nn.initializers.variance_scaling(gain * gain, mode, distribution, **kwargs)
