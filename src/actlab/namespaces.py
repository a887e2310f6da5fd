"""Array namespaces that the catalog's formulas are written against.

A formula calls ``xp.exp``, ``xp.where``, ``xp.ndtr`` ... and never imports an array
library itself, so one formula serves every backend.  :data:`numpy_ns` is the
reference namespace (NumPy plus ``scipy.special``); :func:`mpmath_ns` evaluates the
same names on high-precision scalars for the accuracy oracle, and :func:`torch_ns` on tensors.

The names every one of them has — ``exp expm1 log log1p tanh sin cos sinh cosh arcsinh arctan erf
erfc sqrt hypot abs sign where where_lazy mul0 ones_like maximum minimum clip isnan isinf isfinite
ndtr log_ndtr`` — are what
an elementwise formula, a user's included, may call; the README lists them ("Your own
activation", kept equal to this set by a test).  The vector kinds' helpers (``amax``, ``sum``,
``split_halves``, ``group_max`` ...) exist for NumPy, PyTorch and JAX, not for mpmath.  A function that is
missing is composed from these (σ from ``exp``, erf from ``ndtr``) or branched with ``where``.

Besides the functions, a namespace states its precision: ``wide`` when it computes in
float64, and ``target_bits``, the significand bits of the type its results are rounded
to.  The two differ for float16/float32 input, which the NumPy backend computes in
float64 and rounds once (:data:`numpy_ns_narrow`, ``target_bits=24``): there a shared
building block may take a cheaper form that loses a few of float64's 53 bits, as long
as what is left is far beyond the 24 that survive the rounding (the direct
x − tanh x where the float64 namespace needs a 46-term series, for instance).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import scipy.special as sc


def _split_halves(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[axis]
    a, b = np.split(x, [n // 2], axis=axis)
    return a, b


def _group_view(x: np.ndarray, pieces: int, axis: int) -> tuple[np.ndarray, int]:
    axis = axis % x.ndim
    shape = x.shape[:axis] + (x.shape[axis] // pieces, pieces) + x.shape[axis + 1 :]
    return x.reshape(shape), axis + 1


def _group_max(x: np.ndarray, pieces: int, axis: int) -> np.ndarray:
    grouped, k = _group_view(x, pieces, axis)
    return np.max(grouped, axis=k)


def _group_max_route(x: np.ndarray, g: np.ndarray, pieces: int, axis: int) -> np.ndarray:
    grouped, k = _group_view(x, pieces, axis)
    winner = np.argmax(grouped, axis=k)  # first maximal index; a NaN wins
    onehot = np.arange(pieces).reshape((-1,) + (1,) * (grouped.ndim - k - 1)) == np.expand_dims(winner, k)
    routed = np.where(onehot, np.expand_dims(g, k), 0.0)
    return routed.reshape(x.shape)


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}
_SIGNED = {2: np.int16, 4: np.int32, 8: np.int64}


def _where(cond: Any, a: Any, b: Any) -> Any:
    """np.where without branches: the chosen bits are picked with integer masks.

    np.where branches on every element, and on an unpredictable condition (the sign of
    random data) each mispredicted branch costs more than the arithmetic of a whole
    formula; selecting bits with and/or costs the same whatever the data.
    """
    cond = np.asarray(cond)
    if cond.ndim == 0 or cond.size < 256 or cond.dtype != np.bool_:
        return np.where(cond, a, b)
    dt = np.result_type(a, b)
    if dt.kind != "f" or dt.itemsize not in _UINT:
        return np.where(cond, a, b)
    if np.ndim(a) == 0 and np.ndim(b) == 0:  # two constants: a table lookup
        return np.take(np.array([b, a], dt), cond.view(np.uint8))
    u = _UINT[dt.itemsize]
    a_bits = np.asarray(a, dt).view(u)
    b_bits = np.asarray(b, dt).view(u)
    mask = np.negative(cond.view(np.int8), dtype=_SIGNED[dt.itemsize]).view(u)  # all ones where cond
    if np.broadcast_shapes(cond.shape, a_bits.shape, b_bits.shape) != cond.shape:
        return ((a_bits & mask) | (b_bits & ~mask)).view(dt)
    # b ^ ((a ^ b) & mask), worked in the mask's own buffer: three passes and no new array,
    # a third faster than (a & mask) | (b & ~mask)
    np.bitwise_and(mask, np.bitwise_xor(a_bits, b_bits), out=mask)
    return np.bitwise_xor(mask, b_bits, out=mask).view(dt)


def _hypot(a: Any, b: Any) -> Any:
    """√(a² + b²) as a square root where the squares neither overflow nor underflow (a few ulp, like
    np.hypot, and several times faster); np.hypot itself on the elements where they would."""
    r = np.sqrt(np.multiply(a, a) + np.multiply(b, b))
    if np.ndim(r) == 0:
        return np.hypot(a, b)
    info = np.finfo(r.dtype)
    ok = (r > np.sqrt(info.tiny) / info.eps) & (r < np.sqrt(info.max) / 2)
    if not ok.all():
        bad = ~ok
        shape = r.shape
        r[bad] = np.hypot(np.broadcast_to(a, shape)[bad], np.broadcast_to(b, shape)[bad])
    return r


def _mul0(a: Any, b: Any) -> Any:
    """a * b, with the NaN of inf * 0 replaced by 0; one multiplication unless such a NaN occurs."""
    r = np.multiply(a, b)
    nan = np.isnan(r)
    if nan.any():
        zero = (np.asarray(a) == 0) | (np.asarray(b) == 0)
        r = np.where(nan & zero, 0.0, r)
    return r


def _where_lazy(cond: Any, fn: Any, x: Any, other: Any) -> Any:
    """fn(x) where cond holds, else other; fn runs only on the elements that need it.

    The elements are found once (``flatnonzero``) and gathered and scattered by index: when
    few need fn, that costs a fraction of a pass instead of the two boolean-mask passes.
    """
    cond = np.asarray(cond)
    if not cond.any():
        return other
    x = np.asarray(x)
    if cond.ndim == 0:
        return fn(x)
    out = np.array(np.broadcast_to(other, cond.shape), dtype=np.result_type(other, np.float64))
    idx = np.flatnonzero(cond)
    flat = out.reshape(-1)
    flat[idx] = fn(np.broadcast_to(x, cond.shape).reshape(-1)[idx])
    return out


# Φ (scipy.special.ndtr) and float64 sin/cos stay scalar loops, 27-39 ns an element, against
# 1.4 ns for np.exp.  A vectorised replacement built from ufuncs is no faster: on 8192-element
# float64 blocks one allocation-free ufunc pass costs about 0.65 ns an element, so the 40 passes
# an erfc accurate to float64 needs (two rational pieces with their exp, or a degree-20 polynomial
# in 2/(2 + |x|) and an exp) take 26 ns, as long as ndtr, and a sin with its argument reduction,
# two kernels and the quadrant selection about 70.  Only a compiled kernel would change that.
numpy_ns = SimpleNamespace(
    name="numpy",
    wide=True,  # evaluates in float64
    target_bits=53,  # ... and its results are float64
    exp=np.exp,
    expm1=np.expm1,
    log=np.log,
    log1p=np.log1p,
    tanh=np.tanh,
    sin=np.sin,
    cos=np.cos,
    sinh=np.sinh,
    cosh=np.cosh,
    arcsinh=np.arcsinh,
    arctan=np.arctan,
    erf=sc.erf,
    erfc=sc.erfc,
    sqrt=np.sqrt,
    hypot=_hypot,
    abs=np.abs,
    sign=np.sign,
    where=_where,
    where_lazy=_where_lazy,
    mul0=_mul0,
    ones_like=np.ones_like,
    maximum=np.maximum,
    minimum=np.minimum,
    clip=np.clip,
    isnan=np.isnan,
    isinf=np.isinf,
    isfinite=np.isfinite,
    ndtr=sc.ndtr,
    log_ndtr=sc.log_ndtr,
    amax=lambda x, axis: np.max(x, axis=axis, keepdims=True),
    sum=lambda x, axis: np.sum(x, axis=axis, keepdims=True),
    split_halves=_split_halves,
    concat=lambda parts, axis: np.concatenate(parts, axis=axis),
    group_max=_group_max,
    group_max_route=_group_max_route,
    moveaxis=np.moveaxis,
    eye=np.eye,
)

numpy_ns_narrow = SimpleNamespace(**{**vars(numpy_ns), "name": "numpy-narrow", "target_bits": 24})
""":data:`numpy_ns` for results rounded to float32 or float16: float64 arithmetic, 24 bits kept."""


def numpy_ns_for(dtype: Any) -> SimpleNamespace:
    """The NumPy namespace that evaluates, in float64, results to be rounded to ``dtype``."""
    return numpy_ns if np.dtype(dtype).itemsize >= 8 else numpy_ns_narrow


def mpmath_ns(mp: Any) -> SimpleNamespace:
    """The formula namespace on mpmath scalars (``mp`` is an mpmath context)."""

    def where(cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    def sign(v: Any) -> Any:
        return mp.sign(v)

    def exp_huge(v: Any) -> Any:
        """e^v for |v| far beyond 1e8 (mpmath's exp is slow there): 2^k e^r with r = v - k ln 2."""
        with mp.extradps(int(mp.log10(abs(v))) + 10):
            k = int(mp.floor(v / mp.ln2))
            r = v - k * mp.ln2
        return mp.ldexp(mp.exp(r), k)

    def exp(v: Any) -> Any:
        # a user's formula (e^{-x³} at x = 1e308) meets exponents of 1e924, where mpmath's own exp
        # takes a quarter of a second at the oracle's working precision; the reduction takes milliseconds
        if mp.isfinite(v) and abs(v) > 1e8:
            return exp_huge(v)
        return mp.exp(v)

    def ndtr(v: Any) -> Any:
        # mpmath's erfc overflows for |v| beyond ~1e8; there the asymptotic series is exact to 1e-47
        if abs(v) > 1e8:
            log_tail = -v * v / 2 - mp.log(abs(v) * mp.sqrt(2 * mp.pi))
            tail = exp_huge(log_tail) * (1 - 1 / v**2 + 3 / v**4)
            return tail if v < 0 else 1 - tail
        return mp.ncdf(v)

    def erfc(v: Any) -> Any:
        # as for ndtr: mpmath's erfc fails for |v| beyond ~1e8, where the asymptotic series is exact
        if mp.isfinite(v) and abs(v) > 1e8:
            return 2 * ndtr(-v * mp.sqrt(2))
        return mp.erfc(v)

    def erf(v: Any) -> Any:
        if mp.isfinite(v) and abs(v) > 1e8:
            return mp.sign(v) * (1 - erfc(abs(v)))
        return mp.erf(v)

    return SimpleNamespace(
        name="mpmath",
        wide=True,
        exp=exp,
        expm1=mp.expm1,
        log=mp.log,
        log1p=mp.log1p,
        tanh=mp.tanh,
        sin=mp.sin,
        cos=mp.cos,
        sinh=mp.sinh,
        cosh=mp.cosh,
        arcsinh=mp.asinh,
        arctan=mp.atan,
        erf=erf,
        erfc=erfc,
        sqrt=mp.sqrt,
        hypot=mp.hypot,
        abs=mp.fabs,
        sign=sign,
        where=where,
        where_lazy=lambda cond, fn, v, other: fn(v) if cond else other,
        mul0=lambda a, b: mp.mpf(0) if a == 0 or b == 0 else a * b,
        ones_like=lambda v: mp.mpf(1),
        maximum=max,
        minimum=min,
        clip=lambda v, lo, hi: min(max(v, lo), hi),
        isnan=mp.isnan,
        isinf=mp.isinf,
        isfinite=lambda v: not (mp.isnan(v) or mp.isinf(v)),
        ndtr=ndtr,
        log_ndtr=lambda v: mp.log(ndtr(v)),
    )


def torch_ns(dtype: Any) -> SimpleNamespace:
    """The formula namespace on PyTorch tensors computed in ``dtype``.

    PyTorch's binary functions want tensors where NumPy takes numbers, and
    ``torch.where`` of two Python numbers returns the default dtype: these wrappers
    turn numbers into tensors of ``dtype`` so that float64 stays float64.
    """
    import torch

    def tensor(v: Any) -> Any:
        return v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=dtype)

    def where(cond: Any, a: Any, b: Any) -> Any:
        if not isinstance(a, torch.Tensor) and not isinstance(b, torch.Tensor):
            a = tensor(a)
        return torch.where(cond, a, b)

    def maximum(a: Any, b: Any) -> Any:
        return torch.clamp_min(a, b) if not isinstance(b, torch.Tensor) else torch.maximum(tensor(a), b)

    def minimum(a: Any, b: Any) -> Any:
        return torch.clamp_max(a, b) if not isinstance(b, torch.Tensor) else torch.minimum(tensor(a), b)

    def hypot(a: Any, b: Any) -> Any:
        a, b = tensor(a), tensor(b)
        if dtype == torch.float64:
            return torch.hypot(a, b)
        # below float64, m √(1 + (n/m)²): vectorised by compiled kernels, as torch.hypot is not
        big, small = torch.maximum(a.abs(), b.abs()), torch.minimum(a.abs(), b.abs())
        ratio = torch.where(big == 0, 0.0, small / big)
        return torch.where(torch.isinf(big), big, big * torch.sqrt(1.0 + ratio * ratio))

    def group_view(x: Any, pieces: int, axis: int) -> tuple[Any, int]:
        axis = axis % x.ndim
        shape = (*x.shape[:axis], x.shape[axis] // pieces, pieces, *x.shape[axis + 1 :])
        return x.reshape(shape), axis + 1

    def group_max(x: Any, pieces: int, axis: int) -> Any:
        grouped, k = group_view(x, pieces, axis)
        return torch.amax(grouped, dim=k)

    def group_max_route(x: Any, g: Any, pieces: int, axis: int) -> Any:
        grouped, k = group_view(x, pieces, axis)
        winner = torch.argmax(grouped, dim=k, keepdim=True)
        onehot = torch.zeros_like(grouped).scatter_(k, winner, 1.0)
        return (onehot * g.unsqueeze(k)).reshape(x.shape)

    return SimpleNamespace(
        name="torch",
        wide=dtype == torch.float64,
        exp=torch.exp,
        expm1=torch.expm1,
        log=torch.log,
        log1p=torch.log1p,
        tanh=torch.tanh,
        sin=torch.sin,
        cos=torch.cos,
        sinh=torch.sinh,
        cosh=torch.cosh,
        arcsinh=torch.asinh,
        arctan=torch.atan,
        erf=torch.special.erf,
        erfc=torch.special.erfc,
        sqrt=torch.sqrt,
        hypot=hypot,
        abs=torch.abs,
        sign=torch.sign,
        where=where,
        sigmoid=torch.sigmoid,
        where_lazy=lambda cond, fn, v, other: where(cond, fn(v), other),
        mul0=lambda a, b: where((a == 0) | (b == 0), 0.0, a * b),
        ones_like=torch.ones_like,
        maximum=maximum,
        minimum=minimum,
        clip=torch.clamp,
        isnan=torch.isnan,
        isinf=torch.isinf,
        isfinite=torch.isfinite,
        ndtr=torch.special.ndtr,
        log_ndtr=torch.special.log_ndtr,
        amax=lambda x, axis: torch.amax(x, dim=axis, keepdim=True),
        sum=lambda x, axis: torch.sum(x, dim=axis, keepdim=True),
        split_halves=lambda x, axis: torch.chunk(x, 2, dim=axis),
        concat=lambda parts, axis: torch.cat(parts, dim=axis),
        group_max=group_max,
        group_max_route=group_max_route,
        moveaxis=torch.movedim,
        eye=lambda n: torch.eye(n, dtype=dtype),
    )


_SQRT1_2 = 0.7071067811865476
_LOG_SQRT_2PI = 0.9189385332046727


def jax_ns(dtype: Any) -> SimpleNamespace:
    """The formula namespace on JAX arrays computed in ``dtype`` (float32, or float64 under
    ``jax_enable_x64``).  ``where_lazy`` computes both branches, as ``jax.numpy.where`` does: the
    derivatives are the catalog's own (:mod:`actlab.jax` attaches them), never autodiff through a
    branch that is not taken."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jsp

    wide = jnp.dtype(dtype) == jnp.float64

    def mul0(a: Any, b: Any) -> Any:
        return jnp.where((jnp.asarray(a) == 0) | (jnp.asarray(b) == 0), 0.0, a * b)

    def tanh64(x: Any) -> Any:
        # XLA's float64 tanh is 6.4 ulp off near ±1 (−0.9999999999999992 at x = −19); −expm1(−2|x|)/(2 + expm1(−2|x|))
        # has no cancellation (2 + e lies in (1, 2]) and is exact at ±inf
        e = jnp.expm1(-2.0 * jnp.abs(x))
        return jnp.copysign(-e / (2.0 + e), x)

    def log_ndtr64(x: Any) -> Any:
        # jax.scipy's float64 log_ndtr is up to 1.4e5 ulp off from x = -20 down (e^log Φ then 2.5e5 ulp);
        # there log Φ(x) = −x²/2 − log(−x) − log √(2π) + log(1 + Σ_k (−1)^k (2k−1)!!/x^{2k}), 12 terms < 1e-19
        v = jnp.minimum(x, -19.0)
        r = 1.0 / (v * v)
        term, total = jnp.ones_like(v), jnp.zeros_like(v)
        for k in range(1, 13):
            term = term * (-(2 * k - 1) * r)
            total = total + term
        tail = -0.5 * v * v - jnp.log(-v) - _LOG_SQRT_2PI + jnp.log1p(total)
        return jnp.where(x < -19.0, tail, jsp.log_ndtr(x))

    def group_view(x: Any, pieces: int, axis: int) -> tuple[Any, int]:
        axis = axis % x.ndim
        return x.reshape((*x.shape[:axis], x.shape[axis] // pieces, pieces, *x.shape[axis + 1 :])), axis + 1

    def group_max(x: Any, pieces: int, axis: int) -> Any:
        grouped, k = group_view(x, pieces, axis)
        return jnp.max(grouped, axis=k)

    def group_max_route(x: Any, g: Any, pieces: int, axis: int) -> Any:
        grouped, k = group_view(x, pieces, axis)
        winner = jnp.argmax(grouped, axis=k, keepdims=True)
        onehot = jnp.expand_dims(jnp.arange(pieces), tuple(range(1, grouped.ndim - k))) == winner
        return jnp.where(onehot, jnp.expand_dims(g, k), 0.0).reshape(x.shape)

    return SimpleNamespace(
        name="jax",
        wide=bool(wide),
        target_bits=53 if wide else 24,
        exp=jnp.exp,
        expm1=jnp.expm1,
        log=jnp.log,
        log1p=jnp.log1p,
        tanh=tanh64 if wide else jnp.tanh,
        sin=jnp.sin,
        cos=jnp.cos,
        sinh=jnp.sinh,
        cosh=jnp.cosh,
        arcsinh=jnp.arcsinh,
        arctan=jnp.arctan,
        erf=jsp.erf,
        erfc=jsp.erfc,
        sqrt=jnp.sqrt,
        hypot=jnp.hypot,
        abs=jnp.abs,
        sign=jnp.sign,
        where=jnp.where,
        where_lazy=lambda cond, fn, v, other: jnp.where(cond, fn(v), other),
        mul0=mul0,
        ones_like=jnp.ones_like,
        maximum=jnp.maximum,
        minimum=jnp.minimum,
        clip=jnp.clip,
        isnan=jnp.isnan,
        isinf=jnp.isinf,
        isfinite=jnp.isfinite,
        # Φ(x) = erfc(−x/√2)/2: jax.scipy.special.ndtr computes erf and erfc both and selects (the same
        # accuracy, twice the work)
        ndtr=lambda x: 0.5 * jsp.erfc(x * -_SQRT1_2),
        log_ndtr=log_ndtr64 if wide else jsp.log_ndtr,
        sigmoid=jax.nn.sigmoid,  # XLA's logistic: within 1.2 ulp in float32 above the subnormals, exact limits
        amax=lambda x, axis: jnp.max(x, axis=axis, keepdims=True),
        sum=lambda x, axis: jnp.sum(x, axis=axis, keepdims=True),
        split_halves=lambda x, axis: jnp.split(x, 2, axis=axis),
        concat=lambda parts, axis: jnp.concatenate(parts, axis=axis),
        group_max=group_max,
        group_max_route=group_max_route,
        moveaxis=jnp.moveaxis,
        eye=lambda n: jnp.eye(n, dtype=dtype),
    )
