"""actlab.torch against the composites a user would write, side by side in one run.

For each composite, learnable and gated activation: forward time, forward+backward time
and the bytes autograd saves for backward, for

* actlab (``actlab.torch.get(...)``: the generic operator, saving only its input),
* the eager composite a user would write (``x * torch.sigmoid(beta * x)``, ``F.silu(b) * a`` ...),
* ``torch.compile`` of that composite,
* the native kernel of the nearest built-in (``F.silu`` for swish_beta, ``F.glu`` for the gated
  family, ...: :data:`NEAREST`), the speed a user gets from PyTorch's own activations,

reported as ratios (actlab / eager, actlab / compiled, actlab / nearest native; below 1 is better
for actlab).

    python benchmarks/torch_composites.py [--size N] [--repeats R] [--threads T] [--json FILE] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

import actlab.torch as at
from actlab._io import check_file, write_text

Fn = Callable[..., torch.Tensor]

warnings.filterwarnings("ignore", category=DeprecationWarning)


def xielu_eager(x: torch.Tensor, ap: torch.Tensor, an: torch.Tensor, beta: float = 0.5) -> torch.Tensor:
    alpha_p, alpha_n = F.softplus(ap), beta + F.softplus(an)
    return torch.where(
        x > 0, alpha_p * x * x + beta * x, (torch.expm1(torch.clamp_max(x, 0.0)) - x) * alpha_n + beta * x
    )


def _raw(v: float) -> torch.Tensor:
    return torch.tensor(v).expm1().log().requires_grad_()


CASES: list[tuple[str, dict[str, Any], Fn, Callable[[], list[torch.Tensor]], str]] = [
    # name, actlab kwargs, eager composite f(x, *params), params factory, kind
    ("swish_beta", {"beta": 1.5}, lambda x: x * torch.sigmoid(1.5 * x), list, "single"),
    ("quick_gelu", {}, lambda x: x * torch.sigmoid(1.702 * x), list, "single"),
    ("squareplus", {}, lambda x: 0.5 * (x + torch.sqrt(x * x + 4.0)), list, "single"),
    ("relu2", {}, lambda x: torch.relu(x) ** 2, list, "single"),
    ("snake", {}, lambda x: x + torch.sin(x) ** 2, list, "single"),
    ("star_relu", {}, lambda x: 0.8944271909999159 * torch.relu(x) ** 2 - 0.4472135954999579, list, "single"),
    (
        "xielu",
        {},
        lambda x: xielu_eager(x, torch.tensor(0.8).expm1().log(), torch.tensor(0.3).expm1().log()),
        list,
        "single",
    ),
    ("softplus", {}, lambda x: torch.logaddexp(x, torch.zeros_like(x)), list, "single"),
    ("mish", {"exact": True}, lambda x: x * torch.tanh(F.softplus(x)), list, "single"),
    (
        "swish_beta",
        {"learnable": True, "beta": 1.5},
        lambda x, b: x * torch.sigmoid(F.softplus(b) * x),
        lambda: [_raw(1.5)],
        "learnable",
    ),
    (
        "snake",
        {"learnable": True},
        lambda x, a: x + torch.sin(F.softplus(a) * x) ** 2 / F.softplus(a),
        lambda: [_raw(1.0)],
        "learnable",
    ),
    (
        "star_relu",
        {"learnable": True},
        lambda x, s, b: s * torch.relu(x) ** 2 + b,
        lambda: [torch.tensor(0.894).requires_grad_(), torch.tensor(-0.447).requires_grad_()],
        "learnable",
    ),
    (
        "elu",
        {"learnable": True},
        lambda x, a: torch.where(x > 0, x, F.softplus(a) * torch.expm1(x)),
        lambda: [_raw(1.0)],
        "learnable",
    ),
    (
        "xielu",
        {"learnable": True},
        lambda x, ap, an: xielu_eager(x, ap, an),
        lambda: [_raw(0.8), _raw(0.3)],
        "learnable",
    ),
    ("reglu", {}, lambda x: (lambda a, b: a * torch.relu(b))(*x.chunk(2, -1)), list, "gated"),
    ("geglu", {}, lambda x: (lambda a, b: a * F.gelu(b))(*x.chunk(2, -1)), list, "gated"),
    ("swiglu", {}, lambda x: (lambda a, b: a * F.silu(b))(*x.chunk(2, -1)), list, "gated"),
    ("bilinear", {}, lambda x: (lambda a, b: a * b)(*x.chunk(2, -1)), list, "gated"),
]


NEAREST: dict[str, tuple[str, Fn]] = {
    "swish_beta": ("silu", F.silu),
    "quick_gelu": ("silu", F.silu),
    "squareplus": ("softplus", F.softplus),
    "relu2": ("relu", torch.relu),
    "snake": ("silu", F.silu),
    "star_relu": ("relu", torch.relu),
    "xielu": ("elu", F.elu),
    "softplus": ("softplus", F.softplus),
    "mish": ("mish", F.mish),
    "elu": ("elu", F.elu),
    "reglu": ("glu", F.glu),
    "geglu": ("glu", F.glu),
    "swiglu": ("glu", F.glu),
    "bilinear": ("glu", F.glu),
}
"""The built-in PyTorch activation closest to each case: what it would cost if PyTorch had it."""


def saved_bytes(fn: Callable[[], torch.Tensor]) -> int:
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        seen[id(t)] = t.numel() * t.element_size()  # a tensor saved twice is stored once
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = fn()
    del y
    return sum(seen.values())


def interleaved(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each call, the calls taking turns so that they share the machine's noise."""
    for fn in calls.values():  # warm-up: compilation, allocator caches
        fn()
        fn()
    times: dict[str, list[float]] = {k: [] for k in calls}
    for i in range(repeats):
        keys = list(calls)
        keys = keys[i % len(keys) :] + keys[: i % len(keys)]
        for k in keys:
            t0 = time.perf_counter()
            calls[k]()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def measure(variants: dict[str, Callable[[torch.Tensor], torch.Tensor]], x: torch.Tensor, repeats: int) -> dict:
    xg = x.detach().requires_grad_()

    def forward(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                f(x)

        return run

    def both(f: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[], None]:
        def run() -> None:
            y = f(xg)
            y.backward(torch.ones_like(y))
            xg.grad = None

        return run

    fwd = interleaved({k: forward(f) for k, f in variants.items()}, repeats)
    fb = interleaved({k: both(f) for k, f in variants.items()}, repeats)
    return {
        k: {"forward_s": fwd[k], "fwd_bwd_s": fb[k], "saved_bytes": saved_bytes(lambda f=f: f(xg))}
        for k, f in variants.items()
    }


def _call(fn: Fn, params: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    return fn(x, *params)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1 << 22, help="elements per input (default 4M float32)")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--json", metavar="FILE")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="measure only these activations")
    args = ap.parse_args(argv)
    if args.json:
        check_file(args.json, "--json")  # its folder must exist: know it before measuring
    torch.set_num_threads(args.threads)
    x = torch.randn(args.size // 1024, 1024, generator=torch.Generator().manual_seed(0))
    rows = []
    print(f"{args.size} float32 elements, {args.threads} threads, median of {args.repeats}", file=sys.stderr)
    columns = ("fwd vs eager", "f+b vs eager", "fwd vs compiled", "f+b vs compiled", "saved vs eager")
    header = f"{'activation':24s} " + " ".join(f"{c:>15s}" for c in columns) + f" {'f+b vs native':>22s}"
    print(header)
    for name, kwargs, composite, make_params, kind in CASES:
        if args.only and name not in args.only:
            continue
        params = make_params()
        ours = at.get(name, **kwargs)
        eager = functools.partial(_call, composite, params)
        compiled = functools.partial(_call, torch.compile(composite), params)
        native_name, native = NEAREST[name]
        m = measure({"actlab": ours, "eager": eager, "compiled": compiled, "native": native}, x, args.repeats)
        m_ours, m_eager, m_comp, m_native = m["actlab"], m["eager"], m["compiled"], m["native"]
        label = name + (" (learnable)" if kind == "learnable" else "")
        row = {
            "activation": label,
            "kind": kind,
            "path": ours.path,
            "actlab": m_ours,
            "eager": m_eager,
            "compiled": m_comp,
            "fwd_vs_eager": m_ours["forward_s"] / m_eager["forward_s"],
            "fwd_bwd_vs_eager": m_ours["fwd_bwd_s"] / m_eager["fwd_bwd_s"],
            "fwd_vs_compiled": m_ours["forward_s"] / m_comp["forward_s"],
            "fwd_bwd_vs_compiled": m_ours["fwd_bwd_s"] / m_comp["fwd_bwd_s"],
            "saved_vs_eager": m_ours["saved_bytes"] / max(m_eager["saved_bytes"], 1),
            "nearest_native": native_name,
            "native": m_native,
            "fwd_bwd_vs_native": m_ours["fwd_bwd_s"] / m_native["fwd_bwd_s"],
        }
        rows.append(row)
        print(
            f"{label:24s} "
            + " ".join(f"{row[k]:15.2f}" for k in ("fwd_vs_eager", "fwd_bwd_vs_eager", "fwd_vs_compiled"))
            + f" {row['fwd_bwd_vs_compiled']:15.2f} {row['saved_vs_eager']:15.2f}"
            + f" {row['fwd_bwd_vs_native']:12.2f} ({native_name})",
            flush=True,
        )
    if args.json:
        write_text(args.json, json.dumps({"size": args.size, "threads": args.threads, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
