"""Parallel speed-up of a comparison sweep: the same runs serially and on worker processes.

    python benchmarks/sweep_speedup.py [--workers 2] [--dataset mnist1d] [--epochs 5]

Both sweeps start from empty results files, so every run trains; the ratio of wall times is
the speed-up (the goal on this 2-core machine is at least 1.6×).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from actlab.experiments import ResultsStore, configs, summarise, sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--dataset", default="mnist1d")
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--activations", default="relu,gelu,silu,tanh")
    ap.add_argument("--seeds", type=int, default=2)
    args = ap.parse_args()
    todo = configs(
        args.dataset, args.model, args.activations.split(","), args.seeds, epochs=args.epochs, width=100, depth=2
    )
    times = {}
    tables = {}
    with tempfile.TemporaryDirectory() as d:
        for workers in (1, args.workers):
            with ResultsStore(Path(d) / f"w{workers}.sqlite") as store:
                t0 = time.perf_counter()
                sweep(todo, store, workers=workers)
                times[workers] = time.perf_counter() - t0
                tables[workers] = summarise(store, todo)
    print(f"{len(todo)} runs of {args.dataset}/{args.model}, {args.epochs} epochs")
    serial, parallel = times[1], times[args.workers]
    print(f"serial: {serial:.1f} s; {args.workers} workers: {parallel:.1f} s; speed-up {serial / parallel:.2f}×")
    print("same final table:", tables[1] == tables[args.workers])


if __name__ == "__main__":
    main()
