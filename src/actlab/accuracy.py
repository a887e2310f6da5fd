"""Accuracy of the NumPy backend, measured against an mpmath oracle at 50 significant digits.

The oracle evaluates each spec's textbook ``definition`` (not the stable formula the
backend runs) at the exact floating-point input, and differentiates it numerically
at high precision for f', f'' — so the hand-written derivatives are checked against
an independent reference.  Errors are in units in the last place (ulp) of the true
value in the target dtype.

The bounds the tests enforce:

* float16 and float32: at most 1 ulp, for f and f';
* float64: at most ``max(4, 4 κ)`` ulp, where κ(x) = |x g'(x) / g(x)| is the
  condition number of the function g being evaluated (f, or f' for the derivative):
  no algorithm can be more accurate than the rounding of its input allows.

``actlab accuracy`` prints the measured worst case for every activation;
``actlab accuracy --backend torch [--exact]`` measures the PyTorch backend on the same grid
and oracle (:func:`torch_report`), op by op and in its fused kernels; ``actlab accuracy --backend
jax`` measures ``actlab.jax`` (:func:`jax_report`): float16/bfloat16 and float64 against the
bounds above, float32 (computed in float32) measured only, and apart from the rest the points
where x or the exact value is subnormal, which XLA on CPU reads and returns as 0.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np

from .catalog import registry
from .catalog.spec import AlongAxis, Elementwise, Gated, Params, Pooled, Spec
from .namespaces import mpmath_ns
from .numpy import Activation, get

DPS = 50
ZERO_DPS = 960
"""An exact zero is believed only when it persists at this many digits: cancellations between
subnormal and huge magnitudes (x² against 1 at x = 1e-308 or 1e308) need up to ~660."""
FLOAT64_ULPS = 4.0
NARROW_ULPS = 1.0

_MANTISSA = {np.dtype(np.float16): (11, -14), np.dtype(np.float32): (24, -126), np.dtype(np.float64): (53, -1022)}

BFLOAT16 = "bfloat16"
"""bfloat16 (8 significand bits, float32's exponent range) has no NumPy dtype: its grid is
built through torch and its values are held as float64."""

_BFLOAT16_MANTISSA = (8, -126)
_BFLOAT16_MAX = (2.0 - 2.0**-7) * 2.0**127


def _dtype_name(dtype: Any) -> str:
    return BFLOAT16 if str(dtype) in (BFLOAT16, "torch.bfloat16") else np.dtype(dtype).name


def _format(dtype: Any) -> tuple[int, int, float]:
    """(significand bits, smallest normal exponent, largest finite value) of ``dtype``."""
    if _dtype_name(dtype) == BFLOAT16:
        return (*_BFLOAT16_MANTISSA, _BFLOAT16_MAX)
    dt = np.dtype(dtype)
    return (*_MANTISSA[dt], float(np.finfo(dt).max))


def to_format(values: Any, dtype: Any) -> np.ndarray:
    """``values`` rounded to ``dtype``: a NumPy array of that dtype, or float64 holding bfloat16 values
    (rounded by torch, else by ml_dtypes, which JAX brings; the two may round a float64 that lies
    within a float32 rounding of a bfloat16 midpoint differently, as torch goes through float32)."""
    if _dtype_name(dtype) != BFLOAT16:
        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64).astype(np.dtype(dtype))
    try:
        import torch
    except ImportError:
        import ml_dtypes

        with np.errstate(over="ignore"):
            return np.asarray(values, dtype=np.float64).astype(ml_dtypes.bfloat16).astype(np.float64)
    return torch.from_numpy(np.asarray(values, dtype=np.float64)).to(torch.bfloat16).double().numpy()


def grid(dtype: Any, dense: bool = False, quick: bool = False) -> np.ndarray:
    """Test points spanning the finite range of ``dtype``: subnormals, every binade, a dense core.

    ``dense=True`` adds 8001 evenly spaced points on [-40, 40], where the smooth
    activations cancel between terms (slow: it is what ``actlab accuracy --dense`` runs).
    ``quick=True`` keeps about a fifth of the points (the same spans, coarser: seconds for
    an entry, what ``actlab accuracy --quick`` runs).
    ``dtype`` may also be ``"bfloat16"`` (points returned as float64).
    """
    name = _dtype_name(dtype)
    digits, emin, top = _format(dtype)
    tiny = math.ldexp(1.0, emin)
    smallest = math.ldexp(1.0, emin - (digits - 1))
    tiny_exp = math.log10(smallest)
    big_exp = math.log10(top) - 1e-9
    coarse = 5 if quick else 1
    mags = np.concatenate(
        [
            np.logspace(tiny_exp, big_exp, (140 if name == "float64" else 90) // coarse),
            np.linspace(0.0, 12.0, 96 // coarse + 1)[1:],
            np.linspace(12.0, 60.0, 48 // coarse + 1),
            np.logspace(np.log10(60.0), np.log10(min(1000.0, top / 2)), 25 // coarse),
            [smallest, tiny, top],
            np.linspace(0.0, 40.0, 4001)[1:] if dense else [],
        ]
    )
    pts = to_format(np.concatenate([[0.0], mags, -mags]), dtype)
    pts = pts[np.isfinite(pts)]
    return np.unique(pts)


def ulp(ref: Any, dtype: Any) -> float:
    """The unit in the last place of the true value ``ref`` in ``dtype`` (subnormal spacing at least)."""
    digits, emin, _ = _format(dtype)
    r = abs(float(ref))
    e = math.frexp(r)[1] - 1 if r > 0 else emin
    return math.ldexp(1.0, max(e, emin) - (digits - 1))


def ulp_error(y: Any, ref: Any, dtype: Any, slack: Any = 0) -> float:
    """|y - ref| in ulp of ``ref``, less the oracle's own uncertainty ``slack``; 0 for a correct overflow."""
    y = float(y)
    if math.isnan(y):
        return math.inf
    top = _format(dtype)[2]
    if abs(ref) > top:
        # the true value is beyond the largest finite number: its correctly rounded value is ±inf
        # unless it lies within half an ulp of the largest finite number
        if math.isinf(y) and (y > 0) == (ref > 0):
            return 0.0
        return float(abs(mpmath.mpf(y) - ref) / ulp(top, dtype))
    if math.isinf(y):
        return math.inf
    return float(max(abs(mpmath.mpf(y) - ref) - slack, 0) / ulp(ref, dtype))


@dataclass(frozen=True)
class Worst:
    """The worst point of one measurement."""

    name: str
    params: tuple[tuple[str, Any], ...]
    dtype: str
    what: str  # "f" or "f'"
    ulp: float  # the largest error in ulp
    ulp_x: float  # where it occurs
    scaled: float  # the largest error / max(1, κ): <= 4 (float64) or ulp <= 1 (narrow) passes
    scaled_x: float
    points: int
    nonfinite: int = 0
    """Points where the result is ±inf or NaN but the exact value is finite (a formula that overflows)."""
    nonfinite_x: float | None = None
    """The one of them nearest 0 (where the overflow begins)."""
    allowance: float = 1.0
    """The factor on the float64 bound a backend is held to (:data:`XLA_FLOAT64_ALLOWANCE` for JAX)."""

    @property
    def bound(self) -> float:
        if self.dtype != "float64":
            return NARROW_ULPS
        spec = registry.spec(self.name)
        if isinstance(spec, Gated):  # a · gate(b) inherits the gate's stated bound
            spec = spec._gate()[0]
        return self.allowance * float(getattr(spec, "float64_ulps", {}).get(self.what, FLOAT64_ULPS))

    @property
    def default_bound(self) -> bool:
        """True when :attr:`bound` is the catalog's default, not a bound stated or tested for this entry:
        a user's entry that states no ``float64_ulps`` is judged against the default it never claimed."""
        if registry.is_builtin(self.name):
            return False
        spec = registry.spec(self.name)
        return self.dtype != "float64" or self.what not in getattr(spec, "float64_ulps", {})

    @property
    def passed(self) -> bool:
        return self.scaled <= self.bound if self.dtype == "float64" else self.ulp <= self.bound


def _key(act: Activation) -> tuple[str, tuple[tuple[str, Any], ...]]:
    return act.name, tuple(sorted(act.params.items()))


def high_precision(thunk: Callable[[], Any], digits: int = 40, start: int = 60, limit: int = 6000) -> Any:
    """Evaluate ``thunk()`` at rising precision until two successive results agree to ``digits``.

    The textbook definitions cancel (tanh near 0, a difference quotient of a flat
    function): doubling the working precision until the result stops changing makes
    the oracle exact whatever the cancellation.
    """
    dps, prev = start, None
    while True:
        with mpmath.workdps(dps):
            value = thunk()
        # a zero may be a cancellation that more digits would resolve: trust it only at ZERO_DPS
        zero = any(v == 0 for v in value) if isinstance(value, list) else value == 0
        if prev is not None and _agree(prev, value, digits) and (not zero or dps >= ZERO_DPS):
            return value
        if dps >= limit:
            raise ArithmeticError(f"no convergence at {dps} digits: {prev} vs {value}")
        prev, dps = value, dps * 2


def _agree(a: Any, b: Any, digits: int) -> bool:
    if isinstance(a, list):
        return all(_agree(u, v, digits) for u, v in zip(a, b))
    if mpmath.isnan(a) or mpmath.isnan(b):
        return bool(mpmath.isnan(a) and mpmath.isnan(b))
    if mpmath.isinf(a) or mpmath.isinf(b) or a == 0 or b == 0:
        return bool(a == b)
    return bool(abs(a - b) <= abs(b) * mpmath.mpf(10) ** (-digits))


def derivative_at(f: Callable[[Any], Any], x: float, n: int = 1, *, slack: bool = False) -> tuple[Any, Any]:
    """f'(x) (n = 1) or f''(x) (n = 2) by central differences, and a bound on their truncation error.

    The step is 2^-100 min(|x|, 1) (2^-60 min(|x|, 1) for n = 2; 1 at x = 0): small
    against the period of snake's sine, and so small near 0 that a kink anywhere but at
    x itself is never crossed; the differences are taken at whatever precision
    :func:`high_precision` needs.  The error bound is |D(h) - D(2h)|, three times the
    leading truncation term: it matters only where f' vanishes with f'', as at 0 for odd f'.
    """
    X = mpmath.mpf(x)
    scale = min(abs(X), mpmath.mpf(1)) if X != 0 else mpmath.mpf(1)
    if n == 1:
        h = scale * mpmath.mpf(2) ** -100

        def quotient(step: Any) -> Any:
            return (f(X + step) - f(X - step)) / (2 * step)

    else:
        h = scale * mpmath.mpf(2) ** -60

        def quotient(step: Any) -> Any:
            return (f(X + step) - 2 * f(X) + f(X - step)) / (step * step)

    d1 = high_precision(lambda: quotient(h))
    if not slack:
        return d1, None
    d2 = high_precision(lambda: quotient(2 * h))
    return d1, abs(d2 - d1)


def _textbook(spec: Elementwise, p: Params) -> Callable[[Any], Any]:
    ns = mpmath_ns(mpmath.mp)
    fdef = spec.textbook()
    return lambda t: fdef(t, p, ns)


@functools.lru_cache(maxsize=512)
def _oracle(
    name: str, params: tuple[tuple[str, Any], ...], dtype: str, dense: bool = False, quick: bool = False
) -> tuple[np.ndarray, list[Any], list[Any]]:
    spec = registry.spec(name)
    assert isinstance(spec, Elementwise)
    p = spec.bind(dict(params))
    xs = grid(dtype, dense, quick)
    f = _textbook(spec, p)
    kinks = {k.x for k in spec.kink_points(p)}
    values, slopes = [], []
    for x in xs:
        X = mpmath.mpf(float(x))
        values.append(high_precision(lambda X=X: +f(X)))
        slopes.append(None if float(x) in kinks else derivative_at(f, float(x))[0])
    return xs, values, slopes


def _condition(x: float, value: Any, slope: Any) -> float:
    """κ = |x g'(x) / g(x)| (inf where g = 0 but x g' is not)."""
    if x == 0:
        return 1.0
    if value == 0:
        return math.inf
    return float(abs(mpmath.mpf(x) * slope / value))


def measure(
    act: Activation | str,
    dtype: Any = np.float64,
    what: str = "f",
    dense: bool = False,
    fast: bool = False,
    quick: bool = False,
) -> Worst:
    """Largest error of an elementwise activation's f (``what="f"``) or f' (``what="f'"``) over :func:`grid`.

    ``fast=True`` measures the ``fast`` evaluation (in the input's own precision); ``quick=True``
    the coarse grid.
    """
    act = get(act) if isinstance(act, str) else act
    spec = act.spec
    if not isinstance(spec, Elementwise):
        raise TypeError(f"{act.name} is not elementwise; see measure_vector")
    dt = np.dtype(dtype)
    name, params = _key(act)
    xs, values, slopes = _oracle(name, params, dt.name, dense, quick)
    y = act(xs, fast=fast) if what == "f" else act.derivative(xs, fast=fast)
    return _worst_on_grid(act, dt.name, what, xs, values, slopes, y)


def _worst_on_grid(
    act: Activation, dtype: str, what: str, xs: np.ndarray, values: list[Any], slopes: list[Any], y: Any
) -> Worst:
    """The :class:`Worst` of ``y`` (f or f' on the oracle's grid ``xs``) against the oracle."""
    spec = act.spec
    assert isinstance(spec, Elementwise)
    name, params = _key(act)
    wide = dtype == "float64"
    f = _textbook(spec, act.bound)
    worst_ulp = (0.0, 0.0)
    worst_scaled = (0.0, 0.0)
    count = 0
    nonfinite: list[float] = []
    with mpmath.workdps(DPS):
        for i, x in enumerate(xs):
            ref = values[i] if what == "f" else slopes[i]
            if ref is None or not mpmath.isfinite(ref):
                continue
            count += 1
            err = ulp_error(y[i], ref, dtype)
            if math.isinf(err):
                # ±inf or NaN where the exact value is finite: no allowance for the oracle or for κ changes
                # that, and computing them (second derivatives at x = 1e308) would take most of the time
                nonfinite.append(float(x))
                continue
            if what == "f'" and err > NARROW_ULPS:  # allow for the oracle's own truncation error
                err = ulp_error(y[i], ref, dtype, derivative_at(f, float(x), slack=True)[1])
            if err > worst_ulp[0]:
                worst_ulp = (err, float(x))
            scaled = err
            if wide and err > FLOAT64_ULPS:
                x = float(x)
                if what == "f":
                    slope = slopes[i] if slopes[i] is not None else derivative_at(f, x)[0]
                    kappa = _condition(x, ref, slope)
                else:
                    kappa = _condition(x, ref, derivative_at(f, x, 2)[0])
                scaled = err / max(1.0, kappa)
            if scaled > worst_scaled[0]:
                worst_scaled = (scaled, float(x))
    first = min(nonfinite, key=abs, default=None)
    if first is not None:
        worst_ulp = worst_scaled = (math.inf, first)
    return Worst(
        name, params, dtype, what, *worst_ulp, *worst_scaled, count, nonfinite=len(nonfinite), nonfinite_x=first
    )


# --- whole vectors: softmax, log_softmax, the gated family, maxout --------------------------


def vector_cases(rng_seed: int = 0) -> list[np.ndarray]:
    """Rows that exercise the axis activations: the article's example, wide spreads, ties, scales."""
    rng = np.random.default_rng(rng_seed)
    rows = [
        [2.0, 1.0, 0.1, 0.0],
        [0.0, -700.0, -745.0, 30.0],
        [1e3, 1e3 - 1e-9, -1e3, 0.0],
        [5e-324, -5e-324, 0.0, 1e-300],
        [88.0, 87.5, -103.0, 0.0],
        [3.0, 3.0, 3.0, 3.0],
    ]
    # 12 entries a row: even (gated), and a multiple of 2, 3 and 4 pieces (maxout)
    out = [np.concatenate([r, rng.standard_normal(8)]) for r in rows]
    for scale in (1e-3, 1.0, 10.0, 100.0):
        out.extend(rng.standard_normal((4, 12)) * scale)
    return out


def _vector_reference(spec: Spec, p: Params, row: np.ndarray) -> list[Any]:
    return high_precision(lambda: _vector_definition(spec, p, row))


def _vector_definition(spec: Spec, p: Params, row: np.ndarray) -> list[Any]:
    ns = mpmath_ns(mpmath.mp)
    values = [mpmath.mpf(float(v)) for v in row]
    if isinstance(spec, AlongAxis):
        return spec.definition(values, p, ns)
    if isinstance(spec, Gated):
        gate, gp = spec._gate()
        half = len(values) // 2
        gdef = gate.textbook()
        return [a * gdef(b, gp, ns) for a, b in zip(values[:half], values[half:])]
    if isinstance(spec, Pooled):
        k = int(p.pieces)
        return [max(values[i : i + k]) for i in range(0, len(values), k)]
    raise TypeError(f"no vector reference for {spec.kind}")


def measure_vector(
    act: Activation | str,
    dtype: Any = np.float64,
    evaluate: Callable[[np.ndarray], Any] | None = None,
    keep: Callable[[np.ndarray, Any], bool] | None = None,
) -> Worst:
    """Largest error, in ulp, of a softmax-like, gated or pooled activation on :func:`vector_cases`.

    The float64 bound scales with the row's condition number κ_i = Σ_j |x_j ∂log y_i/∂x_j|
    (for softmax, Σ_j |x_j| |δ_ij - y_j| / T), plus one ulp per term of the row sum.
    ``evaluate`` (a row in ``dtype`` to its outputs) measures another backend; ``dtype`` may then
    be ``"bfloat16"``.  ``keep(row, exact)`` chooses the outputs measured (all by default).
    """
    act = get(act) if isinstance(act, str) else act
    spec, p = act.spec, act.bound
    dname = _dtype_name(dtype)
    worst_ulp = (0.0, 0.0)
    worst_scaled = (0.0, 0.0)
    count = 0
    with mpmath.workdps(DPS):
        for row in vector_cases():
            x = to_format(row, dtype)
            if not np.all(np.isfinite(x)):
                continue
            y = np.atleast_1d(act(x) if evaluate is None else evaluate(x))
            ref = _vector_reference(spec, p, x.astype(np.float64))
            n = len(x)
            for i, r in enumerate(ref):
                if keep is not None and not keep(x, r):
                    continue
                count += 1
                err = ulp_error(y[i], r, dname)
                if err > worst_ulp[0]:
                    worst_ulp = (err, float(x[i % n]))
                kappa = 1.0
                if isinstance(spec, AlongAxis) and dname == "float64":
                    probs = [mpmath.exp(v) for v in ref] if spec.name == "log_softmax" else ref
                    kappa = float(
                        sum(abs(mpmath.mpf(float(x[j]))) * abs((i == j) - probs[j]) for j in range(n)) / p.temperature
                    )
                    if spec.name == "log_softmax" and r != 0:
                        kappa /= float(abs(r))
                    kappa += n
                elif isinstance(spec, Gated) and dname == "float64" and err > FLOAT64_ULPS:
                    # y = a g(b): the gate's condition number at b, plus one for the product
                    gate, gp = spec._gate()
                    b = float(x[n // 2 + i])
                    g = _textbook(gate, gp)
                    gb = high_precision(lambda g=g, b=b: g(mpmath.mpf(b)))
                    kappa = 1.0 + _condition(b, gb, derivative_at(g, b)[0])
                scaled = err / max(1.0, kappa)
                if scaled > worst_scaled[0]:
                    worst_scaled = (scaled, float(x[i % n]))
    name, params = _key(act)
    return Worst(name, params, dname, "f", worst_ulp[0], worst_ulp[1], worst_scaled[0], worst_scaled[1], count)


def report(
    names: Iterable[str] | None = None,
    dtypes: Iterable[str] = ("float32", "float64"),
    dense: bool = False,
    fast: bool = False,
    quick: bool = False,
) -> Iterable[Worst]:
    """Every measurement for the named activations (all of them by default), at default parameters.

    ``fast=True`` measures the elementwise entries' ``fast`` evaluation (vector kinds have none);
    ``quick=True`` measures on the coarse grid (vector kinds have one grid).
    """
    for name in names or registry.names():
        act = get(name)
        for dt in dtypes:
            if isinstance(act.spec, Elementwise):
                yield measure(act, dt, "f", dense, fast, quick)
                yield measure(act, dt, "f'", dense, fast, quick)
            elif fast:
                continue
            else:
                yield measure_vector(act, dt)


# --- the PyTorch backend ------------------------------------------------------------------

TORCH_DTYPES = ("float16", BFLOAT16, "float32", "float64")


@dataclass(frozen=True)
class TorchRow:
    """One entry in one dtype measured through ``actlab.torch``, op by op and fused.

    ``kernel`` is ``"native"`` (PyTorch's own kernel), or the working precision of the
    catalog's formula: ``"float64"`` (``exact=True``, and every float64 input) or
    ``"float32"`` (the default generic path for float16/bfloat16/float32).
    ``unfused`` and ``fused`` hold the :class:`Worst` of f and f' (f only for the vector
    kinds); ``fused`` is None where nothing is fused (native kernels, float64).  The fused
    kernel runs on the grid repeated past ``FUSE_MIN_NUMEL`` elements; ``copies_agree`` says
    whether every copy came back with the same bits (the worse copy is reported if not).
    """

    name: str
    dtype: str
    kernel: str
    unfused: tuple[Worst, ...]
    fused: tuple[Worst, ...] | None
    copies_agree: bool

    @property
    def measurements(self) -> tuple[Worst, ...]:
        return self.unfused + (self.fused or ())

    @property
    def passed(self) -> bool:
        return all(w.passed for w in self.measurements)


@contextlib.contextmanager
def _fusion(on: bool) -> Iterator[int]:
    """Fusion on (at the configured threshold, or the default one if it was off) or off; yields the threshold."""
    from .torch import _ops

    saved = _ops.FUSE_MIN_NUMEL
    threshold = (saved if saved >= 0 else 1 << 16) if on else -1
    _ops.set_fusion(threshold if on else None)
    try:
        yield threshold
    finally:
        _ops.set_fusion(saved if saved >= 0 else None)


_INT_VIEW = {"float16": "int16", BFLOAT16: "int16", "float32": "int32", "float64": "int64"}


def _distinct_copies(y: Any, reps: int, dtype: str) -> list[np.ndarray]:
    """The distinct rows (bit for bit) of ``y`` reshaped to (reps, -1), as float64 arrays."""
    import torch

    rows = y.detach().reshape(reps, -1)
    bits = rows.view(getattr(torch, _INT_VIEW[dtype]))
    first = [0] + [i for i in range(1, reps) if not torch.equal(bits[i], bits[0])]
    seen: list[int] = []
    for i in first:
        if not any(torch.equal(bits[i], bits[j]) for j in seen):
            seen.append(i)
    return [rows[i].double().numpy() for i in seen]


def _torch_module(act: Activation, exact: bool) -> Any:
    import actlab.torch as at

    return at.get(act.name, exact=exact, **{k: v for k, v in act.params.items()})


def _evaluate_torch(module: Any, xs: np.ndarray, dtype: str, what: str, fused: bool) -> list[np.ndarray]:
    """f (``what="f"``) or f' (through autograd's backward) of ``module`` at ``xs``, as every
    distinct copy: one array when fused copies agree, or op by op."""
    import torch

    with _fusion(fused) as threshold:
        x = torch.from_numpy(np.asarray(xs, dtype=np.float64)).to(getattr(torch, dtype))
        reps = -(-threshold // x.numel()) if fused else 1
        x = x.repeat(reps, *([1] * (x.ndim - 1))) if x.ndim > 1 else x.repeat(reps)
        if what == "f":
            with torch.no_grad():
                y = module(x)
        else:
            x.requires_grad_()
            out = module(x)
            (y,) = torch.autograd.grad(out, x, torch.ones_like(out))
    return _distinct_copies(y, reps, dtype)


def measure_torch(
    act: Activation | str,
    dtype: str = "float32",
    what: str = "f",
    *,
    exact: bool = False,
    fused: bool = False,
    dense: bool = False,
) -> tuple[Worst, bool]:
    """Largest error of ``actlab.torch``'s f or f' for an elementwise entry over :func:`grid`,
    against the same oracle as :func:`measure`, and whether every fused copy gave the same bits.

    ``exact`` selects ``exact=True``; ``fused`` runs the grid repeated past the fusion threshold
    (the compiled kernel); the worse copy is reported if copies differ.
    """
    act = get(act) if isinstance(act, str) else act
    if not isinstance(act.spec, Elementwise):
        raise TypeError(f"{act.name} is not elementwise; see measure_torch_vector")
    dname = _dtype_name(dtype)
    name, params = _key(act)
    xs, values, slopes = _oracle(name, params, dname, dense)
    copies = _evaluate_torch(_torch_module(act, exact), xs, dname, what, fused)
    worsts = [_worst_on_grid(act, dname, what, xs, values, slopes, y) for y in copies]
    return max(worsts, key=lambda w: w.scaled if dname == "float64" else w.ulp), len(copies) == 1


def measure_torch_vector(
    act: Activation | str, dtype: str = "float32", *, exact: bool = False, fused: bool = False
) -> tuple[Worst, bool]:
    """:func:`measure_vector` for ``actlab.torch`` (each row repeated past the fusion threshold
    when ``fused``), and whether every copy of a row gave the same bits."""
    act = get(act) if isinstance(act, str) else act
    dname = _dtype_name(dtype)
    module = _torch_module(act, exact)
    agree = True

    def evaluate(row: np.ndarray) -> np.ndarray:
        nonlocal agree
        copies = _evaluate_torch(module, row.reshape(1, -1), dname, "f", fused)
        agree = agree and len(copies) == 1
        return copies[0]  # a vector entry's copies are compared, not each one measured

    return measure_vector(act, dname, evaluate), agree


def torch_kernel(act: Activation, dtype: str, exact: bool) -> str:
    """Which kernel ``actlab.torch`` runs: "native", or the formula's working precision."""
    if _torch_module(act, exact).path == "native":
        return "native"
    return "float64" if exact or dtype == "float64" else "float32"


def torch_report(
    names: Iterable[str] | None = None,
    dtypes: Iterable[str] = ("float32", "float16"),
    *,
    exact: bool = False,
    dense: bool = False,
) -> Iterable[TorchRow]:
    """Every entry (default parameters) through ``actlab.torch``, op by op and fused, per dtype."""
    for name in names or registry.names():
        act = get(name)
        for dt in dtypes:
            dname = _dtype_name(dt)
            kernel = torch_kernel(act, dname, exact)
            fusable = kernel != "native" and dname != "float64"
            runs: dict[bool, tuple[Worst, ...]] = {}
            agree = True
            for fused in (False, True) if fusable else (False,):
                if isinstance(act.spec, Elementwise):
                    measured = [
                        measure_torch(act, dname, w, exact=exact, fused=fused, dense=dense) for w in ("f", "f'")
                    ]
                else:
                    measured = [measure_torch_vector(act, dname, exact=exact, fused=fused)]
                runs[fused] = tuple(w for w, _ in measured)
                agree = agree and all(ok for _, ok in measured)
            yield TorchRow(name, dname, kernel, runs[False], runs.get(True), agree)


# --- the JAX backend ----------------------------------------------------------------------

XLA_FLOAT64_ALLOWANCE = 2.0
"""actlab.jax in float64 is held to twice the reference's bound: it is built from XLA's own float64 exp and
expm1, measured on a grid of 4000 points against mpmath up to 1.3 and 3.4 ulp, where NumPy's are within 0.5
and 0.7 (XLA's tanh, 6.4 ulp, is replaced in the JAX namespace by an expm1 form)."""

JAX_DTYPES = ("float16", BFLOAT16, "float32", "float64")
JAX_ENFORCED = ("float16", BFLOAT16, "float64")
"""The dtypes in which ``actlab.jax`` is held to the bounds: float16 and bfloat16 (computed in float32,
rounded once: ≤ 1 ulp) and float64 (twice the entry's bound, × max(1, κ): :data:`XLA_FLOAT64_ALLOWANCE`).
float32 is computed in float32 itself, and measured only: see :func:`jax_report`."""


@dataclass(frozen=True)
class JaxRow:
    """One entry in one dtype measured through ``actlab.jax``: f and f′ under ``jax.jit``, f′ as
    ``jax.vmap(jax.grad(f))`` (the catalog's derivative, attached by ``custom_jvp``).

    ``working`` is the precision the formula runs in (float32 for float16/bfloat16/float32).
    ``measured`` holds the :class:`Worst` of f and f′ (f only for the vector kinds) over the grid's
    points outside the flush zone; ``subnormal`` the same over the points inside it — where the input
    or the exact value is a subnormal of the working type, which XLA on CPU reads or returns as 0
    (measured only; empty where the zone holds no point of the dtype).  ``special`` says, in words,
    where f or f′ at −inf, +inf or NaN differs from the NumPy reference's limits.
    """

    name: str
    dtype: str
    working: str
    measured: tuple[Worst, ...]
    subnormal: tuple[Worst, ...]
    special: tuple[str, ...]

    @property
    def enforced(self) -> bool:
        return self.dtype in JAX_ENFORCED

    @property
    def passed(self) -> bool:
        """No wrong limit or NaN at ±inf/NaN, and (float16, bfloat16, float64) the bounds hold."""
        return not self.special and (not self.enforced or all(w.passed for w in self.measured))


def _jax_working(dtype: str) -> str:
    return "float64" if dtype == "float64" else "float32"


def _smallest(dtype: str) -> float:
    """The smallest positive subnormal of ``dtype``."""
    digits, emin, _ = _format(dtype)
    return math.ldexp(1.0, emin - (digits - 1))


def flush_limit(dtype: str) -> float:
    """The magnitude below which XLA on CPU flushes when ``actlab.jax`` computes ``dtype``: the working
    type's smallest normal (2⁻¹²⁶ for float32 and bfloat16, 2⁻¹⁰²² for float64); 0 for float16, whose
    float32 working type flushes only below half its smallest subnormal (those values round to 0 anyway).

    >>> flush_limit("float32") == 2.0**-126, flush_limit("float16")
    (True, 0.0)
    """
    tiny = math.ldexp(1.0, _format(_jax_working(dtype))[1])
    return tiny if tiny > _smallest(dtype) / 2 else 0.0


@contextlib.contextmanager
def _x64() -> Iterator[None]:
    """JAX's 64-bit types on, for the block only."""
    import jax

    enable = getattr(jax, "enable_x64", None)
    if enable is None:  # JAX before 0.4.36
        from jax.experimental import enable_x64 as enable
    with enable(True):
        yield


def _jax_array(xs: Any, dtype: str) -> Any:
    """``xs`` (values exact in ``dtype``) as a JAX array of ``dtype``: converted by NumPy and ml_dtypes,
    so that no XLA computation (which may flush subnormals) touches the input."""
    import jax.numpy as jnp
    import ml_dtypes

    host = np.asarray(xs, dtype=np.float64).astype(ml_dtypes.bfloat16 if dtype == BFLOAT16 else np.dtype(dtype))
    return jnp.asarray(host)


def _host(y: Any) -> np.ndarray:
    return np.asarray(y).astype(np.float64)


@functools.lru_cache(maxsize=256)
def _jax_functions(
    name: str, params: tuple[tuple[str, Any], ...], fn: Callable[[Any], Any] | None = None
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """``jax.jit(f)`` and ``jax.jit(jax.vmap(jax.grad(f)))`` for f = ``fn``, by default
    ``actlab.jax.get(name, **params)``."""
    import jax

    if fn is None:
        from . import jax as aj

        fn = aj.get(name, **dict(params))
    return jax.jit(fn), jax.jit(jax.vmap(jax.grad(fn)))


FLUSH_MARGIN = 2.0**7
"""An exact value below ``FLUSH_MARGIN`` times the smallest normal is in the flush zone too: it can be a
product whose other factor is a flushed subnormal intermediate (x·σ(x), x·Φ(x) and 4σ′(2x) for |x| up to
128), which XLA returns as 0 although the value itself is normal."""


def _in_flush_zone(xs: np.ndarray, refs: list[Any], limit: float) -> np.ndarray:
    """Where the input is nonzero and below ``limit`` in magnitude, or the exact value ``refs`` below
    ``limit`` × :data:`FLUSH_MARGIN`."""
    small = (np.abs(xs) < limit) & (xs != 0)
    exact = [r is not None and mpmath.isfinite(r) and 0 < abs(r) < limit * FLUSH_MARGIN for r in refs]
    return small | np.array(exact, dtype=bool)


def _measure_jax_on_grid(
    act: Activation, dtype: str, what: str, dense: bool, quick: bool, fn: Callable[[Any], Any] | None
) -> tuple[Worst, Worst | None]:
    """The :class:`Worst` of f or f′ outside and inside :func:`flush_limit`'s zone (see :func:`measure_jax`)."""
    name, params = _key(act)
    xs, values, slopes = _oracle(name, params, dtype, dense, quick)
    f, df = _jax_functions(name, params, fn)
    y = _host((f if what == "f" else df)(_jax_array(xs, dtype)))
    limit = flush_limit(dtype)
    zone = _in_flush_zone(xs, values if what == "f" else slopes, limit)

    def worst(keep: np.ndarray) -> Worst:
        idx = np.flatnonzero(keep)
        return _worst_on_grid(act, dtype, what, xs[idx], [values[i] for i in idx], [slopes[i] for i in idx], y[idx])

    return worst(~zone), worst(zone) if limit else None


def measure_jax(
    act: Activation | str,
    dtype: str = "float32",
    what: str = "f",
    *,
    dense: bool = False,
    quick: bool = False,
    fn: Callable[[Any], Any] | None = None,
) -> tuple[Worst, Worst | None]:
    """Largest error of ``actlab.jax``'s f or f′ (``jax.vmap(jax.grad(f))``, both under ``jax.jit``) for an
    elementwise entry over :func:`grid`, against the same oracle as :func:`measure`: over the points
    outside the flush zone, and over those inside it (None for float16, which has no such point).
    ``fn`` measures another JAX function of the same entry instead (``jax.nn.silu`` for ``"silu"``:
    its f′ is then autodiff's).

    XLA on CPU runs with denormals-are-zero and flush-to-zero: a subnormal input is read as 0 and a
    subnormal result is returned as 0 (:func:`xla_flushes_subnormals` measures it), so relu′ of the
    smallest float32 is 0, not 1.  The points where the input or the exact value lies below
    :func:`flush_limit` are therefore measured apart from the rest.  float64 is measured with JAX's
    64-bit types on for the call only.
    """
    act = get(act) if isinstance(act, str) else act
    if not isinstance(act.spec, Elementwise):
        raise TypeError(f"{act.name} is not elementwise; see measure_vector")
    with _x64():
        return _measure_jax_on_grid(act, _dtype_name(dtype), what, dense, quick, fn)


SPECIAL_POINTS = (-math.inf, math.inf, math.nan)


def jax_specials(
    act: Activation | str, dtype: str = "float32", fn: Callable[[Any], Any] | None = None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """f and f′ (keys ``"f"``, ``"f′"``) of ``actlab.jax`` (or ``fn``, as in :func:`measure_jax`) at
    :data:`SPECIAL_POINTS` (−inf, +inf, NaN) in ``dtype``, each beside the NumPy reference's — the exact
    limits, NaN for NaN — rounded to ``dtype``: ``{what: (got, exact)}``."""
    act = get(act) if isinstance(act, str) else act
    dname = _dtype_name(dtype)
    xs = np.array(SPECIAL_POINTS)
    f, df = _jax_functions(*_key(act), fn)
    with np.errstate(all="ignore"):
        exact = {"f": act(xs), "f′": act.derivative(xs)}
    with _x64():
        got = {"f": _host(f(_jax_array(xs, dname))), "f′": _host(df(_jax_array(xs, dname)))}
    return {what: (got[what], to_format(exact[what], dname).astype(np.float64)) for what in ("f", "f′")}


def same_value(a: float, b: float) -> bool:
    """a == b, NaN equal to NaN."""
    return bool(a == b or (math.isnan(a) and math.isnan(b)))


def _special_text(x: float) -> str:
    return "NaN" if math.isnan(x) else ("+∞" if x > 0 else "−∞")


def jax_special_values(
    act: Activation | str, dtype: str = "float32", fn: Callable[[Any], Any] | None = None
) -> tuple[str, ...]:
    """Where :func:`jax_specials` differ from the exact limits, in words: ``("f′(+∞) = nan, not 1",)``;
    () when none does."""
    out = []
    for what, (got, exact) in jax_specials(act, dtype, fn).items():
        for x, g, e in zip(SPECIAL_POINTS, got, exact):
            if not same_value(g, e):
                out.append(f"{what}({_special_text(x)}) = {g:g}, not {e:g}")
    return tuple(out)


def xla_flushes_subnormals(dtype: str = "float32") -> tuple[bool, bool]:
    """(subnormal inputs are read as 0, subnormal results are returned as 0) in jit-compiled JAX code of
    ``dtype`` on the default device, measured: s · 2ᵖ for s the smallest subnormal and p the significand
    bits (a normal result), and t · ½ for t the smallest normal (a subnormal result); the factors are
    arguments, so nothing is folded at compile time."""
    import jax

    dname = _dtype_name(dtype)
    digits, emin, _ = _format(dname)
    mul = jax.jit(lambda a, b: a * b)

    def product(a: float, b: float) -> float:
        return float(_host(mul(_jax_array([a], dname), _jax_array([b], dname)))[0])

    with _x64():
        return product(_smallest(dname), 2.0**digits) == 0, product(math.ldexp(1.0, emin), 0.5) == 0


def _jax_vector_row(act: Activation, dtype: str) -> JaxRow:
    """:func:`measure_vector` of ``actlab.jax``'s softmax, gated or pooled entry under ``jax.jit``, apart
    inside the flush zone: a row holding a subnormal input, or an exact output below :func:`flush_limit` ×
    :data:`FLUSH_MARGIN`."""
    f, _ = _jax_functions(*_key(act))
    limit = flush_limit(dtype)

    def inside(row: np.ndarray, exact: Any) -> bool:
        return bool(np.any((np.abs(row) < limit) & (row != 0))) or 0 < abs(exact) < limit * FLUSH_MARGIN

    def measured(keep: Callable[[np.ndarray, Any], bool]) -> Worst:
        return measure_vector(act, dtype, lambda row: _host(f(_jax_array(row, dtype))), keep)

    with _x64():
        normal = measured(lambda row, exact: not inside(row, exact))
        zone = (measured(inside),) if limit else ()
    return JaxRow(act.name, dtype, _jax_working(dtype), (_allowed(normal),), tuple(map(_allowed, zone)), ())


def _allowed(w: Worst) -> Worst:
    """``w`` held to the JAX backend's float64 bound (:data:`XLA_FLOAT64_ALLOWANCE`)."""
    return dataclasses.replace(w, allowance=XLA_FLOAT64_ALLOWANCE) if w.dtype == "float64" else w


def jax_report(
    names: Iterable[str] | None = None,
    dtypes: Iterable[str] = ("float32", "float64"),
    *,
    dense: bool = False,
    quick: bool = False,
) -> Iterable[JaxRow]:
    """Every entry (default parameters) through ``actlab.jax``, per dtype, on the oracle's grid.

    float16 and bfloat16 are computed in float32 and rounded once, float64 in float64 (JAX's 64-bit
    types are turned on for each measurement only): those are held to the NumPy reference's bounds.
    float32 is computed in float32 — XLA's own exp, tanh, erf and the catalog's float32 forms — and
    measured only.
    """
    for name in names or registry.names():
        act = get(name)
        for dt in dtypes:
            dname = _dtype_name(dt)
            if not isinstance(act.spec, Elementwise):
                yield _jax_vector_row(act, dname)
                continue
            pairs = [measure_jax(act, dname, w, dense=dense, quick=quick) for w in ("f", "f'")]
            yield JaxRow(
                act.name,
                dname,
                _jax_working(dname),
                tuple(_allowed(m) for m, _ in pairs),
                tuple(_allowed(s) for _, s in pairs if s is not None),
                jax_special_values(act, dname),
            )
