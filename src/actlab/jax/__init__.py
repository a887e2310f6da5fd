"""The JAX backend: every catalog entry as a function of a ``jax.Array``.

The catalog's own formulas run on a JAX namespace (:func:`actlab.namespaces.jax_ns`), and the
catalog's hand-written derivative is attached: by ``jax.custom_jvp`` for elementwise entries (``grad``,
``vmap``, ``jit``, forward mode and higher derivatives; the first derivative is the catalog's stable
f′, not autodiff of the stable forward: σ′ as σ(x)σ(−x), never s(1 − s)), by ``jax.custom_vjp`` for
softmax, the gated family and maxout (their vector-Jacobian products).  float16 and bfloat16 are
computed in float32 and rounded once; float32 in float32; float64 under ``jax_enable_x64``.
Parameters are static (bound when the function is made) except learnable ones passed as arrays,
which are traced and get the catalog's ∂f/∂θ.

Beside :func:`get` and :data:`functional`: :mod:`actlab.jax.nn` (``jax.nn``'s activations with its
names and defaults), :mod:`actlab.jax.nnx` (Flax NNX modules, learnable parameters as
``nnx.Param``) and :mod:`actlab.jax.init` (initialisers with the activation's own gain).

>>> import jax.numpy as jnp, actlab.jax as aj
>>> silu = aj.get("silu")
>>> [round(float(v), 6) for v in silu(jnp.array([-1.0, 0.0, 2.0]))]
[-0.268941, 0.0, 1.761594]
>>> import jax
>>> f"{float(jax.grad(aj.get('sigmoid'))(jnp.float32(20.0))):.5g}"  # s(1 − s) would give 0 here
'2.0612e-09'
>>> aj.get("swiglu")(jnp.ones((2, 4))).shape  # the gated family halves the last axis
(2, 2)
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
from ..errors import InvalidParameterError, UnknownActivationError
from ..namespaces import jax_ns

__all__ = ["functional", "get", "init", "nn"]

_NARROW = ("float16", "bfloat16")


def _widened(x: Any) -> tuple[Any, Any]:
    """``x`` as a floating array in the type it is computed in, and the type the result is rounded to:
    float16/bfloat16 are computed in float32; an integer input is taken as the default float."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    work = jnp.float32 if str(x.dtype) in _NARROW else x.dtype
    return x.astype(work), x.dtype


def _compute(fn: Any, x: Any, p: Any) -> Any:
    """``fn(x, p, xp)`` in the precision of ``x``: float16/bfloat16 computed in float32, rounded once."""
    xw, out = _widened(x)
    y = jnp.asarray(fn(xw, p, jax_ns(xw.dtype)), dtype=xw.dtype)
    y = jnp.where(jnp.isnan(xw), xw, y)  # NaN in, NaN out, whatever a formula's selections do with it
    return y.astype(out)


def _compute_pair(fn: Any, x: Any, p: Any) -> tuple[Any, Any]:
    """(f, f′) from ``fn(x, p, xp)`` computed together (the spec's fused pair shares their work),
    each as :func:`_compute` gives it."""
    xw, out = _widened(x)
    y, d = fn(xw, p, jax_ns(xw.dtype))
    nan = jnp.isnan(xw)
    return tuple(jnp.where(nan, xw, jnp.asarray(v, dtype=xw.dtype)).astype(out) for v in (y, d))  # type: ignore[return-value]


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
        y, d = _compute_pair(spec.value_and_derivative, x, p)
        out = d * tx
        for key, t in zip(learned, tt, strict=True):
            out = out + _compute(spec.param_derivatives[key], x, p) * t
        return y, out

    f.__name__ = spec.name
    return f


@functools.lru_cache(maxsize=512)
def _vector(name: str, static: tuple[tuple[str, Any], ...]) -> Callable[[Any], Any]:
    """A softmax, gated or pooled entry: its forward, and its hand-written vector-Jacobian product by
    ``jax.custom_vjp`` (reverse mode: ``grad``, ``vjp``, ``vmap`` and ``jit``; grad of grad
    differentiates the catalog's VJP)."""
    spec = registry.spec(name)
    p = SimpleNamespace(**dict(static))

    @jax.custom_vjp
    def f(x: Any) -> Any:
        xw, out = _widened(x)
        return jnp.asarray(spec.apply(xw, p, jax_ns(xw.dtype)), dtype=xw.dtype).astype(out)

    def fwd(x: Any) -> tuple[Any, Any]:
        return f(x), x

    def bwd(x: Any, g: Any) -> tuple[Any]:
        xw, _ = _widened(x)
        gw = jnp.asarray(g).astype(xw.dtype)
        return (jnp.asarray(spec.vjp(xw, gw, p, jax_ns(xw.dtype)), dtype=xw.dtype).astype(jnp.asarray(x).dtype),)

    f.defvjp(fwd, bwd)

    def call(x: Any) -> Any:
        spec.check_shape(tuple(jnp.shape(x)), p)  # shapes are static under jit: checked as it traces
        return f(x)

    call.__name__ = spec.name
    return call


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


def _function(spec: Any, params: dict[str, Any]) -> Callable[[Any], Any]:
    """The entry with ``params`` bound: numbers static, learnable arrays traced."""
    if not isinstance(spec, Elementwise):
        return _vector(spec.name, tuple(sorted(vars(spec.bind(params)).items())))
    fixed, learned, theta = _split(spec, params)
    fn = _elementwise(spec.name, fixed, learned)
    if not learned:
        return fn
    return lambda x: fn(x, *theta)


def get(name: str, /, **params: Any) -> Callable[[Any], Any]:
    """The activation ``name`` (a catalog name, an alias, a ``jax.nn`` name or a formula) with
    ``params`` bound, as a function of an array.  Parameters are numbers (static under ``jit``);
    a learnable one may be an array, traced, with the catalog's ∂f/∂θ — or use :data:`functional`."""
    spec, params = _lookup(name, params)
    return _function(spec, params)


def _lookup(name: str, params: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The catalog entry of ``name``; a ``jax.nn`` name the catalog lacks (``sparse_sigmoid``) as
    :data:`actlab.jax.nn.JAX_NN` maps it; an unknown name is the catalog's did-you-mean error."""
    try:
        return registry.spec(name), params
    except UnknownActivationError:
        from .nn import JAX_NN

        info = JAX_NN.get(name)
        if info is None:
            raise
        return registry.spec(info.entry), {**dict(info.fixed), **params}


class _Functional(ModuleType):
    """``actlab.jax.functional.<name>(x, **params)``: any entry; learnable parameters may be arrays (traced)."""

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("__"):
            raise AttributeError(name)
        spec, fixed = _lookup(name, {})

        def call(x: Any, **params: Any) -> Any:
            return _function(spec, {**fixed, **params})(x)

        call.__name__ = spec.name
        return call

    def __dir__(self) -> list[str]:
        return registry.names()


functional = _Functional("actlab.jax.functional")

from . import init, nn  # noqa: E402  (they use get and functional)
