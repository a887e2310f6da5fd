"""How far PyTorch's native kernels stray from the exact reference, over the whole float64 range.

For every catalog entry that actlab.torch maps to a native kernel, the largest relative
difference (value and derivative) from the NumPy reference on the accuracy grid plus ±inf.

    python benchmarks/native_gaps.py
"""

from __future__ import annotations

import numpy as np
import torch

import actlab
from actlab.accuracy import grid
from actlab.torch.native import NATIVE


def main() -> None:
    x = np.concatenate([grid("float64"), [-np.inf, np.inf]])
    print(f"{'name':12s} {'f: max rel. gap':>18s}  {'at x':>12s}  {'df: max rel. gap':>18s}  {'at x':>12s}")
    for name, row in NATIVE.items():
        act = actlab.get(name)
        if act.kind != "elementwise" or not row.when(act.bound):
            continue
        xt = torch.tensor(x, requires_grad=True)
        y = row.fn(xt, act.bound)
        (g,) = torch.autograd.grad(y.sum(), xt)
        cells = []
        for got, ref in ((y.detach().numpy(), act(x)), (g.numpy(), act.derivative(x))):
            with np.errstate(all="ignore"):
                rel = np.abs(got - ref) / np.maximum(np.abs(ref), np.finfo(float).tiny)
            rel[(got == ref) | (np.isnan(got) & np.isnan(ref))] = 0.0
            rel[np.isnan(rel)] = np.inf
            i = int(np.argmax(rel))
            cells.append(f"{rel[i]:18.3g}  {x[i]:12.4g}")
        print(f"{name:12s} " + "  ".join(cells))


if __name__ == "__main__":
    main()
