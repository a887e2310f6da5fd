"""``jax.nn``'s activations with ``jax.nn``'s names, signatures and defaults, computed by the catalog.

``import actlab.jax.nn as nn`` is a drop-in for the activations of ``jax.nn``: ``nn.silu(x)``,
``nn.gelu(x, approximate=False)``, ``nn.softmax(x, axis=-1, where=mask)`` take the same arguments and
return the catalog's values with the catalog's derivatives (exact at ±inf, σ′ never 0 from s(1 − s)).
:data:`JAX_NN` states what each name is in the catalog; the rest of ``jax.nn`` (``one_hot``,
``logsumexp``, ``standardize``, attention, ``initializers`` — not activations) is ``jax.nn``'s own,
passed through unchanged.  Flax's activation functions (``flax.nnx.relu`` ...) are these same
``jax.nn`` functions, so the names serve Flax users too; Flax's ``PReLU`` module is
:class:`actlab.jax.nnx.PReLU`.

One default differs from actlab's and is kept as JAX has it: ``jax.nn.gelu`` is the tanh
approximation unless ``approximate=False``, so ``nn.gelu(x)`` is the catalog's ``gelu`` with
``approximate="tanh"``, while ``actlab.jax.get("gelu")`` is the exact erf form, as everywhere else in
actlab.  ``sparse_sigmoid`` is the catalog's ``hardsigmoid`` with slope 1/2 and offset 1/2.

>>> import jax.numpy as jnp
>>> from actlab.jax import nn
>>> float(nn.gelu(jnp.float32(1.0))), float(nn.gelu(jnp.float32(1.0), approximate=False))
(0.8411920070648193, 0.8413447141647339)
>>> JAX_NN["sparse_sigmoid"]
JaxName(entry='hardsigmoid', arguments=(), fixed=(('slope', 0.5), ('offset', 0.5)), masked=False)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp

from ..catalog import registry
from ..errors import InvalidParameterError, UnknownActivationError, suggest


@dataclass(frozen=True)
class JaxName:
    """How a ``jax.nn`` activation is served: the catalog ``entry``; ``arguments``, each
    (``jax.nn``'s keyword, the catalog parameter it sets, ``jax.nn``'s default); parameters ``fixed``
    by the name itself; and whether it takes ``where=`` (a mask: masked entries take no part)."""

    entry: str
    arguments: tuple[tuple[str, str, Any], ...] = ()
    fixed: tuple[tuple[str, Any], ...] = ()
    masked: bool = False


_AXIS = (("axis", "dim", -1),)

JAX_NN: dict[str, JaxName] = {
    "celu": JaxName("celu", (("alpha", "alpha", 1.0),)),
    "elu": JaxName("elu", (("alpha", "alpha", 1.0),)),
    "gelu": JaxName("gelu", (("approximate", "approximate", True),)),
    "glu": JaxName("glu", _AXIS),
    "hard_sigmoid": JaxName("hardsigmoid"),
    "hard_silu": JaxName("hardswish"),
    "hard_swish": JaxName("hardswish"),
    "hard_tanh": JaxName("hardtanh"),
    "identity": JaxName("identity"),
    "leaky_relu": JaxName("leaky_relu", (("negative_slope", "negative_slope", 0.01),)),
    "log_sigmoid": JaxName("log_sigmoid"),
    "log_softmax": JaxName("log_softmax", _AXIS, masked=True),
    "mish": JaxName("mish"),
    "relu": JaxName("relu"),
    "relu6": JaxName("relu6"),
    "selu": JaxName("selu"),
    "sigmoid": JaxName("sigmoid"),
    "silu": JaxName("silu"),
    "soft_sign": JaxName("softsign"),
    "softmax": JaxName("softmax", _AXIS, masked=True),
    "softplus": JaxName("softplus"),
    "sparse_plus": JaxName("sparse_plus"),
    "sparse_sigmoid": JaxName("hardsigmoid", fixed=(("slope", 0.5), ("offset", 0.5))),
    "squareplus": JaxName("squareplus", (("b", "b", 4.0),)),
    "swish": JaxName("silu"),
    "tanh": JaxName("tanh"),
}
"""Every activation of ``jax.nn`` and what it is in the catalog (a test holds this to ``jax.nn``)."""

NOT_ACTIVATIONS: tuple[str, ...] = (
    "dot_product_attention",
    "get_scaled_dot_general_config",
    "initializers",
    "log1mexp",
    "logmeanexp",
    "logsumexp",
    "one_hot",
    "scaled_dot_general",
    "scaled_matmul",
    "standardize",
)
"""What else ``jax.nn`` holds: reductions, encodings, attention and initialisers, passed through."""


def _catalog_value(key: str, value: Any) -> Any:
    """A ``jax.nn`` argument as the catalog parameter takes it (gelu's approximate: bool → name)."""
    if key == "approximate":
        return "tanh" if value else "none"
    if key == "dim" and not isinstance(value, int):
        raise InvalidParameterError(f"axis must be one integer here, not {value!r}")
    return value


def resolve(name: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any], Any]:
    """(catalog entry, its parameters, the mask or None) for ``jax.nn``'s ``name`` called with ``kwargs``."""
    info = JAX_NN.get(name)
    if info is None:
        raise UnknownActivationError(f"jax.nn has no activation {name!r}{suggest(name, JAX_NN)}")
    known = {a for a, _, _ in info.arguments} | ({"where"} if info.masked else set())
    extra = set(kwargs) - known
    if extra:
        raise InvalidParameterError(
            f"jax.nn.{name} takes no argument {sorted(extra)[0]!r}; it takes: {', '.join(sorted(known)) or 'none'}"
        )
    params = dict(info.fixed)
    for arg, key, default in info.arguments:
        params[key] = _catalog_value(key, kwargs.get(arg, default))
    return info.entry, params, kwargs.get("where")


