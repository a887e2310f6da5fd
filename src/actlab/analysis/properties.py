"""Properties of an activation computed from its formulas: extrema, monotonicity, kinks and
continuity class, Gaussian moments, dead and saturated fractions, Lipschitz constant."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize

from ..catalog.spec import DISCONTINUOUS, SMOOTH, Elementwise
from ..numpy import Activation, get
from .quadrature import gaussian_expectation, vectorised

SPAN = 32.0
STEP = 1.0 / 128.0
SATURATION = 0.01


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


def find_kinks(act: Activation | str) -> tuple[tuple[float, ...], int]:
    """Points in [-32, 32] where f, f' or f'' jump, found by scanning, and the continuity class."""
    act = get(act) if isinstance(act, str) else act
    x = _grid()
    with np.errstate(all="ignore"):
        series = (act(x), act.derivative(x), _second_derivative(act, x))
    found: dict[float, int] = {}
    exact = {0: lambda t: float(act(t)), 1: lambda t: float(act.derivative(t))}
    for order, g in enumerate(series):
        for i in _jumps(g):
            if order < 2:
                at = _refine(exact[order], float(x[i]), float(x[i + 1]))
            else:  # f'' is a difference quotient: locate to its step, then snap
                at = _tidy(0.5 * float(x[i] + x[i + 1]), 0.6 * STEP)
            key = next((k for k in found if abs(k - at) <= 2 * STEP), at)
            klass = DISCONTINUOUS if order == 0 else order - 1
            if key != at and klass < found[key]:  # the lower order's location is the precise one
                found[at] = min(found.pop(key), klass)
            else:
                found[key] = min(found.get(key, SMOOTH), klass)
    if not found:
        return (), SMOOTH
    return tuple(sorted(found)), min(found.values())


def _extremum(act: Activation, x: np.ndarray, y: np.ndarray, lowest: bool, slopes: np.ndarray) -> Extremum:
    sign = 1.0 if lowest else -1.0
    with np.errstate(all="ignore"):
        ends = act(np.array([-np.inf, np.inf]))
    best = float(np.min(sign * y)) * sign
    on_grid = np.nonzero(y == best)[0]
    at = float(x[on_grid[np.argmin(np.abs(x[on_grid]))]])  # a plateau: report its point nearest 0
    candidates = [(best, at)]
    for i in np.nonzero(np.sign(slopes[:-1]) * np.sign(slopes[1:]) < 0)[0]:  # interior critical points
        c = optimize.brentq(lambda t: float(act.derivative(t)), x[i], x[i + 1], xtol=1e-16, rtol=1e-15)
        candidates.append((float(act(c)), float(c)))
    value, at = min(candidates, key=lambda vc: sign * vc[0])
    for end in ends:
        if np.isnan(end):
            continue
        if sign * end < sign * value or (end == value and float(act.derivative(at)) != 0.0):
            return Extremum(float(end), None)  # approached only at infinity
    return Extremum(value, at)


def _gaussian_mass(act: Activation, test: Any) -> float:
    """P(test(f'(z))) for z ~ N(0, 1): the set is found on a grid, its ends by bisection."""
    from scipy.special import ndtr

    z = np.linspace(-12.0, 12.0, 24 * 64 + 1)
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
    return float(sum(ndtr(b) - ndtr(a) for a, b, s in zip(edges[:-1], edges[1:], states) if s))


def properties(act: Activation | str) -> Properties:
    """Compute everything this module knows about an elementwise activation."""
    act = get(act) if isinstance(act, str) else act
    if not isinstance(act.spec, Elementwise):
        raise TypeError(f"{act.name} is not elementwise (kind: {act.kind}); properties are for elementwise ones")
    x = _grid()
    with np.errstate(all="ignore"):
        y, d = act(x), act.derivative(x)
    kinks, smoothness = find_kinks(act)
    breaks = sorted(set(kinks) | {k.x for k in act.spec.kink_points(act.bound)})
    f, df = vectorised(act), vectorised(act.derivative)
    mono = bool((d >= 0).all() or (d <= 0).all())
    with np.errstate(all="ignore"):
        far = np.abs(act.derivative(np.array([-np.inf, np.inf])))
    lipschitz = float(max(np.max(np.abs(d)), np.nanmax(far) if not np.isnan(far).all() else 0.0))
    for i in np.nonzero(np.diff(np.sign(np.diff(np.abs(d)))) < 0)[0] if math.isfinite(lipschitz) else ():
        lo, hi = x[i], x[i + 2]
        res = optimize.minimize_scalar(lambda t: -abs(float(act.derivative(t))), bounds=(lo, hi), method="bounded")
        lipschitz = max(lipschitz, -float(res.fun))
    return Properties(
        name=act.name,
        params=act.params,
        infimum=_extremum(act, x, y, True, d),
        supremum=_extremum(act, x, y, False, d),
        monotonic=mono,
        kinks=kinks,
        smoothness=smoothness,
        mean=gaussian_expectation(f, breaks=breaks),
        second_moment=gaussian_expectation(lambda t: f(t) ** 2, breaks=breaks),
        mean_derivative=gaussian_expectation(df, breaks=breaks),
        derivative_second_moment=gaussian_expectation(lambda t: df(t) ** 2, breaks=breaks),
        dead_fraction=_gaussian_mass(act, lambda g: g == 0),
        saturated_fraction=_gaussian_mass(act, lambda g: np.abs(g) < SATURATION),
        lipschitz=lipschitz,
    )
