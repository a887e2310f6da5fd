"""How long the generic PyTorch path's first call at a new shape stalls while its fused kernel compiles.

One activation without a native kernel (default squareplus), forward only, float32: two calls at one
shape, then two at another.  The first call at each shape compiles (``torch.compile`` of the fused
kernel); the second shows the compiled speed.  ``--cold`` points Inductor at an empty cache folder, as
on a machine that never compiled the kernel; without it the cache of earlier runs is used.  ``--off``
sets ``ACTLAB_TORCH_FUSE=0``: op by op, nothing compiled.  Then, what the compile buys: the median
time of a forward call on 2**20 float32 elements, one thread, after the kernel is compiled (compare
a run with ``--off``).

    python benchmarks/torch_compile_stall.py [--name NAME] [--cold] [--off] [--backward]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="squareplus", help="an activation without a native kernel")
    ap.add_argument("--cold", action="store_true", help="an empty compile cache")
    ap.add_argument("--off", action="store_true", help="ACTLAB_TORCH_FUSE=0: no fused kernel")
    ap.add_argument("--backward", action="store_true", help="forward and backward (a training step)")
    args = ap.parse_args()
    if args.cold:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="actlab-inductor-")
    if args.off:
        os.environ["ACTLAB_TORCH_FUSE"] = "0"
    import torch

    import actlab.torch as at

    act = at.get(args.name)
    print(f"{args.name} ({act.path} path), float32, {'forward+backward' if args.backward else 'forward'}")
    for shape in [(256, 512), (256, 512), (512, 512), (512, 512)]:
        x = torch.randn(*shape, requires_grad=args.backward)
        start = time.perf_counter()
        y = act(x)
        if args.backward:
            y.backward(torch.ones_like(y))
        print(f"  {shape!s:<11} {time.perf_counter() - start:7.2f} s")
    torch.set_num_threads(1)
    x = torch.randn(1024, 1024)
    act(x)
    act(x)
    times = []
    for _ in range(15):
        start = time.thread_time()
        act(x)
        times.append(time.thread_time() - start)
    how = "op by op" if args.off else "fused"
    print(f"  forward on (1024, 1024), 1 thread, {how}: {statistics.median(times) * 1e3:.2f} ms (median of 15)")


if __name__ == "__main__":
    main()
