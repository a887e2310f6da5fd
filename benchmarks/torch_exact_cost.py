"""What exact=True costs in actlab.torch: the catalog formula in float64 against float32, and the native kernel.

For each entry, forward+backward on N float32 elements (default 4M, so the fused kernels run), the
implementations taking turns in every round so that they share the machine's noise:

* ``wide``: the generic operator computing in float64, rounded once (what ``exact=True`` runs),
* ``narrow``: the same operator computing in float32 (the default for entries without a native kernel),
* ``native``: PyTorch's own kernel, where the entry has one.

Printed: the median over rounds of the per-round ratios wide/narrow and wide/native, with their
interquartile range in brackets (the spread of the ratio, not of either time).

    python benchmarks/torch_exact_cost.py [--size N] [--rounds R] [--threads T] [--json FILE] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable

import torch

import actlab
import actlab.torch as at
from actlab._io import check_file, write_text
from actlab.torch import _ops
from actlab.torch.native import native_for

warnings.filterwarnings("ignore", category=DeprecationWarning)

DEFAULT = [
    "gelu",
    "silu",
    "mish",
    "elu",
    "softplus",
    "tanhshrink",
    "sigmoid",
    "swish_beta",
    "quick_gelu",
    "squareplus",
    "snake",
    "xielu",
    "relu2",
    "star_relu",
]


def generic(name: str, wide: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    spec = actlab.get(name).spec
    params = _ops.encode(spec, {})
    return lambda x: _ops.apply_op(x, [], spec.name, params, "", wide)


def fwd_bwd(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], None]:
    xg = x.detach().requires_grad_()

    def run() -> None:
        y = f(xg)
        y.backward(torch.ones_like(y))
        xg.grad = None

    return run


def rounds(calls: dict[str, Callable[[], None]], n: int) -> dict[str, list[float]]:
    for fn in calls.values():  # warm-up: compilation, allocator caches
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    keys = list(calls)
    for i in range(n):
        for k in keys[i % len(keys) :] + keys[: i % len(keys)]:
            t0 = time.perf_counter()
            calls[k]()
            times[k].append(time.perf_counter() - t0)
    return times


def ratio(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Median and quartiles of the per-round ratios a/b."""
    r = sorted(x / y for x, y in zip(a, b))
    q = statistics.quantiles(r, n=4)
    return statistics.median(r), q[0], q[2]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1 << 22, help="float32 elements (default 4M)")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--only", nargs="+", metavar="NAME")
    args = ap.parse_args(argv)
    if args.json:
        check_file(args.json, "--json")  # its folder must exist: know it before measuring
    torch.set_num_threads(args.threads)
    x = torch.randn(args.size, generator=torch.Generator().manual_seed(0)) * 4
    print(f"{args.size} float32 elements, forward+backward, {args.threads} threads, {args.rounds} rounds")
    print(f"{'activation':14s} {'wide/narrow':>22s} {'wide/native':>22s} {'narrow ms':>10s}")
    rows = []
    for name in args.only or DEFAULT:
        spec = actlab.get(name).spec
        native = native_for(spec.name, actlab.get(name).bound)
        calls = {"wide": fwd_bwd(generic(name, True), x), "narrow": fwd_bwd(generic(name, False), x)}
        if native is not None:
            calls["native"] = fwd_bwd(at.get(name), x)
        t = rounds(calls, args.rounds)
        wn = ratio(t["wide"], t["narrow"])
        wv = ratio(t["wide"], t["native"]) if "native" in t else None
        rows.append(
            {
                "activation": name,
                "median_s": {k: statistics.median(v) for k, v in t.items()},
                "wide_over_narrow": wn,
                "wide_over_native": wv,
            }
        )

        def fmt(r: tuple[float, float, float] | None) -> str:
            return "-" if r is None else f"{r[0]:.2f} [{r[1]:.2f}, {r[2]:.2f}]"

        print(
            f"{name:14s} {fmt(wn):>22s} {fmt(wv):>22s} {1e3 * statistics.median(t['narrow']):10.1f}",
            flush=True,
        )
    logs = [r["wide_over_narrow"][0] for r in rows]
    geo = statistics.geometric_mean(logs)
    print(f"geomean wide/narrow: {geo:.2f}")
    if args.json:
        data = {"size": args.size, "threads": args.threads, "rounds": args.rounds, "rows": rows}
        write_text(args.json, json.dumps(data, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