def _make(name: str) -> Callable[..., Any]:
    from . import get

    def fn(x: Any, /, **kwargs: Any) -> Any:
        entry, params, where = resolve(name, kwargs)
        if where is not None:  # masked entries are -inf logits: softmax 0 there, log_softmax -inf
            x = jnp.where(where, x, -jnp.inf)
        return get(entry, **params)(x)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``jax.nn.{name}``, computed by the catalog's {JAX_NN[name].entry!r} (see actlab.jax.nn)."
    return fn


def __getattr__(name: str) -> Any:
    if name in JAX_NN:
        fn = _make(name)
        globals()[name] = fn
        return fn
    if name in NOT_ACTIVATIONS:
        return getattr(jax.nn, name)
    raise AttributeError(f"jax.nn has no activation {name!r}{suggest(name, JAX_NN)}")


def __dir__() -> list[str]:
    return sorted([*JAX_NN, *NOT_ACTIVATIONS, "JAX_NN", "NOT_ACTIVATIONS", "JaxName", "native", "resolve"])


def _jax_value(key: str, value: Any) -> Any:
    """A catalog parameter as ``jax.nn``'s argument takes it (the inverse of :func:`_catalog_value`)."""
    return value == "tanh" if key == "approximate" else value


def native(entry: str, params: dict[str, Any]) -> Callable[[Any], Any] | None:
    """``jax.nn``'s own function computing the catalog's ``entry`` at ``params``, or None where it has none
    (a parameter ``jax.nn`` cannot set is not at its default: softplus's β, softmax's temperature).

    >>> native("gelu", {"approximate": "none"}).keywords, native("softplus", {"beta": 2.0}) is None
    ({'approximate': False}, True)
    """
    spec = registry.spec(entry)
    bound = vars(spec.bind(params))
    defaults = vars(spec.defaults())
    for name, info in JAX_NN.items():
        if info.entry != spec.name or any(bound[k] != v for k, v in info.fixed):
            continue
        set_by_jax = {key for _, key, _ in info.arguments} | {k for k, _ in info.fixed}
        if any(bound[k] != defaults[k] for k in bound if k not in set_by_jax):
            continue
        return functools.partial(getattr(jax.nn, name), **{a: _jax_value(k, bound[k]) for a, k, _ in info.arguments})
    return None
