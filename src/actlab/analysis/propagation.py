"""Mean-field signal propagation through deep random networks (Poole et al. 2016; Schoenholz et al. 2017).

For weights w ~ N(0, σ_w²/N) and biases b ~ N(0, σ_b²), the variance q of the
pre-activations of layer l+1 follows the variance map

    q ↦ V(q) = σ_w² E[f(√q z)²] + σ_b²,   z ~ N(0, 1),

with fixed point q*.  χ₁ = σ_w² E[f'(√q* z)²] is the mean squared singular value of a layer's
Jacobian: χ₁ < 1 is the ordered phase (gradients vanish), χ₁ > 1 the chaotic one (they explode),
χ₁ = 1 the edge of chaos.  Two inputs with correlation c map to
c ↦ (σ_w² E[f(u₁) f(u₂)] + σ_b²) / q*, u₁ = √q* z₁, u₂ = √q* (c z₁ + √(1 - c²) z₂); ξ_q and ξ_c are the
depths over which q and c approach their fixed points.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import optimize

from ..numpy import Activation, get
from .quadrature import gaussian_expectation, square, vectorised

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(96)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass
class MeanField:
    """The mean-field maps of ``act`` at weight variance σ_w² and bias variance σ_b²."""

    act: Activation
    sigma_w2: float = 1.0
    sigma_b2: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma_w2) and self.sigma_w2 > 0):
            raise ValueError(f"σ_w² must be a finite number > 0; got {self.sigma_w2!r}")
        if not (math.isfinite(self.sigma_b2) and self.sigma_b2 >= 0):
            raise ValueError(f"σ_b² must be a finite number >= 0; got {self.sigma_b2!r}")

    @classmethod
    def of(cls, act: Activation | str, sigma_w2: float = 1.0, sigma_b2: float = 0.0, **params: Any) -> MeanField:
        return cls(get(act, **params) if isinstance(act, str) else act, float(sigma_w2), float(sigma_b2))

    def _breaks(self, std: float = 1.0) -> list[float]:
        """Where quadrature at this std splits: f's kinks, and where f bends (|x| ~ 1) if that is
        a speck of the Gaussian (a wide one, q ≫ 1, would step over tanh's whole transition)."""
        from .properties import find_kinks

        if not hasattr(self, "_kinks"):
            found = find_kinks(self.act)[0]
            self._kinks = sorted(set(found) | {k.x for k in self.act.spec.kink_points(self.act.bound)})
        return self._kinks + ([-32.0, -4.0, -1.0, 0.0, 1.0, 4.0, 32.0] if std > 32 else [])

    def _mean_square(self, fn: Any, q: float) -> float:
        """σ_w² E[fn(√q z)²], z ~ N(0, 1), with σ_w inside the square: σ_w² E[f'²] is 5e299 for
        leaky_relu with slope 1e300 at σ_w² = 1e-300, though E[f'²] alone overflows."""
        w = math.sqrt(self.sigma_w2)
        g = vectorised(fn)
        if q == math.inf:  # √q z is ±inf but for z = 0: half the mass at each end
            return (square(lambda t: w * g(t))(-math.inf) + square(lambda t: w * g(t))(math.inf)) / 2
        std = math.sqrt(q)
        return gaussian_expectation(square(lambda t: w * g(t)), std=std, breaks=self._breaks(std))

    def variance_map(self, q: float) -> float:
        return self._mean_square(self.act, q) + self.sigma_b2

    def fixed_point(self, q_max: float = 1e6) -> float:
        """q* with V(q*) = q*: 0 when every variance shrinks to it, inf when every variance grows."""
        h = lambda q: self.variance_map(q) - q  # noqa: E731
        if abs(h(1.0)) <= 1e-12:
            return 1.0  # marginal: every q is a fixed point (ReLU at σ_w² = 2, σ_b² = 0)
        while h(q_max) > 0:  # a bounded f with a large σ_w² has its q* near σ_w² sup f²
            if q_max >= sys.float_info.max:
                return math.inf
            q_max = min(q_max * 1e6, sys.float_info.max)
        lo = 1e-12
        if h(lo) < 0:
            return 0.0
        return float(optimize.brentq(h, lo, q_max, xtol=1e-14, rtol=1e-13))

    def layers(self, q0: float, depth: int) -> list[float]:
        """q of each layer's pre-activations, from input variance q0, through ``depth`` layers."""
        if not (q0 > 0 and depth >= 0):
            raise ValueError(f"q0 must be > 0 and depth >= 0; got q0={q0!r}, depth={depth!r}")
        qs = [q0]
        for _ in range(depth):
            if len(qs) > 1 and qs[-1] == qs[-2]:  # a fixed point in float64: the rest are the same
                qs.extend([qs[-1]] * (depth + 1 - len(qs)))
                break
            qs.append(self.variance_map(qs[-1]))
        return qs

    def chi1(self, q: float | None = None) -> float:
        q = self.fixed_point() if q is None else q
        if q == 0:  # the limit q -> 0+: f' on either side of 0 (relu: 0 and 1), half the mass each
            d = square(lambda t: math.sqrt(self.sigma_w2) * vectorised(self.act.derivative)(t))
            tiny = math.ulp(0.0)
            return (d(-tiny) + d(tiny)) / 2
        return self._mean_square(self.act.derivative, q)

    def _pair(self, c: float, q: float, g: Any) -> float:
        z1, z2 = np.meshgrid(_NODES, _NODES, indexing="ij")
        w = np.outer(_WEIGHTS, _WEIGHTS)
        s = math.sqrt(q)
        u1 = s * z1
        u2 = s * (c * z1 + math.sqrt(max(0.0, 1.0 - c * c)) * z2)
        return float(np.sum(w * g(u1) * g(u2)))

    def correlation_map(self, c: float, q: float | None = None) -> float:
        q = self.fixed_point() if q is None else q
        return (self.sigma_w2 * self._pair(c, q, self.act) + self.sigma_b2) / q

    def correlation_fixed_point(self, q: float | None = None, c0: float = 0.0, steps: int = 2000) -> float:
        q = self.fixed_point() if q is None else q
        c = c0
        for _ in range(steps):
            nxt = min(1.0, self.correlation_map(c, q))
            if abs(nxt - c) < 1e-12:
                return nxt
            c = nxt
        return c

    def depth_scales(self) -> dict[str, float]:
        """ξ_q = -1/log V'(q*) and ξ_c = -1/log χ_c (inf at criticality).

        At q* = 0 (σ_b² = 0 and f(0) = 0: every signal dies out) both slopes are χ₁, so
        ξ_q = ξ_c = -1/log χ₁, infinite where χ₁ = 1 (tanh at σ_w² = 1); c* is then undefined
        (NaN), as are all three where q* is infinite.
        """
        q = self.fixed_point()
        chi1 = self.chi1(q)
        out = {"q_star": q, "chi1": chi1}
        if q == 0:
            out.update(c_star=math.nan, xi_q=_depth(chi1), xi_c=_depth(chi1))
            return out
        if not (0 < q < math.inf):
            out.update(c_star=math.nan, xi_q=math.nan, xi_c=math.nan)
            return out
        h = 1e-5 * q
        slope = (self.variance_map(q + h) - self.variance_map(q - h)) / (2 * h)
        c = self.correlation_fixed_point(q)
        chi_c = self.sigma_w2 * self._pair(c, q, self.act.derivative)
        out.update(
            c_star=c,
            xi_q=_depth(slope),
            xi_c=_depth(chi_c),
        )
        return out


def _depth(slope: float) -> float:
    """-1/log|slope|: the depth over which a deviation shrinks e-fold; 0 for slope 0 (at once), inf
    where it does not shrink (|slope| >= 1: criticality, or a fixed point that repels)."""
    if math.isnan(slope):
        return math.nan
    if slope == 0:
        return 0.0
    return -1.0 / math.log(abs(slope)) if abs(slope) < 1 else math.inf


def edge_of_chaos(
    act: Activation | str, sigma_b2: list[float] | np.ndarray, lo: float = 0.1, hi: float = 20.0
) -> list[tuple[float, float]]:
    """(σ_b², σ_w²) pairs on the critical line χ₁ = 1."""
    act = get(act) if isinstance(act, str) else act
    out = []
    for b in sigma_b2:

        def g(w: float, b: float = float(b)) -> float:
            return MeanField(act, w, b).chi1() - 1.0

        try:
            out.append((float(b), float(optimize.brentq(g, lo, hi, xtol=1e-10))))
        except ValueError:
            out.append((float(b), math.nan))
    return out
