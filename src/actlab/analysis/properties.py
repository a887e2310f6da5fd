"""Properties of an activation computed from its formulas: extrema, monotonicity, kinks and
continuity class, Gaussian moments, dead and saturated fractions, Lipschitz constant.

The same procedure serves built-in entries and user-registered ones.  A float64 scan finds the
candidates; a formula that is correct but loses float64 bits (a difference that cancels, σ(x)
rounded to 1, s(1 − s)) makes false ones — a "kink" where its rounding steps, a minimum
"attained" where it rounds to its limit.  So each candidate kink and each extremum that float64
cannot tell from a limit is decided by the high-precision oracle: the entry's textbook formula
(:meth:`Elementwise.textbook`, a user's own forward) evaluated on the mpmath namespace, as the
accuracy oracle does.  Where a formula cannot be evaluated there (it uses a name that namespace
lacks), the float64 scan's findings stand.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import mpmath
import numpy as np
from scipy import optimize

from ..catalog.spec import DISCONTINUOUS, SMOOTH, Elementwise
from ..namespaces import mpmath_ns
from ..numpy import Activation, get
from .quadrature import gaussian_expectation, square, vectorised

SPAN = 32.0
STEP = 1.0 / 128.0
SATURATION = 0.01
ORACLE_DPS = 60
"""Working digits of the oracle: a third divided difference over 1e-10 loses 30 of them."""
WIDE = 2.0**-20
NARROW = 2.0**-30
"""The two half-widths (times max(1, |x|)) over which a candidate kink's jump is measured."""


@dataclass(frozen=True)
class Extremum:
    value: float
    at: float | None
    """Where it is attained (None: approached only as x -> ±inf)."""


@dataclass(frozen=True)
class Properties:
    name: str
    params: dict[str, Any]
    infimum: Extremum
    supremum: Extremum
    monotonic: bool
    kinks: tuple[float, ...]
    smoothness: int
    """Continuity class found: -1 (f jumps), 0 (f' jumps), 1 (f'' jumps), SMOOTH (none found)."""
    mean: float
    second_moment: float
    mean_derivative: float
    derivative_second_moment: float
    dead_fraction: float
    saturated_fraction: float
    lipschitz: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _grid() -> np.ndarray:
    return np.arange(-SPAN, SPAN + STEP / 2, STEP)


