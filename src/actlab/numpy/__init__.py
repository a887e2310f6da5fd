"""The NumPy reference backend: exact, warning-free, dtype-preserving evaluation of any spec.

Every activation is evaluated in float64 through the catalog's stable formulas and
rounded once to the input's dtype, so float16 and float32 results are within one
ulp of the true value, and float64 results within a few ulp (the bound the tests
check against mpmath).  No input raises a RuntimeWarning: ±inf give the exact
limits, NaN gives NaN.  A float16 or float32 result needs 24 of float64's 53 bits,
so its formulas run against :data:`~actlab.namespaces.numpy_ns_narrow`, whose shared
building blocks take cheaper forms that keep more than 38 (x − tanh x directly
above 2^-6, σ as one ratio, ...); a float64 result gets the full forms.

>>> import actlab
>>> gelu = actlab.get("gelu")
>>> gelu([-1.0, 0.0, 1.0])
array([-0.15865525,  0.        ,  0.84134475])
>>> actlab.get("leaky_relu", negative_slope=0.1).derivative([-2.0, 3.0])
array([0.1, 1. ])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..catalog import registry
from ..catalog.spec import Elementwise, Params, Spec
from ..namespaces import numpy_ns, numpy_ns_for
from ._engine import BLOCK, NARROW_BLOCK, check_out, evaluate, get_threads, set_threads

ROW_BLOCK = 32768
"""Elements per block of rows for the vector kinds (softmax, log_softmax, the gated family along the last
axis): four times the elementwise engine's block, as each block runs some twenty NumPy calls from Python;
softmax, log_softmax and geglu of 2048 × 1024 float32 ran 1.7-1.9× faster than with 8192 (65536 and 131072
no faster again)."""

__all__ = ["Activation", "as_float_array", "get", "get_threads", "set_threads"]

_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def as_float_array(x: Any, what: str = "input") -> tuple[np.ndarray, np.dtype]:
    """``x`` as an array and the float dtype results take: float16/32/64 kept, integers -> float64."""
    try:
        a = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise TypeError(f"the {what} must be an array of real numbers: {exc}") from None
    kind = a.dtype.kind
    if kind in "biu":
        return a.astype(np.float64), np.dtype(np.float64)
    if kind == "f" and a.dtype in _FLOATS:
        return a, a.dtype
    if kind == "f":
        raise TypeError(f"the {what} has dtype {a.dtype}; actlab evaluates float16, float32 and float64")
    raise TypeError(
        f"the {what} must hold real numbers (float or integer); got dtype {a.dtype}"
        + (" (complex numbers are not supported)" if kind == "c" else "")
    )


def _finish(y: Any, dtype: np.dtype, shape: tuple[int, ...], out: np.ndarray | None) -> Any:
    y = np.broadcast_to(np.asarray(y), shape).astype(dtype, copy=False)
    if out is None:
        return y[()] if y.ndim == 0 else (y if y.flags.writeable else y.copy())
    np.copyto(check_out(out, y.shape, y.dtype), y, casting="same_kind")
    return out


def _representable(params: dict[str, Any], dtype: np.dtype) -> bool:
    """True when every float parameter is exactly a value of ``dtype`` (so narrow evaluation sees it unrounded)."""
    with np.errstate(all="ignore"):
        return all(
            float(dtype.type(v)) == v for v in params.values() if isinstance(v, float) and not isinstance(v, bool)
        )


def _propagate_nan(x: np.ndarray, y: Any) -> Any:
    """NaN in, NaN out, whatever the formula made of it (comparisons send NaN down a branch)."""
    nan = np.isnan(x)
    if nan.any():
        y = np.where(nan, np.nan, y)
    return y


class Activation:
    """An activation of the catalog bound to its parameter values, evaluated with NumPy.

    Call it for f(x); ``derivative`` gives f'(x) for elementwise activations,
    ``vjp(x, g)`` the vector-Jacobian product (the gradient of ``sum(g * f(x))``)
    and ``jacobian(x)`` the full Jacobian J[..., i, j] = d f_i / d x_j along the
    activation's axis (the last axis for elementwise ones).
    """

    __slots__ = ("_p", "_plans", "spec")

    def __init__(self, spec: Spec, params: Params) -> None:
        self.spec = spec
        self._p = params
        self._plans: dict[tuple[str, np.dtype], tuple[Any, bool, bool]] = {}

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def params(self) -> dict[str, Any]:
        return dict(vars(self._p))

    @property
    def bound(self) -> Params:
        """The parameters as the formulas see them (attribute access)."""
        return self._p

    def with_params(self, **params: Any) -> Activation:
        """A copy with some parameters changed."""
        return Activation(self.spec, self.spec.bind(self.params, **params))

    def __repr__(self) -> str:
        args = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"Activation({self.name!r}{args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Activation) and (self.spec, self.params) == (other.spec, other.params)

    def __hash__(self) -> int:
        return hash((self.spec.name, tuple(self.params.items())))

    # -- evaluation ------------------------------------------------------------------------

    def _plan(self, what: str, dtype: np.dtype, fast: bool = False) -> tuple[Any, bool, bool, int]:
        """(kernel, widen, nan_fix, block) for evaluating f ("f"), f' ("f'") or both ("f,f'") on ``dtype``."""
        key = (what, dtype, fast)
        plan = self._plans.get(key)
        if plan is None:
            spec, p = self.spec, self._p
            assert isinstance(spec, Elementwise)
            parts = what.split(",")
            narrow = all(w in spec.narrow for w in parts) and _representable(self.params, dtype)
            widen = not fast and not narrow
            # float64 arithmetic for a float32/float16 result lets the shared helpers take cheaper
            # forms (numpy_ns_narrow); the fast mode computes in the input's type and needs them all
            ns = numpy_ns_for(dtype) if widen else numpy_ns
            if what == "f":
                kernel = lambda b: (spec.forward(b, p, ns),)  # noqa: E731
            elif what == "f'":
                kernel = lambda b: (spec.derivative(b, p, ns),)  # noqa: E731
            else:
                kernel = lambda b: spec.value_and_derivative(b, p, ns)  # noqa: E731
            with np.errstate(all="ignore"):
                probe = kernel(np.array([np.nan]))
            nan_fix = not all(np.isnan(np.asarray(r)).all() for r in probe)
            plan = self._plans[key] = (kernel, widen, nan_fix, NARROW_BLOCK if narrow else BLOCK)
        return plan

    def __call__(self, x: Any, out: np.ndarray | None = None, *, threads: int | None = None, fast: bool = False) -> Any:
        """f(x), rounded once to the input's dtype; ``out=`` writes into an existing array.

        Elementwise activations run block by block (see :mod:`actlab.numpy._engine`):
        one pass over memory, optionally on ``threads`` threads.  ``fast=True`` computes
        float16/float32 input in its own precision instead of float64: up to 2.2× faster
        where the formula is transcendental (3.6× for snake's sines), no faster for gelu,
        silu, mish, tanhshrink and xielu, whose exact path already takes the cheaper forms
        of a float32 result (``actlab bench``, 16M float32, one thread); it costs a few
        ulp for f and more for f' near its zeros (``actlab accuracy --fast`` measures
        it); float64 input is unaffected.
        """
        a, dtype = as_float_array(x)
        if isinstance(self.spec, Elementwise):
            kernel, widen, nan_fix, block = self._plan("f", dtype, fast)
            return evaluate(kernel, a, dtype, (out,), threads, widen=widen, nan_fix=nan_fix, block=block)[0]
        self.spec.check_shape(a.shape, self._p)
        shape = self.spec.out_shape(a.shape, self._p)
        y = self._in_row_blocks(lambda p, xb: self.spec.apply(xb, p, numpy_ns), (a,), shape[-1], dtype)
        if y is not None:
            return _finish(y.reshape(shape), dtype, shape, out)
        with np.errstate(all="ignore"):
            x64 = a.astype(np.float64, copy=False)
            y = self.spec.apply(x64, self._p, numpy_ns)
            return _finish(y, dtype, self.spec.out_shape(a.shape, self._p), out)

    def _in_row_blocks(self, fn: Any, arrays: tuple[np.ndarray, ...], width: int, dtype: np.dtype) -> Any:
        """For a vector kind working along the last axis of a large array, ``fn(params with dim=-1,
        *row blocks in float64)`` a cache-sized block of rows at a time into one (rows, width)
        array of ``dtype``; None when the array is small or the axis is not the last."""
        a = arrays[0]
        axis = self.spec.axis(self._p)
        if axis is None or a.ndim < 2 or a.size <= BLOCK or axis % a.ndim != a.ndim - 1:
            return None
        p_last = self.spec.bind(self.params, dim=-1) if "dim" in self.params else self._p
        step = max(1, ROW_BLOCK // a.shape[-1])
        flats = [v.reshape(-1, v.shape[-1]) for v in arrays]
        y = np.empty((flats[0].shape[0], width), dtype)
        with np.errstate(all="ignore"):
            for i in range(0, y.shape[0], step):
                y[i : i + step] = fn(p_last, *(f[i : i + step].astype(np.float64) for f in flats))
        return y

    def derivative(
        self, x: Any, out: np.ndarray | None = None, *, threads: int | None = None, fast: bool = False
    ) -> Any:
        """f'(x) elementwise, with the derivative at each kink stated in the spec."""
        self._elementwise("derivative")
        a, dtype = as_float_array(x)
        kernel, widen, nan_fix, block = self._plan("f'", dtype, fast)
        return evaluate(kernel, a, dtype, (out,), threads, widen=widen, nan_fix=nan_fix, block=block)[0]

    def value_and_derivative(
        self,
        x: Any,
        out: np.ndarray | None = None,
        dout: np.ndarray | None = None,
        *,
        threads: int | None = None,
        fast: bool = False,
    ) -> tuple[Any, Any]:
        """(f(x), f'(x)) in one pass over ``x``: what a forward-and-backward step needs.

        Both come from the same float64 block while it is in cache, and entries that
        share work between f and f' (σ in SiLU, Φ in GELU, ...) compute it once.

        >>> y, dy = get("silu").value_and_derivative([0.0, 2.0])
        >>> y, dy
        (array([0.        , 1.76159416]), array([0.5       , 1.09078425]))
        """
        self._elementwise("value_and_derivative")
        a, dtype = as_float_array(x)
        kernel, widen, nan_fix, block = self._plan("f,f'", dtype, fast)
        y, d = evaluate(
            kernel, a, dtype, (out, dout), threads, ("out", "dout"), widen=widen, nan_fix=nan_fix, block=block
        )
        return y, d

    def _elementwise(self, what: str) -> tuple[Elementwise, Params]:
        if not isinstance(self.spec, Elementwise):
            raise TypeError(
                f"{self.name} is not elementwise (kind: {self.kind}): its derivative is a Jacobian; "
                "use .vjp(x, g) or .jacobian(x)" + ("" if what == "derivative" else f" instead of .{what}")
            )
        return self.spec, self._p

    def vjp(self, x: Any, g: Any) -> Any:
        """The vector-Jacobian product gᵀ J(x): the gradient of sum(g * f(x)) with respect to x."""
        a, xdtype = as_float_array(x)
        ga, gdtype = as_float_array(g, "cotangent g")
        dtype = np.result_type(xdtype, gdtype)
        self.spec.check_shape(a.shape, self._p)
        out_shape = self.spec.out_shape(a.shape, self._p)
        if isinstance(self.spec, Elementwise):
            try:
                shape = np.broadcast_shapes(a.shape, ga.shape)
            except ValueError:
                raise ValueError(f"g of shape {ga.shape} does not broadcast with x of shape {a.shape}") from None
            a, ga = np.broadcast_to(a, shape), np.broadcast_to(ga, shape)
        elif ga.shape != out_shape:
            raise ValueError(f"g must have the output's shape {out_shape}; got {ga.shape}")
        else:
            shape = a.shape
        if not isinstance(self.spec, Elementwise):
            v = self._in_row_blocks(lambda p, xb, gb: self.spec.vjp(xb, gb, p, numpy_ns), (a, ga), a.shape[-1], dtype)
            if v is not None:
                return _finish(v.reshape(shape), dtype, shape, None)
        with np.errstate(all="ignore"):
            x64 = a.astype(np.float64, copy=False)
            g64 = ga.astype(np.float64, copy=False)
            v = self.spec.vjp(x64, g64, self._p, numpy_ns)
            if isinstance(self.spec, Elementwise):
                v = _propagate_nan(x64, v)
            return _finish(v, dtype, shape, None)

    def jacobian(self, x: Any) -> np.ndarray:
        """J[..., i, j] = d f_i / d x_j, the activation's axis moved last (diagonal for elementwise)."""
        a, dtype = as_float_array(x)
        if a.ndim == 0:
            a = a.reshape(1)
        self.spec.check_shape(a.shape, self._p)
        with np.errstate(all="ignore"):
            x64 = a.astype(np.float64, copy=False)
            full = getattr(self.spec, "full_jacobian", None)
            if isinstance(self.spec, Elementwise):
                d = _propagate_nan(x64, self.spec.derivative(x64, self._p, numpy_ns))
                j = np.asarray(d)[..., :, None] * np.eye(a.shape[-1])
            elif full is not None:
                j = full(x64, self._p, numpy_ns)
            else:
                j = _jacobian_from_vjp(self.spec, x64, self._p)
            return np.asarray(j).astype(dtype, copy=False)


def _jacobian_from_vjp(spec: Spec, x: np.ndarray, p: Params) -> np.ndarray:
    """Build the Jacobian row by row from the VJP with one-hot cotangents."""
    axis = spec.axis(p)
    assert axis is not None
    axis %= x.ndim
    out_shape = spec.out_shape(x.shape, p)
    rows = []
    for i in range(out_shape[axis]):
        g = np.zeros(out_shape)
        index = [slice(None)] * x.ndim
        index[axis] = i  # type: ignore[call-overload]
        g[tuple(index)] = 1.0
        rows.append(np.moveaxis(spec.vjp(x, g, p, numpy_ns), axis, -1))
    return np.stack(rows, axis=-2)


def get(name: str | Activation, /, **params: Any) -> Activation:
    """The activation called ``name`` (any alias, any case) bound to ``params``.

    >>> get("leaky_relu", negative_slope=0.1)
    Activation('leaky_relu', negative_slope=0.1)
    """
    if isinstance(name, Activation):
        return name.with_params(**params) if params else name
    spec = registry.spec(name)
    return Activation(spec, spec.bind(params))
