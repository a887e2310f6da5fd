"""Learnable parameters kept in their domain: one rule for every training backend.

A parameter that must be positive (swish_beta's β, elu/celu/snake's α, xielu's α_p) is trained
as a raw number r and used as softplus(r), so no optimiser step can leave the domain; xielu's α_n
as β + softplus(r); an unconstrained one (prelu's weight, star_relu's scale and bias) as it is.

>>> from actlab.catalog import registry
>>> spec = registry.spec("swish_beta")
>>> floor(spec, "beta", {"beta": 1.5}), round(to_raw(spec, "beta", 1.5, {"beta": 1.5}), 6)
(0.0, 1.247518)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from .catalog.spec import NONNEGATIVE, POSITIVE, Spec
from .errors import InvalidParameterError


def inverse_softplus(v: float) -> float:
    """The raw value whose softplus is v > 0: log(e^v - 1), computed without overflow."""
    return v + math.log(-math.expm1(-v))


def names(spec: Spec, learnable: bool | Iterable[str]) -> tuple[str, ...]:
    """The parameters to learn: none (False), all the catalog marks learnable (True), or those named."""
    allowed = [q.name for q in spec.params if q.learnable]
    if learnable is False:
        return ()
    if learnable is True:
        if not allowed:
            raise InvalidParameterError(f"{spec.name} has no learnable parameter")
        chosen: tuple[str, ...] = tuple(allowed)
    else:
        chosen = (learnable,) if isinstance(learnable, str) else tuple(learnable)
    for key in chosen:
        if key not in allowed:
            raise InvalidParameterError(
                f"{spec.name}: {key!r} is not learnable; learnable: {', '.join(allowed) or 'none'}"
            )
    have = getattr(spec, "param_derivatives", {})
    missing = [k for k in chosen if k not in have]
    if missing:
        raise InvalidParameterError(
            f"{spec.name}: learning {', '.join(missing)} needs its derivative in the spec's param_derivatives"
        )
    return chosen


def floor(spec: Spec, key: str, bound: Mapping[str, Any]) -> float | None:
    """The lower bound a learnable parameter is kept above (None: unconstrained)."""
    if spec.name == "xielu" and key == "alpha_n":
        return float(bound["beta"])
    if spec.param(key).domain in (POSITIVE, NONNEGATIVE):
        return 0.0
    return None


def open_floor(spec: Spec, key: str) -> bool:
    """True when the floor itself is outside the domain (α > 0): the value is then kept at or above
    the dtype's smallest normal number, as softplus can underflow to 0 and 1/α must stay finite."""
    return spec.param(key).domain == POSITIVE


def to_raw(spec: Spec, key: str, value: float, bound: Mapping[str, Any]) -> float:
    """The raw number that stands for ``value`` (its inverse softplus above the floor)."""
    low = floor(spec, key, bound)
    if low is None:
        return float(value)
    if value <= low:
        raise InvalidParameterError(
            f"{spec.name}: a learnable {key} starts above {low:g} (softplus keeps it there); got {value!r}"
        )
    return inverse_softplus(value - low)


def stored_name(spec: Spec, key: str, bound: Mapping[str, Any]) -> str:
    """The name the raw parameter of ``key`` is stored under: ``key_raw`` when a softplus keeps it in
    its domain (the stored number is not the value), else ``key`` itself."""
    return key if floor(spec, key, bound) is None else f"{key}_raw"
