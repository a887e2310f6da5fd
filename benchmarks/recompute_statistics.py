"""Recompute the paired statistics of a results store from its exported runs, with scipy.stats alone.

    actlab results --runs --csv > runs.csv
    actlab results --csv > statistics.csv
    python benchmarks/recompute_statistics.py runs.csv statistics.csv

For every comparison and every candidate, the paired difference from the baseline is formed again
from the per-run rows (seed by seed, finished runs only), and the mean, the 95% t interval and the
p-value of ``scipy.stats.ttest_rel``, the Wilcoxon p (6 pairs or more), the bootstrap interval
(``scipy.stats.bootstrap``, the same settings) and the Holm adjustment are compared with what actlab
exported.  Prints one line per candidate and exits 1 on any mismatch beyond 1e-9 (relative).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import defaultdict

import numpy as np
from scipy import stats


def _float(text: str) -> float:
    return float(text) if text not in ("", None) else math.nan


def holm(p: list[float]) -> list[float]:
    """Holm's step-down adjustment, written out: sort ascending, p_(i)·(m − i + 1), running maximum, cap 1."""
    order = sorted(range(len(p)), key=lambda i: p[i])
    out, running = [0.0] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, p[i] * (len(p) - rank)))
        out[i] = running
    return out


def main(runs_csv: str, stats_csv: str) -> int:
    values: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    with open(runs_csv, newline="") as f:
        for row in csv.DictReader(f):
            label = row["activation"]
            params = json.loads(row["params"]) if row.get("params") else []
            if params:
                label = f"{label}({', '.join(f'{k}={v}' for k, v in params)})"
            if row["status"] == "ok":
                values[row["setting"]][label][int(row["seed"])] = _float(row["final_metric"])
    with open(stats_csv, newline="") as f:
        exported = list(csv.DictReader(f))
    bad = 0
    by_setting: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in exported:
        by_setting[row["setting"]].append(row)
    for setting, rows in by_setting.items():
        base = next(r["activation"] for r in rows if r["baseline"] == "True")
        candidates = [r for r in rows if r["baseline"] != "True" and r.get("pairs")]
        mine: list[dict[str, float]] = []
        for r in candidates:
            b, c = values[setting][base], values[setting][r["activation"]]
            seeds = sorted(set(b) & set(c))
            x, y = np.array([c[s] for s in seeds]), np.array([b[s] for s in seeds])
            d = x - y
            if len(d) < 2 or np.all(d == d[0]):
                continue  # no test, or a constant difference (t infinite): nothing for scipy to check
            t = stats.ttest_rel(x, y)
            ci = t.confidence_interval(0.95)
            rng = np.random.default_rng(0)
            boot = stats.bootstrap(
                (d,), np.mean, confidence_level=0.95, n_resamples=9999, method="percentile", rng=rng
            ).confidence_interval
            got = {
                "difference": float(d.mean()),
                "ci_t": (float(ci.low), float(ci.high)),
                "ci_bootstrap": (float(boot.low), float(boot.high)),
                "p_t": float(t.pvalue),
                "p_wilcoxon": float(stats.wilcoxon(x, y).pvalue) if len(d) >= 6 else math.nan,
            }
            mine.append({"activation": r["activation"], **got})  # type: ignore[dict-item]
        adjusted = holm([m["p_t"] for m in mine])
        for m, p_holm in zip(mine, adjusted, strict=True):
            r = next(r for r in candidates if r["activation"] == m["activation"])
            pairs = [
                ("difference", m["difference"], _float(r["difference"])),
                ("t interval low", m["ci_t"][0], json.loads(r["ci_t"])[0]),  # type: ignore[index]
                ("t interval high", m["ci_t"][1], json.loads(r["ci_t"])[1]),  # type: ignore[index]
                ("bootstrap low", m["ci_bootstrap"][0], json.loads(r["ci_bootstrap"])[0]),  # type: ignore[index]
                ("bootstrap high", m["ci_bootstrap"][1], json.loads(r["ci_bootstrap"])[1]),  # type: ignore[index]
                ("p (t)", m["p_t"], _float(r["p_t"])),
                ("p (Holm)", p_holm, _float(r["p_holm"])),
            ]
            if not math.isnan(m["p_wilcoxon"]):
                pairs.append(("p (Wilcoxon)", m["p_wilcoxon"], _float(r["p_wilcoxon"])))
            worst = max(abs(a - b) / max(abs(a), 1e-300) for _, a, b in pairs)
            ok = worst <= 1e-9
            bad += not ok
            shown = ", ".join(f"{name} {a:.6g}" for name, a, _ in pairs)
            print(f"{'match' if ok else 'MISMATCH'} [{setting}] {m['activation']} vs {base}: {shown} "
                  f"(largest relative difference {worst:.1e})")  # fmt: skip
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
