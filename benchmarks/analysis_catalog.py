"""How long analysing the whole catalog takes, and the tables the analysis gives.

For every elementwise entry at its defaults: computed properties, forward/backward gains
(beside torch.nn.init.calculate_gain where it has a value), the self-normalizing scaling and
its stability; then the SELU constants recovered by the solver and the GELU/SiLU/Mish minima.

    python benchmarks/analysis_catalog.py [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import time

import actlab
from actlab._io import check_file, write_text
from actlab.analysis import gains, properties, self_normalizing_scaling, solve_selu_constants
from actlab.analysis.gains import TORCH_GAINS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", metavar="FILE")
    args = ap.parse_args()
    if args.json:
        check_file(args.json, "--json")  # its folder must exist: know it before measuring
    rows = []
    t0 = time.perf_counter()
    for name in actlab.names(kind="elementwise"):
        t = time.perf_counter()
        p, g, sn = properties(name), gains(name), self_normalizing_scaling(name)
        rows.append(
            {
                "name": name,
                "forward_gain": g["forward"],
                "backward_gain": g["backward"],
                "torch_gain": TORCH_GAINS.get(name, (None, None))[1],
                "infimum": p.infimum.value,
                "infimum_at": p.infimum.at,
                "sn_scale": sn["scale"],
                "sn_shift": sn["shift"],
                "sn_status": sn["status"],
                "sn_eigenvalues": sn["eigenvalues"],
                "seconds": time.perf_counter() - t,
            }
        )
    total = time.perf_counter() - t0
    t = time.perf_counter()
    alpha, lam = solve_selu_constants()
    selu_seconds = time.perf_counter() - t
    columns = ("fwd gain", "bwd gain", "torch", "infimum", "at", "SN scale", "SN shift", "SN")
    print(f"{'name':12s} " + " ".join(f"{c:>14s}" for c in columns))
    for r in rows:
        cells = [
            f"{r['forward_gain']:.6f}",
            f"{r['backward_gain']:.6f}",
            f"{r['torch_gain']:.4f}" if r["torch_gain"] is not None else "-",
            f"{r['infimum']:.10g}",
            f"{r['infimum_at']:.10g}" if r["infimum_at"] is not None else "(limit)",
            f"{r['sn_scale']:.6f}",
            f"{r['sn_shift']:.6f}",
            r["sn_status"],
        ]
        print(f"{r['name']:12s} " + " ".join(f"{c:>14s}" for c in cells))
    print(f"\nanalysed {len(rows)} activations in {total:.1f} s; SELU constants solved in {selu_seconds:.2f} s:")
    print(f"alpha = {alpha!r}, lambda = {lam!r}")
    if args.json:
        write_text(args.json, json.dumps({"rows": rows, "seconds": total, "selu": [alpha, lam]}, indent=2))


if __name__ == "__main__":
    main()
