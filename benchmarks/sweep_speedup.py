"""Parallel speed-up of a comparison: the same runs serially and on worker processes.

    python benchmarks/sweep_speedup.py [--workers 2] [--dataset mnist1d] [--epochs 5]

Both comparisons start from empty results files, so every run trains; the ratio of wall times is
the speed-up (the goal on this 2-core machine is at least 1.6×).  The two must give the same
numbers: a run is a deterministic function of its configuration, wherever it trains.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from actlab.experiments import compare


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataset", default="mnist1d")
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--activations", default="relu,gelu,silu,tanh")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    times = {}
    results = {}
    with tempfile.TemporaryDirectory() as d:
        for workers in (1, args.workers):
            t0 = time.perf_counter()
            c = compare(
                args.model,
                args.dataset,
                args.activations,
                seeds=args.seeds,
                epochs=args.epochs,
                width=100,
                depth=2,
                db=Path(d) / f"w{workers}.sqlite",
                workers=workers,
            )
            times[workers] = time.perf_counter() - t0
            results[workers] = c
    runs = len(results[1].runs)
    print(f"{runs} runs of {args.dataset}/{args.model}, {args.epochs} epochs")
    serial, parallel = times[1], times[args.workers]
    print(f"serial: {serial:.1f} s; {args.workers} workers: {parallel:.1f} s; speed-up {serial / parallel:.2f}×")
    same = results[1].per_seed() == results[args.workers].per_seed()
    print("same results per seed:", same)
    print(results[args.workers].text())


if __name__ == "__main__":
    main()
