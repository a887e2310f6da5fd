"""Where PyTorch's native kernels differ from the exact reference: every finding of actlab.torch.gaps.

For every catalog entry that actlab.torch maps to a native kernel (at default parameters):
what differs at ±inf and NaN, the underflows, and the largest error in ulp on the accuracy
grid, in float16, float32 and float64, with the worst error of each (also where it is
within the exact path's bound).

    python benchmarks/native_gaps.py
"""

from __future__ import annotations

from actlab.torch.gaps import all_gaps


def main() -> None:
    for g in all_gaps():
        worst = ", ".join(f"{w} {d}: {u:.3g} ulp" for (d, w), (u, _) in sorted(g.worst.items()))
        print(f"{g.name}: {g.summary()}")
        print(f"    worst at finite x — {worst}")
        for line in g.lines():
            print(f"    {line}")
        for why in g.skipped:
            print(f"    not measured in {why}")


if __name__ == "__main__":
    main()
