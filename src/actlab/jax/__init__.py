"""The JAX backend: every elementwise catalog entry as a function of a ``jax.Array``.

The catalog's own formulas run on a JAX namespace (:func:`actlab.namespaces.jax_ns`), and the
catalog's hand-written derivative is attached with ``jax.custom_jvp``: ``jax.grad``, ``jax.vmap``,
``jax.jit`` and higher derivatives work, and the first derivative is the catalog's stable f′, not
autodiff of the stable forward (σ′ as σ(x)σ(−x), never s(1 − s)).  float16 and bfloat16 are computed
in float32 and rounded once; float32 in float32; float64 under ``jax_enable_x64``.  Parameters are
static (bound when the function is made) except learnable ones passed as arrays to
:data:`functional`, which are traced and get the catalog's ∂f/∂θ.

>>> import jax.numpy as jnp, actlab.jax as aj
>>> silu = aj.get("silu")
>>> [round(float(v), 6) for v in silu(jnp.array([-1.0, 0.0, 2.0]))]
[-0.268941, 0.0, 1.761594]
>>> import jax
>>> round(float(jax.grad(aj.get("sigmoid"))(jnp.float32(20.0))), 12)  # s(1 − s) would give 0 here
2e-09
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

try:
    import jax
    import jax.numpy as jnp
except ImportError:  # pragma: no cover - exercised where JAX is absent
    raise ImportError("actlab.jax needs JAX: pip install 'actlab[jax]'") from None

from ..catalog import registry
from ..catalog.spec import Elementwise
from ..errors import ActlabError, InvalidParameterError
from ..namespaces import jax_ns

__all__ = ["functional", "get"]

_NARROW = ("float16", "bfloat16")


def _compute(fn: Any, x: Any, p: Any) -> Any:
    """``fn(x, p, xp)`` in the precision of ``x``: float16/bfloat16 computed in float32, rounded once."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    out_dtype = x.dtype
    work = jnp.float32 if str(out_dtype) in _NARROW else out_dtype
    xw = x.astype(work)
    y = jnp.asarray(fn(xw, p, jax_ns(work)), dtype=work)
    y = jnp.where(jnp.isnan(xw), xw, y)  # NaN in, NaN out, whatever a formula's selections do with it
    return y.astype(out_dtype)


@functools.lru_cache(maxsize=512)
def _elementwise(name: str, static: tuple[tuple[str, Any], ...], learned: tuple[str, ...]) -> Callable[..., Any]:
    spec = registry.spec(name)
    assert isinstance(spec, Elementwise)

    def params(theta: tuple[Any, ...]) -> SimpleNamespace:
        return SimpleNamespace(**dict(static), **dict(zip(learned, theta, strict=True)))

    @jax.custom_jvp
    def f(x: Any, *theta: Any) -> Any:
        return _compute(spec.forward, x, params(theta))

    @f.defjvp
    def f_jvp(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
        x, *theta = primals
        tx, *tt = tangents
        p = params(tuple(theta))
        y = _compute(spec.forward, x, p)
        out = _compute(spec.derivative, x, p) * tx
        for key, t in zip(learned, tt, strict=True):
            out = out + _compute(spec.param_derivatives[key], x, p) * t
        return y, out

    f.__name__ = spec.name
    return f


def _split(spec: Any, params: dict[str, Any]) -> tuple[tuple[tuple[str, Any], ...], tuple[str, ...], tuple[Any, ...]]:
    """Static parameters (validated, defaults filled in), and the learnable ones given as arrays."""
    traced = {k: v for k, v in params.items() if isinstance(v, (jax.Array, jax.core.Tracer))}
    for key in traced:
        q = spec.param(key)
        if not q.learnable:
            raise InvalidParameterError(
                f"{spec.name}: {key!r} is not learnable, so it must be a number, not an array; learnable: "
                f"{', '.join(p.name for p in spec.params if p.learnable) or 'none'}"
            )
    static = {k: v for k, v in params.items() if k not in traced}
    defaults = {q.name: q.default for q in spec.params if q.name in traced}
    bound = vars(spec.bind({**static, **defaults}))
    learned = tuple(sorted(traced))
    fixed = tuple(sorted((k, v) for k, v in bound.items() if k not in traced))
    return fixed, learned, tuple(traced[k] for k in learned)


def get(name: str, /, **params: Any) -> Callable[[Any], Any]:
    """The activation ``name`` (any alias or formula) with static ``params``, as a function of an array."""
    spec = registry.spec(name)
    if not isinstance(spec, Elementwise):
        raise ActlabError(f"{spec.name} is a {spec.kind} activation; the JAX backend serves elementwise ones so far")
    fixed, learned, _ = _split(spec, params)
    if learned:
        raise InvalidParameterError(
            f"{spec.name}: get() binds numbers; pass arrays to actlab.jax.functional.{spec.name}"
        )
    return functools.partial(_elementwise(spec.name, fixed, ()))


class _Functional(ModuleType):
    """``actlab.jax.functional.<name>(x, **params)``: learnable parameters may be arrays (traced)."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        spec = registry.spec(name)
        if not isinstance(spec, Elementwise):
            raise ActlabError(
                f"{spec.name} is a {spec.kind} activation; the JAX backend serves elementwise ones so far"
            )

        def call(x: Any, **params: Any) -> Any:
            fixed, learned, theta = _split(spec, params)
            return _elementwise(spec.name, fixed, learned)(x, *theta)

        call.__name__ = spec.name
        return call

    def __dir__(self) -> list[str]:
        return registry.names(kind="elementwise")


functional = _Functional("actlab.jax.functional")
