"""Expectations under a Gaussian, split at the kinks so that quadrature stays accurate."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable

import numpy as np
from scipy import integrate

SQRT_2PI = math.sqrt(2.0 * math.pi)


def _phi(z: float) -> float:
    return math.exp(-0.5 * z * z) / SQRT_2PI


def gaussian_expectation(
    g: Callable[[float], float], *, mean: float = 0.0, std: float = 1.0, breaks: Iterable[float] = ()
) -> float:
    """E[g(x)] for x ~ N(mean, std²), integrating piecewise between the ``breaks`` (kinks of g).

    >>> round(gaussian_expectation(lambda x: max(x, 0.0) ** 2, breaks=[0.0]), 12)
    0.5
    """
    if std == 0:
        return float(g(mean))
    # breaks in z = (x - mean)/std, kept within ±40 (beyond, φ < 1e-347)
    zs = sorted({min(max((b - mean) / std, -40.0), 40.0) for b in breaks if math.isfinite(b)})
    edges = [-math.inf, *zs, math.inf]

    def integrand(z: float) -> float:
        w = _phi(z)
        if w == 0:  # beyond |z| = 38.6: nothing to add, and a formula may not be finite there
            return 0.0
        v = g(mean + std * z)
        return 0.0 if v == 0 else v * w

    total = 0.0
    for lo, hi in itertools.pairwise(edges):
        if lo == hi:
            continue
        value, _ = integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-13, limit=400)
        total += value
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
