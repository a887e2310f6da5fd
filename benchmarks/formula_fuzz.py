"""Hostile and malformed formula text, measured: how many strings were tried, how many defined an
activation, how many were refused (each with one line), and the slowest.

    python benchmarks/formula_fuzz.py [N]      # N strings (default 3000), seeded, reproducible

Three sources in turn: token soup from the vocabulary and Python's syntax (dunders, imports, lambdas,
brackets, control characters), random Unicode text, and random well-formed expressions (which reach
SymPy: differentiation, simplification, limits and kinks under their time limits).
"""

from __future__ import annotations

import random
import sys
import time

from actlab.errors import FormulaError
from actlab.formula import core, define

TOKENS = [
    "x", "beta", "1", "0", "2.5", "1e308", "-", "+", "*", "/", "**", "^", "(", ")", ",", " ", "exp", "log", "sqrt",
    "sigmoid", "softplus", "where", "max", "min", "piecewise", ">", "<=", "and", "or", "not", "relu", "gelu", "elu",
    "alpha=", "'s'", ".", "[", "]", "{", "}", ":", "=", "lambda", "__class__", "__import__", "os", "import", ";",
    "\\", "#", "@", "%", "//", "!", "?", "9**9**9", "1j", "\x00", "é", "𝑥", "if", "else", "Phi", "pi", "e",
]  # fmt: skip
LEAVES = ["x", "x", "beta", "1", "2", "0.5", "-1", "1e300", "1e-300", "pi"]
UNARY = ["exp", "log", "sqrt", "abs", "tanh", "sigmoid", "softplus", "erf", "sin", "atan", "relu", "elu", "asinh"]


def expression(rng: random.Random, depth: int = 0) -> str:
    if depth > 3 or rng.random() < 0.3:
        return rng.choice(LEAVES)
    kind = rng.randrange(4)
    if kind == 0:
        return f"{rng.choice(UNARY)}({expression(rng, depth + 1)})"
    if kind == 1:
        op = rng.choice(["+", "-", "*", "/", "**"])
        return f"({expression(rng, depth + 1)}{op}{expression(rng, depth + 1)})"
    if kind == 2:
        return f"{rng.choice(['max', 'min'])}({expression(rng, depth + 1)}, {expression(rng, depth + 1)})"
    return f"where({expression(rng, depth + 1)} > 0, {expression(rng, depth + 1)}, {expression(rng, depth + 1)})"


def strings(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 3 == 0:
            out.append("".join(rng.choice(TOKENS) for _ in range(rng.randrange(1, 30))))
        elif i % 3 == 1:
            out.append("".join(chr(rng.randrange(1, 0x2FF)) for _ in range(rng.randrange(0, 60))))
        else:
            out.append(expression(rng))
    return out


def main(n: int) -> None:
    defined = refused = multi_line = 0
    slowest = (0.0, "")
    other: list[str] = []
    started = time.perf_counter()
    for text in strings(n):
        t = time.perf_counter()
        try:
            define(text, register=False)
            defined += 1
        except FormulaError as exc:
            refused += 1
            multi_line += "\n" in str(exc)
        except Exception as exc:  # counted: a failure that is not a FormulaError is a bug
            other.append(f"{text!r}: {type(exc).__name__}: {exc}")
        took = time.perf_counter() - t
        slowest = max(slowest, (took, text))
    total = time.perf_counter() - started
    print(f"strings tried: {n} in {total:.0f} s")
    print(
        f"defined an activation: {defined}; refused with a FormulaError: {refused} (of them multi-line: {multi_line})"
    )
    print(f"any other exception: {len(other)}")
    for line in other[:10]:
        print("  ", line)
    limits = (
        f"read {core.SYMPY_SECONDS:g} s, each simplification {core.SIMPLIFY_SECONDS:g} s, "
        f"each limit or kink search {core.LIMIT_SECONDS:g} s, all optional steps {core.ANALYSIS_SECONDS:g} s"
    )
    print(f"slowest: {slowest[0]:.2f} s for {slowest[1]!r} (time limits: {limits})")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3000)
