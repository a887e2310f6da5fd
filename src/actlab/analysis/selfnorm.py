"""Self-normalization (Klambauer et al. 2017): the map of activation mean and variance through
a layer, its fixed points and their stability, and the constants that make (0, 1) stable.

A unit fed by n inputs of mean μ and variance ν, with weights summing to ω = Σ w_i and
τ = Σ w_i², sees z ~ N(μω, ντ); its output has mean μ̃ = E[f(z)] and variance ν̃ = Var f(z).
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
from scipy import optimize

from ..numpy import Activation, get
from .quadrature import Float64RangeError, gaussian_expectation, square, vectorised

MARGIN = 1e-6
"""A spectral radius within this of 1 is marginal (homogeneous activations such as a scaled
ReLU map every variance to a multiple of itself: the eigenvalue is exactly 1)."""


def _status(eigenvalues: Any) -> str:
    radius = float(np.max(np.abs(eigenvalues)))
    return "stable" if radius < 1 - MARGIN else ("marginal" if radius <= 1 + MARGIN else "unstable")


def _breaks(act: Activation) -> list[float]:
    return [k.x for k in act.spec.kink_points(act.bound)]


def moment_map(
    act: Activation | str, mu: float, nu: float, omega: float = 0.0, tau: float = 1.0
) -> tuple[float, float]:
    """(μ̃, ν̃) for inputs of mean μ and variance ν."""
    act = get(act) if isinstance(act, str) else act
    return _moments(vectorised(act), mu * omega, nu * tau, _breaks(act))


def _moments(f: Any, mean: float, variance: float, breaks: list[float]) -> tuple[float, float]:
    """Mean and variance of f(z) for z ~ N(mean, variance)."""
    std = math.sqrt(max(variance, 0.0))
    m1 = gaussian_expectation(f, mean=mean, std=std, breaks=breaks)
    if not math.isfinite(m1):
        return m1, math.nan
    # E[(f - m1)²], not E[f²] - m1², which cancels when f varies little about a large mean
    return m1, gaussian_expectation(square(lambda t: f(t) - m1), mean=mean, std=std, breaks=breaks)


def jacobian(act: Activation | str, mu: float, nu: float, omega: float = 0.0, tau: float = 1.0) -> np.ndarray:
    """d(μ̃, ν̃)/d(μ, ν) by central differences."""
    return _jacobian_of(lambda m, n: moment_map(act, m, n, omega, tau), mu, nu)


def stability(
    act: Activation | str, mu: float = 0.0, nu: float = 1.0, omega: float = 0.0, tau: float = 1.0
) -> dict[str, Any]:
    """The fixed point nearest (μ, ν), the Jacobian's eigenvalues there, and whether it attracts."""
    act = get(act) if isinstance(act, str) else act
    res = optimize.root(lambda v: np.array(moment_map(act, v[0], v[1], omega, tau)) - v, [mu, nu], tol=1e-13)
    fixed = res.x
    eig = np.linalg.eigvals(jacobian(act, fixed[0], fixed[1], omega, tau))
    return {
        "fixed_point": (float(fixed[0]), float(fixed[1])),
        "eigenvalues": [complex(e) if abs(e.imag) > 1e-12 else float(e.real) for e in eig],
        "status": _status(eig),
        "stable": _status(eig) == "stable",
        "converged": bool(res.success),
    }


def solve_selu_constants() -> tuple[float, float]:
    """α and λ with μ̃(0, 1) = 0 and ν̃(0, 1) = 1 for λ·ELU_α (ω = 0, τ = 1): SELU's constants."""

    def residual(v: np.ndarray) -> np.ndarray:
        alpha, lam = v
        elu = get("elu", alpha=alpha)
        f = vectorised(elu)
        m1 = gaussian_expectation(lambda t: lam * f(t), breaks=[0.0])
        m2 = gaussian_expectation(lambda t: (lam * f(t)) ** 2, breaks=[0.0])
        return np.array([m1, m2 - 1.0])

    res = optimize.root(residual, [1.6, 1.05], tol=1e-15)
    return float(res.x[0]), float(res.x[1])


def self_normalizing_scaling(act: Activation | str, **params: Any) -> dict[str, Any]:
    """λ and β making g(x) = λ f(x) + β map N(0, 1) to mean 0, variance 1, and the stability of (0, 1)."""
    act = get(act, **params) if isinstance(act, str) else act
    mu, var = moment_map(act, 0.0, 1.0)
    # a spread below 1e-12 of the mean is the quadrature's rounding of the mean, not f's variance
    if not (math.isfinite(mu) and sys.float_info.min <= var < math.inf and math.sqrt(var) > 1e-12 * abs(mu)):
        raise Float64RangeError(
            f"{act!r}: E[f(z)] = {mu:g} and Var f(z) = {var:g} for z ~ N(0, 1): no self-normalizing "
            "scaling within float64's range and precision"
        )
    lam = 1.0 / math.sqrt(var)
    beta = -lam * mu
    f = vectorised(act)
    g = lambda t: lam * f(t) + beta  # noqa: E731
    eig = np.linalg.eigvals(_jacobian_of(lambda m, n: _moments(g, 0.0, n, _breaks(act))))
    return {
        "name": act.name,
        "scale": lam,
        "shift": beta,
        "eigenvalues": [float(e.real) for e in eig],
        "status": _status(eig),
        "stable": _status(eig) == "stable",
    }


def _jacobian_of(fmap: Any, mu: float = 0.0, nu: float = 1.0) -> np.ndarray:
    h = 1e-6
    cols = []
    for dmu, dnu in ((h, 0.0), (0.0, h)):
        plus, minus = fmap(mu + dmu, nu + dnu), fmap(mu - dmu, nu - dnu)
        cols.append([(a - b) / (2 * h) for a, b in zip(plus, minus)])
    return np.array(cols).T
