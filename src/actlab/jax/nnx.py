"""Flax NNX modules: any catalog activation (learnable parameters as ``nnx.Param``), Flax's ``PReLU``,
maxout and the gated feed-forward block.

Learnable parameters keep their domain as in the PyTorch backend (:mod:`actlab.learnable`): a
parameter that must be positive is stored raw as ``<name>_raw`` and used as softplus(raw); an
unconstrained one under its own name.  ``num_parameters=1`` shares each parameter over the input;
C gives one per channel, channels being the last axis (Flax's NHWC convention).

>>> import jax.numpy as jnp
>>> from actlab.jax import nnx as ann
>>> act = ann.Activation("swish_beta", learnable=True, beta=1.5)
>>> round(float(act.values()["beta"][0]), 6), act(jnp.ones((2, 3))).shape
(1.5, (2, 3))
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

try:
    from flax import nnx
except ImportError:  # pragma: no cover - exercised where Flax is absent
    raise ImportError("actlab.jax.nnx needs Flax: pip install 'actlab[jax]'") from None

from .. import learnable as rule
from ..catalog import registry
from ..errors import InvalidParameterError
from . import _elementwise, _lookup, get

__all__ = ["Activation", "GatedFFN", "Maxout", "PReLU"]


class Activation(nnx.Module):
    """A catalog activation as a Flax NNX module.

    Parameters
    ----------
    name : a catalog name, an alias, a ``jax.nn`` name or a formula.
    learnable : False (default), True for every parameter the catalog marks learnable, or the names
        of those to learn; they become ``nnx.Param``s, trained with the catalog's ∂f/∂θ.
    num_parameters : with ``learnable``, 1 shares each parameter; C gives one per channel (last axis).
    param_dtype : the dtype of the learnable parameters (float32).
    **params : the activation's parameters (the initial values of learnable ones).

    Shape: any, for elementwise activations; along ``dim`` the gated family halves the size, maxout
    divides it by ``pieces``.
    """

    def __init__(
        self,
        name: str,
        *,
        learnable: bool | tuple[str, ...] | list[str] = False,
        num_parameters: int = 1,
        param_dtype: Any = jnp.float32,
        **params: Any,
    ) -> None:
        spec, params = _lookup(name, params)
        bound = vars(spec.bind(params))
        if isinstance(learnable, bool) and not learnable:
            learned: tuple[str, ...] = ()
        else:
            learned = rule.names(spec, learnable)
        if isinstance(num_parameters, bool) or int(num_parameters) != num_parameters or num_parameters < 1:
            raise InvalidParameterError(
                f"{spec.name}: num_parameters must be a positive integer; got {num_parameters!r}"
            )
        self.name = spec.name
        self.learned = learned
        self.num_parameters = int(num_parameters)
        self.static = tuple(sorted((k, v) for k, v in bound.items() if k not in learned))
        self.initial = tuple((k, bound[k]) for k in learned)
        for key in learned:
            raw = rule.to_raw(spec, key, bound[key], bound)
            value = jnp.full((self.num_parameters,), raw, param_dtype)
            setattr(self, rule.stored_name(spec, key, bound), nnx.Param(value))

    @property
    def spec(self) -> Any:
        return registry.spec(self.name)

    @property
    def params(self) -> dict[str, Any]:
        """The parameter values (learnable ones at their initial values; see :meth:`values`)."""
        return {**dict(self.static), **dict(self.initial)}

    def values(self) -> dict[str, jax.Array]:
        """The learnable parameters' constrained values (what the formula sees)."""
        spec, bound, out = self.spec, self.params, {}
        for key in self.learned:
            raw = getattr(self, rule.stored_name(spec, key, bound))[...]
            low = rule.floor(spec, key, bound)
            if low is None:
                out[key] = raw
                continue
            value = low + jax.nn.softplus(raw)
            # an open bound: softplus can underflow to 0 in floating point, 1/α must stay finite
            out[key] = jnp.maximum(value, jnp.finfo(raw.dtype).tiny) if rule.open_floor(spec, key) else value
        return out

    def __call__(self, x: jax.Array) -> jax.Array:
        if not self.learned:
            return get(self.name, **dict(self.static))(x)
        if self.num_parameters > 1 and (jnp.ndim(x) < 1 or jnp.shape(x)[-1] != self.num_parameters):
            raise ValueError(
                f"{self.name}: {self.num_parameters} parameters need the input's last axis to have that size; "
                f"got shape {tuple(jnp.shape(x))}"
            )
        values = self.values()
        theta = [v if self.num_parameters > 1 else v.reshape(()) for v in (values[k] for k in sorted(self.learned))]
        return _elementwise(self.name, self.static, tuple(sorted(self.learned)))(x, *theta)


