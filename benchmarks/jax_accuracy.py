"""actlab.jax beside jax.nn: the worst error of f and f′ on the accuracy grid, and f, f′ at ±∞ and NaN.

For every ``jax.nn`` activation with a catalog counterpart (the name resolved by
``actlab.catalog.registry``; glu, softmax and log_softmax act on vectors and are left out), a
markdown table of

* the largest error in ulp of f and of f′ — actlab.jax's f′ is the catalog's derivative (its
  ``custom_jvp``), jax.nn's is autodiff's — both as ``jax.jit(f)`` and ``jax.jit(jax.vmap(jax.grad(f)))``,
  against the mpmath oracle of ``actlab accuracy``, in float32 and float64 (plain ulp, not divided by
  the condition number), over the grid's points outside the subnormal zone: XLA on CPU reads
  subnormal inputs as 0 and flushes subnormal results to 0 for both, which the last line measures;
* what each returns at −∞, +∞ and NaN (float32), a value other than the exact limit (or NaN for
  NaN) in bold.

    python benchmarks/jax_accuracy.py [--full] [--only JAX_NN_NAME ...]

The coarse grid of ``actlab accuracy --quick`` by default (about a fifth of the points, the same
spans); ``--full`` measures on the whole grid.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import actlab.jax as aj
from actlab import accuracy, get
from actlab.catalog import registry

CASES: tuple[tuple[str, dict[str, Any], str | None, dict[str, Any]], ...] = (
    # (jax.nn name, its keyword arguments, the catalog entry where the name is not one of its aliases, its parameters)
    ("identity", {}, None, {}),
    ("relu", {}, None, {}),
    ("relu6", {}, None, {}),
    ("sigmoid", {}, None, {}),
    ("softplus", {}, None, {}),
    ("silu", {}, None, {}),  # jax.nn.swish is the same function
    ("gelu", {"approximate": False}, None, {}),
    ("gelu", {"approximate": True}, "gelu_tanh", {}),
    ("elu", {}, None, {}),
    ("selu", {}, None, {}),
    ("celu", {}, None, {}),
    ("leaky_relu", {}, None, {}),
    ("hard_sigmoid", {}, None, {}),
    ("sparse_sigmoid", {}, "hardsigmoid", {"slope": 0.5, "offset": 0.5}),
    ("hard_silu", {}, None, {}),  # jax.nn.hard_swish is the same function
    ("hard_tanh", {}, None, {}),
    ("log_sigmoid", {}, None, {}),
    ("mish", {}, None, {}),
    ("tanh", {}, None, {}),
    ("soft_sign", {}, None, {}),
    ("sparse_plus", {}, None, {}),
    ("squareplus", {}, None, {}),
)
DTYPES = ("float32", "float64")
WHATS = ("f", "f'")


def _label(jax_name: str, kwargs: dict[str, Any]) -> str:
    return f"{jax_name}({', '.join(f'{k}={v}' for k, v in kwargs.items())})" if kwargs else jax_name


def _jax_nn(jax_name: str, kwargs: dict[str, Any]) -> Callable[[Any], Any]:
    fn = getattr(jax.nn, jax_name)
    return (lambda x: fn(x, **kwargs)) if kwargs else fn


def _check_same_function(act: Any, theirs: Callable[[Any], Any], label: str) -> None:
    """Stop unless jax.nn's function and the catalog entry agree on [-6, 6] (float32, to 1e-5 relative)."""
    x = jnp.linspace(-6.0, 6.0, 241, dtype=jnp.float32)
    a, b = np.asarray(aj.get(act.name, **act.params)(x)), np.asarray(theirs(x))
    if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
        i = int(np.argmax(np.abs(a - b)))
        sys.exit(f"jax.nn.{label} is not the catalog's {act.name} {act.params}: {b[i]} vs {a[i]} at x = {x[i]}")


def _ulp(w: accuracy.Worst) -> str:
    if math.isinf(w.ulp):  # ±inf or NaN where the exact value is finite
        return f"inf ({w.nonfinite} point{'s' if w.nonfinite > 1 else ''})"
    return f"{w.ulp:.3g}"


def _specials(act: Any, fn: Callable[[Any], Any] | None) -> list[str]:
    """f and f′ at (−∞, +∞, NaN) in float32, each value other than the exact limit in bold."""
    cells = []
    for got, exact in accuracy.jax_specials(act, "float32", fn).values():
        cells.append(", ".join(f"{g:g}" if accuracy.same_value(g, e) else f"**{g:g}**" for g, e in zip(got, exact)))
    return cells


def _row(act: Any, fn: Callable[[Any], Any] | None, quick: bool) -> list[str]:
    """Max ulp of f, f′ in float32 and float64 (outside the subnormal zone), then f, f′ at ±∞ and NaN."""
    cells = [_ulp(accuracy.measure_jax(act, dt, w, quick=quick, fn=fn)[0]) for dt in DTYPES for w in WHATS]
    return cells + _specials(act, fn)


def _flushes() -> str:
    said = []
    for dt in DTYPES:
        inputs, results = accuracy.xla_flushes_subnormals(dt)
        said.append(f"{dt}: subnormal inputs {'read as 0' if inputs else 'kept'}, results {'0' if results else 'kept'}")
    return "; ".join(said)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--full", action="store_true", help="the whole accuracy grid (default: the coarse one)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="these jax.nn names only")
    args = ap.parse_args(argv)
    quick = not args.full
    start = time.perf_counter()
    print(f"$ python benchmarks/jax_accuracy.py {' '.join(argv if argv is not None else sys.argv[1:])}".rstrip())
    print(
        f"\nJAX {jax.__version__} on {platform.machine()} CPU ({os.cpu_count()} cores); "
        f"{'coarse (`actlab accuracy --quick`)' if quick else 'whole'} accuracy grid.\n"
    )
    header = ["jax.nn", "catalog", "by", "float32 f", "float32 f′", "float64 f", "float64 f′"]
    header += ["f(−∞, +∞, NaN)", "f′(−∞, +∞, NaN)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---"] * 3 + ["---:"] * 4 + ["---"] * 2) + "|")
    for jax_name, kwargs, entry, params in CASES:
        if args.only and jax_name not in args.only:
            continue
        act = get(entry or registry.spec(jax_name).name, **params)
        label = _label(jax_name, kwargs)
        theirs = _jax_nn(jax_name, kwargs)
        _check_same_function(act, theirs, label)
        catalog = act.name + "".join(f" {k}={v:g}" for k, v in params.items())
        print("| " + " | ".join([label, catalog, "actlab.jax", *_row(act, None, quick)]) + " |", flush=True)
        print("| " + " | ".join(["", "", "jax.nn", *_row(act, theirs, quick)]) + " |", flush=True)
    print(
        "\nulp: the largest error of each in units in the last place against mpmath at 50 digits (f′ of jax.nn by "
        "autodiff, of actlab.jax the catalog's derivative), on the grid's points where x is not subnormal and the "
        "exact value not below 2^7 times the smallest normal (XLA's flush zone). Bold: not the exact limit at ±∞ "
        "(NaN for NaN); float32. XLA here (measured): "
        f"{_flushes()}. {time.perf_counter() - start:.0f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