def _jumps(g: np.ndarray) -> list[int]:
    """Intervals [x_i, x_i+1] where g changes far more than on the neighbouring intervals."""
    dg = np.abs(np.diff(g))
    dg[~np.isfinite(dg)] = 0.0
    pad = np.pad(dg, 3, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(pad, 7)
    neighbours = np.median(windows, axis=1)  # a jump spans at most two intervals: the median is a neighbour
    finite = g[np.isfinite(g)]
    scale = 1e-9 * max(1.0, float(np.max(np.abs(finite)))) if finite.size else 1e-9
    return [int(i) for i in np.nonzero(dg > 20 * neighbours + scale)[0]]


def _tidy(x: float, tol: float) -> float:
    """The roundest decimal within ``tol`` of x (kinks sit at 0, ±3, 6, ±λ ...)."""
    for digits in range(0, 13):
        r = round(x, digits)
        if abs(r - x) <= tol:
            return r + 0.0
    return x


def _refine(fn: Any, lo: float, hi: float) -> float:
    """Bisect an interval holding a jump of ``fn`` down to a few ulp."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        left, right = abs(fn(mid) - fn(lo)), abs(fn(hi) - fn(mid))
        lo, hi = (lo, mid) if left >= right else (mid, hi)
    return _tidy(0.5 * (lo + hi), 1e-9 * max(1.0, abs(lo)))


def _second_derivative(act: Activation, x: np.ndarray) -> np.ndarray:
    h = 1e-6 * np.maximum(1.0, np.abs(x))
    return (act.derivative(x + h) - act.derivative(x - h)) / (2 * h)


class _Oracle:
    """f at high precision: the entry's textbook formula evaluated on the mpmath namespace.

    Called inside ``mpmath.workdps(ORACLE_DPS)``; returns None where the formula cannot be
    evaluated there or gives no finite number, and the caller then keeps the float64 verdict.
    """

    def __init__(self, act: Activation) -> None:
        assert isinstance(act.spec, Elementwise)
        self._f = act.spec.textbook()
        self._p = act.bound
        self._ns = mpmath_ns(mpmath.mp)
        self._memo: dict[Any, Any] = {}

    @classmethod
    def of(cls, act: Activation) -> _Oracle | None:
        oracle = cls(act)
        with mpmath.workdps(ORACLE_DPS):
            return oracle if oracle(0.5) is not None else None

    def __call__(self, x: Any) -> Any:
        key = mpmath.mpf(x)
        if key not in self._memo:
            try:
                value = mpmath.mpf(self._f(key, self._p, self._ns))
            except (ArithmeticError, AttributeError, TypeError, ValueError):
                value = None  # a name the mpmath namespace lacks, or a pole of the formula
            self._memo[key] = value if value is not None and mpmath.isfinite(value) else None
        return self._memo[key]


def _difference(g: _Oracle, a: Any, b: Any, order: int) -> Any:
    """Δ^(k+1) g over k + 2 equally spaced nodes from a to b, divided by their spacing h^k (k = order).

    Across a jump of g^(k) of size J it tends, as b - a -> 0, to a fixed fraction of J (all
    of it when the jump is central); where g is C^(k+1) it vanishes like b - a.  None where
    the oracle gives no value.
    """
    n = order + 1
    h = (mpmath.mpf(b) - a) / n
    values = [g(a + i * h) for i in range(n + 1)]
    if any(v is None for v in values):
        return None
    total = mpmath.fsum((-1) ** (n - i) * math.comb(n, i) * v for i, v in enumerate(values))
    return total / h**order


def _floor(g: _Oracle, c: Any) -> Any:
    """Below this a difference is the oracle's own rounding, not a jump."""
    v = g(c)
    return mpmath.mpf(10) ** (30 - ORACLE_DPS) * max(1, abs(v) if v is not None else 1)


def _jumps_at(g: _Oracle, c: float, order: int) -> bool | None:
    """Whether f or one of its first ``order`` derivatives jumps at c, to within NARROW·max(1, |c|).

    The difference over c ± NARROW keeps its size over c ± WIDE at a jump and shrinks 2^10 times
    where f is smooth there (None: the oracle cannot say).
    """
    s = max(1.0, abs(c))
    wide = _difference(g, mpmath.mpf(c) - WIDE * s, mpmath.mpf(c) + WIDE * s, order)
    narrow = _difference(g, mpmath.mpf(c) - NARROW * s, mpmath.mpf(c) + NARROW * s, order)
    if wide is None or narrow is None:
        return None
    return bool(abs(narrow) > _floor(g, c) and abs(narrow) > abs(wide) / 8)


def _locate(g: _Oracle, lo: float, hi: float, order: int) -> tuple[bool | None, float]:
    """Whether [lo, hi] holds a jump of f, f' .. f^(order), and where, by bisection on the oracle.

    Each step keeps the half (of three overlapping ones) with the largest difference; at a
    jump that difference keeps its size while the width halves 26 times, where f is smooth it
    halves with the width: the last is compared with the one eight halvings before.
    """
    a, b = mpmath.mpf(lo), mpmath.mpf(hi)
    sizes = []
    for _ in range(26):
        w = b - a
        halves = [(a, a + w / 2), (a + w / 4, a + 3 * w / 4), (a + w / 2, b)]
        diffs = [_difference(g, u, v, order) for u, v in halves]
        if any(d is None for d in diffs):
            return None, 0.0
        k = max(range(3), key=lambda j: abs(diffs[j]))
        a, b = halves[k]
        sizes.append(abs(diffs[k]))
    c = float((a + b) / 2)
    return bool(sizes[-1] > _floor(g, c) and sizes[-1] > sizes[-9] / 16), c


def _confirm(g: _Oracle, at: float, lo: float, hi: float, order: int) -> tuple[bool | None, float, int]:
    """(is a kink, where, its continuity class) for a candidate of the scan of f^(order) near ``at``,
    found on the grid interval [lo, hi]."""
    verdict = _jumps_at(g, at, order)
    if verdict is None:
        return None, at, SMOOTH
    if not verdict:  # not at ``at`` itself (f'' is only located to the grid): search the interval
        verdict, located = _locate(g, lo - STEP, hi + STEP, order)
        if not verdict:
            return verdict, at, SMOOTH
        at = _tidy(located, 1e-9 * max(1.0, abs(located)))
    lowest = next((j for j in range(order) if _jumps_at(g, at, j)), order)
    return True, at, DISCONTINUOUS if lowest == 0 else lowest - 1


def find_kinks(act: Activation | str) -> tuple[tuple[float, ...], int]:
    """Points in [-32, 32] where f, f' or f'' jump, and the continuity class.

    A float64 scan finds the candidates; the oracle confirms each and names the lowest
    derivative that jumps there, so that a formula's rounding steps are not taken for kinks.
    """
    act = get(act) if isinstance(act, str) else act
    return _find_kinks(act, _Oracle.of(act))


def _find_kinks(act: Activation, oracle: _Oracle | None) -> tuple[tuple[float, ...], int]:
    x = _grid()
    with np.errstate(all="ignore"):
        series = (act(x), act.derivative(x), _second_derivative(act, x))
    found: dict[float, int] = {}
    exact = {0: lambda t: float(act(t)), 1: lambda t: float(act.derivative(t))}
    with mpmath.workdps(ORACLE_DPS), np.errstate(all="ignore"):
        for order, g in enumerate(series):
            for i in _jumps(g):
                if order < 2:
                    at = _refine(exact[order], float(x[i]), float(x[i + 1]))
                else:  # f'' is a difference quotient: locate to its step, then snap
                    at = _tidy(0.5 * float(x[i] + x[i + 1]), 0.6 * STEP)
                klass = DISCONTINUOUS if order == 0 else order - 1
                if oracle is not None:
                    if any(abs(k - at) <= 2 * STEP for k in found):
                        continue  # a kink already confirmed (from a lower derivative, located better)
                    verdict, where, kind = _confirm(oracle, at, float(x[i]), float(x[i + 1]), order)
                    if verdict is False:
                        continue
                    if verdict:
                        found[where] = kind
                        continue
                key = next((k for k in found if abs(k - at) <= 2 * STEP), at)
                if key != at and klass < found[key]:  # the lower order's location is the precise one
                    found[at] = min(found.pop(key), klass)
                else:
                    found[key] = min(found.get(key, SMOOTH), klass)
    if not found:
        return (), SMOOTH
    return tuple(sorted(found)), min(found.values())


FAR = 2.0 ** np.arange(6.0, 1024.0)
"""Where a limit at ±inf is read when the formula gives NaN at ±inf itself (inf/inf, inf - inf)."""


def _limits(fn: Any) -> list[float]:
    """fn(-inf) and fn(inf) (fn: f or f'); where the formula gives NaN there (inf/inf, inf - inf), its
    values far out.

    Far out, at ±2^6, ±2^7, ... up to the first that is not finite: the first value that the next
    two doublings of x repeat, as float64 settles on a limit long before the formula's own
    overflow (x² = inf from 2^512 makes (1 + x/√(x² + b))/2 read 1/2 where it had settled on 1);
    ±inf if the values keep growing; else the last.
    """
    with np.errstate(all="ignore"):
        ends = fn(np.array([-np.inf, np.inf]))
        out = []
        for side, end in zip((-1.0, 1.0), ends):
            if np.isnan(end):
                far = fn(side * FAR)
                bad = np.nonzero(~np.isfinite(far))[0]
                first_bad = far[bad[0]] if bad.size else np.nan
                far = far[: bad[0]] if bad.size else far
                settled = np.nonzero((far[:-2] == far[1:-1]) & (far[1:-1] == far[2:]))[0]
                if settled.size:
                    end = far[settled[0]]
                elif far.size >= 3:
                    steps = np.abs(np.diff(far[-3:]))
                    growing = abs(far[-1]) > abs(far[-2]) > abs(far[-3]) and steps[1] >= steps[0] > 0
                    end = math.copysign(math.inf, far[-1]) if growing else far[-1]
                else:  # overflows from the start: inf when it does so with a sign
                    end = first_bad
            out.append(float(end))
    return out


def _approached(act: Activation, oracle: _Oracle | None, at: float, side: float, sign: float) -> bool:
    """Whether f(at), equal in float64 to its limit at side·inf, is only approached there.

    The oracle decides: f is strictly nearer the limit further out (tanh: -1 + 2.6e-17 at
    x = -19, which float64 rounds to -1), or it is not (relu: 0 on x <= 0).  Without the
    oracle, a non-zero f'(at) says that f still moves.
    """
    if oracle is not None:
        with mpmath.workdps(ORACLE_DPS):
            here, there = oracle(at), oracle(side * 1e3 * max(SPAN, abs(at)))
            if here is not None and there is not None:
                # mpmath's rounding is relative: a limit 0 approached by 1e-325 (laplace's Φ((x - μ)/σ)
                # at x = -10, 0 in float64) is still approached, however far below the absolute floor
                relative = mpmath.mpf(10) ** (30 - ORACLE_DPS) * max(abs(here), abs(there))
                return bool(sign * (there - here) < -min(_floor(oracle, at), relative))
    with np.errstate(all="ignore"):
        return float(act.derivative(at)) != 0.0


def _extremum(
    act: Activation, x: np.ndarray, y: np.ndarray, lowest: bool, slopes: np.ndarray, oracle: _Oracle | None
) -> Extremum:
    sign = 1.0 if lowest else -1.0
    ends = _limits(act)
    best = float(np.nanmin(sign * y)) * sign
    on_grid = np.nonzero(y == best)[0]
    at = float(x[on_grid[np.argmin(np.abs(x[on_grid]))]])  # a plateau: report its point nearest 0
    candidates = [(best, at)]
    for i in np.nonzero(np.sign(slopes[:-1]) * np.sign(slopes[1:]) < 0)[0]:  # interior critical points
        c = optimize.brentq(lambda t: float(act.derivative(t)), x[i], x[i + 1], xtol=1e-16, rtol=1e-15)
        candidates.append((float(act(c)), float(c)))
    value, at = min(candidates, key=lambda vc: sign * vc[0])
    for side, end in zip((-1.0, 1.0), ends):
        if np.isnan(end):
            continue
        if sign * end < sign * value or (end == value and _approached(act, oracle, at, side, sign)):
            return Extremum(float(end), None)  # approached only at infinity
    return Extremum(value, at)


def _gaussian_mass(act: Activation, test: Any, keep: Any = None) -> float:
    """P(test(f'(z))) for z ~ N(0, 1): the set is found on a grid, its ends by bisection.

    ``keep(x)``, given a point inside one of the set's intervals, may reject that interval.
    """
    from scipy.special import ndtr

    z = np.linspace(-12.0, 12.0, 24 * 64 + 1)
    with np.errstate(all="ignore"):
        inside = test(act.derivative(z))
        edges = [-np.inf]
        states = [bool(inside[0])]
        for i in np.nonzero(inside[:-1] != inside[1:])[0]:
            lo, hi = float(z[i]), float(z[i + 1])
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if bool(test(act.derivative(np.array([mid])))[0]) == bool(inside[i]):
                    lo = mid
                else:
                    hi = mid
            edges.append(0.5 * (lo + hi))
            states.append(not states[-1])
    edges.append(np.inf)
    total = 0.0
    for a, b, s in zip(edges[:-1], edges[1:], states):
        if s and (keep is None or keep(_inside(a, b))):
            total += float(ndtr(b) - ndtr(a))
    return total


def _inside(a: float, b: float) -> float:
    if math.isinf(a) and math.isinf(b):
        return 0.0
    return b - 1.0 if math.isinf(a) else (a + 1.0 if math.isinf(b) else 0.5 * (a + b))


def _flat(oracle: _Oracle | None) -> Any:
    """Whether f' = 0 at x, at high precision: 1 - s(x³) rounds to 0 long before f' does."""

    def flat(x: float) -> bool:
        if oracle is None:
            return True
        h = 1e-20 * max(1.0, abs(x))
        with mpmath.workdps(ORACLE_DPS):
            left, right = oracle(mpmath.mpf(x) - h), oracle(mpmath.mpf(x) + h)
        return left is None or right is None or left == right

    return flat


def breaks(act: Activation, kinks: tuple[float, ...] | list[float] = ()) -> list[float]:
    """Where Gaussian quadrature of f should split: the kinks found and the declared ones."""
    assert isinstance(act.spec, Elementwise)
    return sorted(set(kinks) | {k.x for k in act.spec.kink_points(act.bound)})


def properties(act: Activation | str) -> Properties:
    """Compute everything this module knows about an elementwise activation."""
    act = get(act) if isinstance(act, str) else act
    if not isinstance(act.spec, Elementwise):
        raise TypeError(f"{act.name} is not elementwise (kind: {act.kind}); properties are for elementwise ones")
    x = _grid()
    with np.errstate(all="ignore"):
        y, d = act(x), act.derivative(x)
    oracle = _Oracle.of(act)
    kinks, smoothness = _find_kinks(act, oracle)
    splits = breaks(act, kinks)
    f, df = vectorised(act), vectorised(act.derivative)
    mono = bool((d >= 0).all() or (d <= 0).all())
    far = np.abs(_limits(act.derivative))
    lipschitz = float(max(np.max(np.abs(d)), np.nanmax(far) if not np.isnan(far).all() else 0.0))
    peaks = np.nonzero(np.diff(np.sign(np.diff(np.abs(d)))) < 0)[0] if math.isfinite(lipschitz) else []
    # a peak of |f'| more than 10% below the largest on the grid cannot pass it between two grid points;
    # the rounding steps of a user's 1 - tanh² are hundreds of such peaks
    for i in (i for i in peaks if abs(d[i + 1]) >= 0.9 * lipschitz):
        lo, hi = x[i], x[i + 2]
        res = optimize.minimize_scalar(lambda t: -abs(float(act.derivative(t))), bounds=(lo, hi), method="bounded")
        lipschitz = max(lipschitz, -float(res.fun))
    return Properties(
        name=act.name,
        params=act.params,
        infimum=_extremum(act, x, y, True, d, oracle),
        supremum=_extremum(act, x, y, False, d, oracle),
        monotonic=mono,
        kinks=kinks,
        smoothness=smoothness,
        mean=gaussian_expectation(f, breaks=splits),
        second_moment=gaussian_expectation(square(f), breaks=splits),
        mean_derivative=gaussian_expectation(df, breaks=splits),
        derivative_second_moment=gaussian_expectation(square(df), breaks=splits),
        dead_fraction=_gaussian_mass(act, lambda g: g == 0, _flat(oracle)),
        saturated_fraction=_gaussian_mass(act, lambda g: np.abs(g) < SATURATION),
        lipschitz=lipschitz,
    )
