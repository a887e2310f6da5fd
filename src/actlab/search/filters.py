"""Cheap filters before any training: what cannot be an activation, or is one already seen.

Each candidate formula is defined without SymPy's optional steps (:func:`actlab.formula.define`
with ``analyse=False``: about 10 ms) and then judged on numbers alone:

- refused by the formula layer: constant, not real or not finite on [−10, 10] (f or f′);
- *linear*: f′ the same everywhere on the grid (a network of it is one linear map);
- *degenerate gains*: E[f(z)²] or E[f′(z)²] for z ~ N(0, 1), by Gauss–Hermite quadrature, below
  1e-4 or above 1e4 — a signal or a gradient that a layer multiplies by nearly 0 or by a huge factor
  (the gains of :mod:`actlab.analysis.gains` are 1/√ of these);
- *duplicate*: the same values, to 9 significant digits, on :data:`SIGNATURE_GRID` as a candidate
  seen before (``x*sigmoid(x)`` and ``sigmoid(x)*x`` are one candidate).

:func:`screen` returns a :class:`Verdict` with the reason, so every rejection is recorded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FormulaError
from ..namespaces import numpy_ns

SIGNATURE_GRID = np.concatenate([np.linspace(-6.0, 6.0, 49), [-50.0, -20.0, 20.0, 50.0, -0.001, 0.001]])
LINEAR_GRID = np.linspace(-10.0, 10.0, 401)
GAIN_LOW, GAIN_HIGH = 1e-4, 1e4

_nodes, _weights = np.polynomial.hermite_e.hermegauss(96)
_weights = _weights / _weights.sum()  # E[g(z)] = Σ w g(z_i), z ~ N(0, 1)


@dataclass(frozen=True)
class Verdict:
    """A screened candidate: ``ok`` or the ``reason`` it was rejected, and its numerical ``signature``."""

    formula: str
    ok: bool
    reason: str = ""
    signature: str = ""
    canonical: str = ""


def _values(fn: Any, xs: np.ndarray, p: Any) -> np.ndarray:
    with np.errstate(all="ignore"):
        out = fn(xs, p, numpy_ns)
    return np.asarray(np.broadcast_to(out, xs.shape), dtype=np.float64)


def signature(values: np.ndarray) -> str:
    """A hash of values rounded to 9 significant digits (−0 and 0 alike)."""
    rounded = [f"{v:.9g}" if v != 0 else "0" for v in values.tolist()]
    return hashlib.sha1(",".join(rounded).encode()).hexdigest()[:16]


def screen(formula: str, seen: dict[str, str] | None = None) -> Verdict:
    """Judge ``formula``; ``seen`` maps signatures to the first formula that had them (it is updated
    with an accepted candidate's signature)."""
    from ..formula import define

    try:
        spec = define(formula, register=False, analyse=False, learnable=False)
    except FormulaError as exc:
        reason = str(exc).split(": ", 1)[-1]
        return Verdict(formula, False, f"refused: {reason}")
    p = spec.defaults()
    canonical = spec.formula_source.text
    d = _values(spec.derivative, LINEAR_GRID, p)
    if np.ptp(d) <= 1e-9 * max(1.0, float(np.max(np.abs(d)))):
        return Verdict(formula, False, "linear: f′ is the same everywhere", canonical=canonical)
    f2 = float(np.dot(_weights, _values(spec.forward, _nodes, p) ** 2))
    d2 = float(np.dot(_weights, _values(spec.derivative, _nodes, p) ** 2))
    for value, what in ((f2, "E[f(z)²]"), (d2, "E[f′(z)²]")):
        if not np.isfinite(value) or not GAIN_LOW <= value <= GAIN_HIGH:
            return Verdict(formula, False, f"degenerate gain: {what} = {value:.3g}", canonical=canonical)
    sig = signature(_values(spec.forward, SIGNATURE_GRID, p))
    if seen is not None:
        if sig in seen:
            return Verdict(formula, False, f"duplicate of {seen[sig]}", sig, canonical)
        seen[sig] = canonical
    return Verdict(formula, True, "", sig, canonical)
