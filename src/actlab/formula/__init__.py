"""Activations from a formula: type ``x*tanh(softplus(x))``, get a catalog entry.

:func:`define` turns formula text into an ordinary elementwise catalog entry with its symbolic
derivative (SymPy), stable numerics and LaTeX; wherever an activation name is taken, the text of a
formula is taken too (the catalog defines it on first use).  The vocabulary, the safety limits and the
stabilising rewrites are in :mod:`actlab.formula.parse` and :mod:`actlab.formula.symbolic`; named
formulas are kept in the user catalog (:mod:`actlab.formula.user`).  SymPy is imported on first use.
"""

from __future__ import annotations

from typing import Any

from .source import FormulaSource, looks_like_formula

__all__ = ["FormulaSource", "FormulaSpec", "define", "ensure", "looks_like_formula", "lookup"]


def __getattr__(name: str) -> Any:
    if name in ("FormulaSpec", "define", "ensure", "lookup"):
        from . import core as module

        return getattr(module, name)
    raise AttributeError(f"module 'actlab.formula' has no attribute {name!r}")
