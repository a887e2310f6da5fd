"""Expectations under a Gaussian, split at the kinks so that quadrature stays accurate."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Callable, Iterable

import numpy as np
from scipy import integrate

from ..errors import ActlabError

SQRT_2PI = math.sqrt(2.0 * math.pi)


class QuadratureError(ActlabError, ArithmeticError):
    """A Gaussian mean that adaptive quadrature could not compute to its tolerance (an f that
    oscillates at a period far below 1, such as snake with alpha = 1e308)."""


class Float64RangeError(ActlabError, OverflowError):
    """An analysis whose numbers leave float64's range at the parameters given (f itself
    overflows where N(0, 1) has weight, or a variance is beyond 1e308)."""


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / SQRT_2PI


def gaussian_expectation(
    g: Callable[[float], float], *, mean: float = 0.0, std: float = 1.0, breaks: Iterable[float] = ()
) -> float:
    """E[g(x)] for x ~ N(mean, std²), integrating piecewise between the ``breaks`` (kinks of g).

    ±inf where g is ±inf (float64 overflow) on a set the Gaussian weighs, NaN where g is NaN there
    or takes both infinities.

    >>> round(gaussian_expectation(lambda x: max(x, 0.0) ** 2, breaks=[0.0]), 12)
    0.5
    """
    if std == 0:
        return float(g(mean))
    # breaks in z = (x - mean)/std, kept within ±40 (beyond, φ < 1e-347)
    zs = sorted({min(max((b - mean) / std, -40.0), 40.0) for b in breaks if math.isfinite(b)})
    if zs and min(abs(z) for z in zs) > 8:  # quad's map of a half-line onto (0, 1] sees the bulk of the
        zs = sorted([*zs, 0.0])  # Gaussian only if that half-line starts near it (softplus, threshold 1e308)
    edges = [-math.inf, *zs, math.inf]

    unbounded: list[float] = []  # the values of g that are not finite where the Gaussian still weighs
    # quad's error estimates overflow (or lose every digit) on values near 1e308 (or 1e-308): it
    # integrates g / scale, where the scale is the size of g within one standard deviation
    near = [abs(v) for v in (g(mean - std), g(mean), g(mean + std)) if math.isfinite(v) and v != 0]
    scale = max(near) if near and not 1e-100 < max(near) < 1e100 else 1.0

    def integrand(z: float) -> float:
        w = _phi(z)
        if w == 0:  # beyond |z| = 38.6: nothing to add, and a formula may not be finite there
            return 0.0
        v = g(mean + std * z)
        if not math.isfinite(v):
            unbounded.append(v)
            return 0.0
        return 0.0 if v == 0 else (v / scale) * w

    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        if lo == hi:
            continue
        if hi - lo < 1e-280:  # quad's arithmetic fails on near-subnormal widths (hardsigmoid with offset
            total += (hi - lo) * integrand(0.5 * (lo + hi))  # 1e-308: 0 to 6e-308): the midpoint rule
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", integrate.IntegrationWarning)
            value, _ = integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=400)
        if caught and not unbounded:
            raise QuadratureError(
                f"a Gaussian mean did not converge: the function varies on scales quadrature cannot follow "
                f"between z = {lo:g} and {hi:g} (std {std:g}): {str(caught[0].message).splitlines()[0]}"
            )
        total += value
    total *= scale
    if unbounded:  # g overflows (to one sign: so does its mean) or is undefined on a set quad samples
        return unbounded[0] if all(v == unbounded[0] for v in unbounded) else math.nan
    return total


def vectorised(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[float], float]:
    """A scalar function from an array one (quad calls with Python floats).

    A user's formula may overflow on the way to a finite value (e^x / (1 + e^x)): its
    intermediate over- and underflows are not reported.
    """

    def scalar(x: float) -> float:
        with np.errstate(all="ignore"):
            return float(f(np.array([x]))[0])

    return scalar


def square(f: Callable[[float], float]) -> Callable[[float], float]:
    """t ↦ f(t)², +inf where it overflows (a Python float's ``** 2`` raises OverflowError there)."""

    def squared(t: float) -> float:
        v = f(t)
        return v * v

    return squared
