"""The search space of Ramachandran, Zoph and Le (2017, "Searching for Activation Functions"), as formulas.

A *core unit* is b(u₁(x), u₂(x)): two unary functions of the input combined by a binary function.
Depth 2 composes two units, b′(u₃(y), u₄(x)) with y the first unit's output, as the paper's larger
spaces do.  Every candidate is formula text (:mod:`actlab.formula`), so it is an ordinary activation
with a symbolic derivative, and a mutation changes one unary or binary function of it.

The unary and binary sets are the paper's (its Table 1 of functions), written in the formula
vocabulary; ``beta`` is a scalar, 1 unless a search makes it learnable.  A :class:`Space` holds the
sets and the depth; :data:`SPACES` names the ones the command line offers.

>>> from actlab.search.space import Candidate, SPACES
>>> Candidate(("mul", "x", "sigmoid")).formula()
'(x) * (sigmoid(x))'
>>> len(SPACES["core"].unary), len(SPACES["core"].binary)
(24, 10)
"""

from __future__ import annotations

import random
from dataclasses import dataclass

UNARY: dict[str, str] = {
    # name: formula of u (the unit's input); from Ramachandran et al. (2017), Table 1 of their search
    "x": "{u}",
    "neg": "-({u})",
    "abs": "abs({u})",
    "square": "({u})**2",
    "cube": "({u})**3",
    "sqrt": "sqrt({u})",
    "scale": "beta*({u})",
    "shift": "({u}) + beta",
    "log_abs": "log(abs({u}) + 1e-6)",
    "exp": "exp({u})",
    "sin": "sin({u})",
    "cos": "cos({u})",
    "sinh": "sinh({u})",
    "cosh": "cosh({u})",
    "tanh": "tanh({u})",
    "asinh": "asinh({u})",
    "atan": "atan({u})",
    "sinc": "sinc({u})",
    "relu": "max({u}, 0)",
    "min0": "min({u}, 0)",
    "sigmoid": "sigmoid({u})",
    "softplus": "softplus({u})",
    "gauss": "exp(-({u})**2)",
    "erf": "erf({u})",
}
"""The unary functions: name → formula with ``{u}`` for the argument."""

BINARY: dict[str, str] = {
    "add": "({a}) + ({b})",
    "mul": "({a}) * ({b})",
    "sub": "({a}) - ({b})",
    "div": "({a}) / (({b}) + 1e-6)",
    "max": "max({a}, {b})",
    "min": "min({a}, {b})",
    "sigmoid_mul": "sigmoid({a}) * ({b})",
    "gauss_diff": "exp(-beta*(({a}) - ({b}))**2)",
    "laplace_diff": "exp(-beta*abs(({a}) - ({b})))",
    "mix": "beta*({a}) + (1 - beta)*({b})",
}
"""The binary functions: name → formula with ``{a}`` and ``{b}``."""


@dataclass(frozen=True)
class Space:
    """Which unary and binary functions a search draws from, and how many core units it composes."""

    name: str
    unary: tuple[str, ...]
    binary: tuple[str, ...]
    depth: int = 1

    def random(self, rng: random.Random) -> Candidate:
        genes: list[str] = []
        for _ in range(self.depth):
            genes += [rng.choice(self.binary), rng.choice(self.unary), rng.choice(self.unary)]
        return Candidate(tuple(genes))

    def mutate(self, c: Candidate, rng: random.Random) -> Candidate:
        """``c`` with one of its functions, chosen at random, replaced by another of its kind."""
        genes = list(c.genes)
        i = rng.randrange(len(genes))
        pool = self.binary if i % 3 == 0 else self.unary
        genes[i] = rng.choice([g for g in pool if g != genes[i]] or list(pool))
        return Candidate(tuple(genes))

    def size(self) -> int:
        return (len(self.binary) * len(self.unary) ** 2) ** self.depth


SPACES: dict[str, Space] = {
    "core": Space("core", tuple(UNARY), tuple(BINARY), 1),
    "core2": Space("core2", tuple(UNARY), tuple(BINARY), 2),
    "small": Space(
        "small",
        ("x", "neg", "abs", "square", "tanh", "sigmoid", "relu", "sin", "cos", "atan", "erf", "exp"),
        ("add", "mul", "sub", "max", "min", "sigmoid_mul"),
        1,
    ),
}
"""The spaces `actlab search --space` offers: the paper's core unit (``core``), two units composed
(``core2``), and a smaller set for quick searches (``small``)."""


@dataclass(frozen=True)
class Candidate:
    """A point of a space: for each core unit (binary, unary₁, unary₂), the first unit innermost."""

    genes: tuple[str, ...]

    def formula(self) -> str:
        """The candidate as formula text (``x`` the input; the second unit takes the first's output)."""
        inner = "x"
        for k in range(0, len(self.genes), 3):
            b, u1, u2 = self.genes[k : k + 3]
            a = UNARY[u1].format(u=inner)
            c = UNARY[u2].format(u="x")
            inner = BINARY[b].format(a=a, b=c)
        return inner
