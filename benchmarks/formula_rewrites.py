"""The stabilising rewrites of formula activations, measured: each formula's accuracy as written and
after the rewrites, f and f′ in float32 and float64, against the mpmath oracle over the whole float
range (the grid `actlab accuracy` uses).

    python benchmarks/formula_rewrites.py                      # log(1+exp(x)) and x*tanh(log(1+exp(x)))
    python benchmarks/formula_rewrites.py "exp(x)-1" "x/(1+exp(-x))"
"""

from __future__ import annotations

import sys
import time

from actlab.formula import define
from actlab.formula.facts import accuracy

FORMULAS = ("log(1+exp(x))", "x*tanh(log(1+exp(x)))")


def cell(r: dict) -> str:
    text = f"{r['max_ulp']:.3g} ulp at {r['at']:.4g}"
    if r["nonfinite"]:
        text += f"; {r['nonfinite']} inf/NaN from {r['nonfinite_from']:.4g}"
    return text


def main(formulas: tuple[str, ...]) -> None:
    print("| formula | form | dtype | f: max error | f′: max error |")
    print("|---|---|---|---|---|")
    for text in formulas:
        for stabilise in (False, True):
            started = time.perf_counter()
            spec = define(text, stabilise=stabilise)
            rows = accuracy(spec)
            form = "stabilised: " + "; ".join(spec.rewrites) if stabilise and spec.rewrites else "as written"
            if stabilise and not spec.rewrites:
                form = "stabilised (no rewrite needed)"
            for dtype in ("float32", "float64"):
                f, d = (next(r for r in rows if r["dtype"] == dtype and r["what"] == w) for w in ("f", "f'"))
                print(f"| `{text}` | {form} | {dtype} | {cell(f)} | {cell(d)} |")
            print(
                f"<!-- {text} {'stabilised' if stabilise else 'as written'}: {time.perf_counter() - started:.1f} s -->"
            )


if __name__ == "__main__":
    main(tuple(sys.argv[1:]) or FORMULAS)
