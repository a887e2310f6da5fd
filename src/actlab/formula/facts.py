"""What `show` states of a formula activation beyond a user entry's computed facts: how it was read and
stabilised, the entry it equals, its limits at ±∞, and its accuracy measured against the oracle."""

from __future__ import annotations

import math
from typing import Any

from .core import FormulaSpec

LOST = 2.0**20
"""An error above this many ulp leaves fewer than 4 of float32's 24 bits (and 33 of float64's 53): "loses digits"."""


def accuracy(spec: FormulaSpec, *, quick: bool = False, act: Any = None) -> list[dict[str, Any]]:
    """f and f′ in float32 and float64 against the mpmath oracle (the textbook formula at 50 digits) on
    :func:`actlab.accuracy.grid` (``act``: at its parameters, else the defaults): the worst error, where, and where the
    result is ±inf or NaN although the exact value is finite."""
    from ..accuracy import measure

    rows = []
    for dtype in ("float32", "float64"):
        for what in ("f", "f'"):
            w = measure(act if act is not None else spec.name, dtype, what, quick=quick)
            rows.append(
                {
                    "dtype": dtype,
                    "what": what,
                    "max_ulp": w.ulp,
                    "at": w.ulp_x,
                    "scaled": w.scaled,
                    "bound": w.bound,
                    "passed": w.passed and w.nonfinite == 0,
                    "nonfinite": w.nonfinite,
                    "nonfinite_from": w.nonfinite_x,
                    "points": w.points,
                }
            )
    return rows


def accuracy_lines(rows: list[dict[str, Any]]) -> list[str]:
    """One line per measurement, and a warning where digits are lost."""
    out = []
    for r in rows:
        line = f"{r['dtype']} {r['what']}: max {r['max_ulp']:.3g} ulp at x = {r['at']:.6g}"
        if r["dtype"] == "float64":
            line += f" ({r['scaled']:.3g} × max(1, κ); bound {r['bound']:g})"
        if r["nonfinite"]:
            line += (
                f"; ±inf or NaN at {r['nonfinite']} points from x = {r['nonfinite_from']:.6g} "
                "where the exact value is finite"
            )
        elif r["max_ulp"] > LOST or not math.isfinite(r["max_ulp"]):
            line += f"; LOSES DIGITS near x = {r['at']:.6g}"
        out.append(line + ("" if r["passed"] else "  [above the bound]"))
    return out


def describe(spec: FormulaSpec, *, measure: bool = True, act: Any = None) -> dict[str, Any]:
    """The formula's own facts as plain data (the JSON of `show`)."""
    s = spec.formula_source
    out: dict[str, Any] = {
        "text": s.text,
        "params": dict(s.params),
        "learnable": list(s.learnable),
        "stabilised": s.stabilise,
        "rewrites": list(spec.rewrites),
        "equals": spec.equals,
        "limits": dict(spec.limits),
        "latex": {"f": spec.formula_text(), "f'": spec.derivative_text()},
    }
    out["accuracy"] = accuracy(spec, act=act) if measure else None
    return out


def lines(d: dict[str, Any]) -> list[tuple[str, str]]:
    """The `show` lines of :func:`describe`'s data."""
    out = [("written", d["text"])]
    if d["rewrites"]:
        out += [("stabilised" if i == 0 else "", r) for i, r in enumerate(d["rewrites"])]
    elif d["stabilised"]:
        out.append(("stabilised", "already in stable forms (no rewrite needed)"))
    else:
        out.append(("stabilised", "no: evaluated as written (stabilise=False)"))
    if d["equals"]:
        out.append(("equals", f"{d['equals']} (numerically, to 1e-12 on [-30, 30] and ±[1e-6, 1e6])"))
    lim = d["limits"]
    if lim:
        shown = ", ".join(f"{k.replace('inf', '∞')} = {v:g}" for k, v in lim.items())
        out.append(("limits", f"{shown} (SymPy)"))
    if d["accuracy"] is not None:
        out += [("accuracy" if i == 0 else "", line) for i, line in enumerate(accuracy_lines(d["accuracy"]))]
        out.append(("", "measured against mpmath (50 digits) over the whole float range, subnormals to the largest"))
    return out
