"""Every catalog activation as a function: ``functional.gelu(x)``, ``functional.swish_beta(x, beta=1.5)``.

The functions are made on demand from the catalog (user-registered entries included):

>>> import torch
>>> from actlab.torch import functional as AF
>>> AF.swish_beta(torch.tensor([1.0]), beta=2.0)
tensor([0.8808])
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from ..catalog import registry
from ..errors import UnknownActivationError
from . import _ops
from .native import native_for


def apply(x: torch.Tensor, name: str, /, *, exact: bool = False, **params: Any) -> torch.Tensor:
    """f(x) for the catalog activation ``name`` with ``params``; differentiable.

    The native PyTorch kernel computes it where one exists, unless ``exact=True``; every
    other entry runs the catalog's formula.  ``exact=True`` evaluates that formula in float64
    for float16/bfloat16/float32 input, rounding once, so that f and f' are within 1 ulp
    (the NumPy reference's bounds); without it the formula runs in float32, about twice as
    fast and less exact where it cancels or underflows (``actlab accuracy --backend torch``
    measures it).
    """
    spec = registry.spec(name)
    p = spec.bind(params)
    native = None if exact else native_for(spec.name, p)
    if native is not None:
        return native.fn(x, p)
    return _ops.apply_op(x, [], spec.name, _ops.encode(spec, params), "", exact)


def __getattr__(name: str) -> Callable[..., torch.Tensor]:
    try:
        canonical = registry.spec(name).name
    except UnknownActivationError as exc:
        raise AttributeError(str(exc)) from None
    return _function(canonical)


@functools.cache
def _function(canonical: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """One function object per name, so that ``functional.<name>`` pickles by reference (pickle checks
    that the name finds the very object it pickles)."""

    def function(x: torch.Tensor, /, *, exact: bool = False, **params: Any) -> torch.Tensor:
        return apply(x, canonical, exact=exact, **params)

    function.__name__ = function.__qualname__ = canonical
    function.__doc__ = f"{registry.spec(canonical).summary} (see `actlab show {canonical}`)"
    return function


def __dir__() -> list[str]:
    return ["apply", *registry.names()]
