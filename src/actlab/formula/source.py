"""What defines a formula activation, as plain data, and how a formula is told from a name: the parts
of :mod:`actlab.formula` that the catalog's lookup uses without importing SymPy."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class FormulaSource:
    """What defines a formula activation, as plain data (it pickles, and is stored with each run):
    the canonical text, the parameters' defaults, which are learnable, and whether it was stabilised."""

    text: str
    params: tuple[tuple[str, float], ...] = ()
    learnable: tuple[str, ...] = ()
    stabilise: bool = True

    def as_json(self) -> str:
        return json.dumps(
            {"formula": self.text, "params": dict(self.params), "learnable": list(self.learnable),
             "stabilise": self.stabilise},
            sort_keys=True,
        )  # fmt: skip

    @classmethod
    def from_json(cls, text: str) -> FormulaSource:
        d = json.loads(text)
        return cls(d["formula"], tuple(sorted(d.get("params", {}).items())), tuple(d.get("learnable", ())),
                   bool(d.get("stabilise", True)))  # fmt: skip


def split_names(text: str) -> list[str]:
    """Comma-separated activations, where a formula may hold commas of its own: split only at commas
    outside brackets (``relu,"where(x > 0, x, 0.1*x)",gelu`` is three)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        if c in "([":
            depth += 1
        elif c in ")]":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def looks_like_formula(text: str) -> bool:
    """True when ``text`` is meant as a formula rather than a name: it has a character no activation
    name has (an operator, a bracket, a dot...), or it is ``x`` alone."""
    return isinstance(text, str) and bool(re.search(r"[^A-Za-z0-9_\-\s]", text) or text.strip() == "x")