class PReLU(nnx.Module):
    """Flax's ``nnx.PReLU`` (one learnable slope ``negative_slope`` for x < 0), computed by the
    catalog's ``prelu``: the same constructor and parameter name, so it replaces Flax's as it is."""

    def __init__(self, param_dtype: Any = jnp.float32, negative_slope_init: float = 0.01) -> None:
        self.negative_slope = nnx.Param(jnp.asarray(negative_slope_init, dtype=param_dtype))

    def __call__(self, x: jax.Array) -> jax.Array:
        return _elementwise("prelu", (), ("weight",))(x, self.negative_slope[...])


class Maxout(nnx.Module):
    """A maxout layer: y_j = max_k (W_{jk} x + b_{jk}), k = 1..pieces (ties send the gradient to the
    first maximal piece).  Shape: (..., in_features) -> (..., out_features)."""

    def __init__(
        self, in_features: int, out_features: int, pieces: int = 2, *, use_bias: bool = True, rngs: nnx.Rngs
    ) -> None:
        if isinstance(pieces, bool) or int(pieces) != pieces or pieces < 1:
            raise InvalidParameterError(f"maxout: pieces must be a positive integer; got {pieces!r}")
        self.pieces = int(pieces)
        self.linear = nnx.Linear(in_features, out_features * self.pieces, use_bias=use_bias, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return get("maxout", pieces=self.pieces, dim=-1)(self.linear(x))


class GatedFFN(nnx.Module):
    """The gated feed-forward block of LLaMA-style transformers, as :class:`actlab.torch.GatedFFN`.

    y = W_down (act(W_gate x) ⊙ W_up x), with ``activation`` the gate: an elementwise name (``"silu"``
    makes SwiGLU, ``"gelu"`` GeGLU) or a gated entry (``"swiglu"``, ``"geglu"``, ``"reglu"``,
    ``"glu"``, ``"bilinear"``).  W_up and W_gate are one fused layer of 2·d_hidden outputs,
    [up | gate], split by the gated activation.  ``kernel_init`` (both layers; Flax's
    default when None) can be :func:`actlab.jax.init.variance_scaling` with the gate's own gain.

    Shape: (..., d_model) -> (..., d_model).
    """

    def __init__(
        self,
        d_model: int,
        d_hidden: int,
        activation: str = "silu",
        *,
        use_bias: bool = False,
        kernel_init: Any = None,
        rngs: nnx.Rngs,
    ) -> None:
        gated, self.gate_name = registry.gated_pair(activation)
        self.gated = gated
        init = {} if kernel_init is None else {"kernel_init": kernel_init}
        self.up_gate = nnx.Linear(d_model, 2 * d_hidden, use_bias=use_bias, rngs=rngs, **init)
        self.down = nnx.Linear(d_hidden, d_model, use_bias=use_bias, rngs=rngs, **init)

    def __call__(self, x: jax.Array) -> jax.Array:
        h = self.up_gate(x)
        if self.gated is not None:
            return self.down(get(self.gated)(h))
        a, b = jnp.split(h, 2, axis=-1)  # a gate with no gated entry of its own: a ⊙ act(b)
        return self.down(a * get(self.gate_name)(b))
