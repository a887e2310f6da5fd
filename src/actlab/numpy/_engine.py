"""Blocked evaluation: one pass over memory, float64 arithmetic in cache-sized pieces.

An activation is a long chain of NumPy ufuncs (a stable formula has ten to forty of
them).  Applied to a whole 16M-element array, each ufunc streams the array through
memory and allocates a full-size temporary, so the formula costs forty passes over
RAM and, for float32 input, a hidden float64 copy of everything.  Here the input is
cut into blocks of :data:`BLOCK` elements: each block is widened to float64, run
through the formula while it and its temporaries sit in the L2 cache, rounded once
and written into its slice of the one output array.  Memory sees one read of the
input and one write of the output; the arithmetic and the rounding are exactly those
of the whole-array evaluation, so the results are bit-identical to it.

Blocks are independent, so they can be shared among threads (NumPy releases the GIL
inside its loops): ``threads=`` on each call, or :func:`set_threads` for the default.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

BLOCK = 8192
"""Elements per block: a float64 block and its temporaries (64 KiB each) stay in the L2 cache."""

NARROW_BLOCK = 65536
"""Elements per block for the ``narrow`` formulas (a max, a clip: one or two ufuncs in the input's
own float16/float32): with no float64 temporaries a 256 KiB block still sits in L2, and the
fixed cost of each ufunc call (about 1.5 µs) is spread over eight times more elements: relu with
``out=`` on 16M float32, timed back to back, went from 1.43× to about 1.0× of np.maximum's time
(interleaved with other implementations in ``actlab bench``, where caches and the heap are shared,
it measures about 1.2×)."""

MIN_PER_THREAD = 4 * BLOCK
"""Below this many elements per thread, extra threads cost more than they bring."""

_default_threads = 1
_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()

Kernel = Callable[[np.ndarray], Sequence[Any]]
"""float64 block -> one result per output (arrays of the block's shape, or scalars)."""


def _positive(threads: Any) -> int:
    if not isinstance(threads, int | np.integer) or isinstance(threads, bool) or threads < 1:
        raise ValueError(f"threads must be a positive integer; got {threads!r}")
    return int(threads)


def set_threads(n: int | None) -> int:
    """Set the default number of threads for large arrays (``None``: all cores); returns the old value.

    >>> old = set_threads(2)
    >>> set_threads(old)
    2
    """
    global _default_threads
    old, _default_threads = _default_threads, _positive((os.cpu_count() or 1) if n is None else n)
    return old


def get_threads() -> int:
    """The default number of threads (1 unless :func:`set_threads` changed it)."""
    return _default_threads


def _pool(n: int) -> ThreadPoolExecutor:
    with _pools_lock:
        pool = _pools.get(n)
        if pool is None:
            pool = _pools[n] = ThreadPoolExecutor(max_workers=n, thread_name_prefix="actlab")
        return pool


def _run_span(
    kernel: Kernel,
    x: np.ndarray,
    outs: Sequence[np.ndarray],
    start: int,
    stop: int,
    widen: bool,
    nan_fix: bool,
    block: int = BLOCK,
) -> None:
    widen = widen and x.dtype != np.float64
    scratch = np.empty(min(block, stop - start), np.float64) if widen else None  # one per span: per thread
    with np.errstate(all="ignore"):
        for i in range(start, stop, block):
            j = min(i + block, stop)
            if scratch is not None:  # widened into the same cache-resident buffer block after block
                xb = scratch[: j - i]
                np.copyto(xb, x[i:j])
            else:
                xb = x[i:j]
            results = kernel(xb)
            for o, r in zip(outs, results):
                np.copyto(o[i:j], r, casting="same_kind")
            if nan_fix:  # NaN in, NaN out, whichever branch a comparison sent it down
                nan = np.isnan(x[i:j])  # the narrow source: half or a quarter of the bytes of xb
                if nan.any():
                    for o in outs:
                        np.copyto(o[i:j], np.nan, where=nan)


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, what: str = "out") -> np.ndarray:
    """``out`` when it can take a result of ``shape`` and ``dtype``; a clear error otherwise."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, not {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"{what} has shape {out.shape}, but the result has shape {shape}")
    if not np.can_cast(dtype, out.dtype, casting="same_kind"):
        raise TypeError(f"{what} has dtype {out.dtype}; the result is {dtype}")
    if not out.flags.writeable:
        raise ValueError(f"{what} is read-only")
    return out


def _flat_target(out: np.ndarray | None, shape: tuple[int, ...], dtype: np.dtype, what: str) -> np.ndarray:
    """A C-contiguous array of ``shape`` to write into: ``out`` itself when it allows that."""
    if out is not None and check_out(out, shape, dtype, what).flags.c_contiguous and out.dtype == dtype:
        return out
    return np.empty(shape, dtype)


def evaluate(
    kernel: Kernel,
    a: np.ndarray,
    dtype: np.dtype,
    outs: Sequence[np.ndarray | None],
    threads: int | None = None,
    names: Sequence[str] = ("out",),
    *,
    widen: bool = True,
    nan_fix: bool = True,
    block: int = BLOCK,
) -> list[Any]:
    """Run ``kernel`` over ``a`` block by block into one array per result, rounded to ``dtype``.

    ``outs`` holds the caller's output arrays (or ``None`` to allocate); the results are
    returned in the same order (0-d results as NumPy scalars).  ``widen=False`` runs the
    kernel in the input's own precision (for formulas that are exactly rounded there);
    ``nan_fix=False`` skips the NaN pass (for formulas that propagate NaN themselves);
    ``block`` is the elements per block (:data:`NARROW_BLOCK` for the narrow formulas).
    """
    n_threads = _default_threads if threads is None else _positive(threads)
    shape = a.shape
    targets = [_flat_target(o, shape, dtype, name) for o, name in zip(outs, names)]
    x = np.ascontiguousarray(a).reshape(-1)
    flats = [t.reshape(-1) for t in targets]
    size = x.size
    n_threads = max(1, min(n_threads, size // MIN_PER_THREAD))
    if n_threads == 1:
        _run_span(kernel, x, flats, 0, size, widen, nan_fix, block)
    else:
        blocks = -(-size // BLOCK)
        edges = [min(size, (blocks * k // n_threads) * BLOCK) for k in range(n_threads + 1)]
        pool = _pool(n_threads)
        futures = [
            pool.submit(_run_span, kernel, x, flats, edges[k], edges[k + 1], widen, nan_fix, block)
            for k in range(n_threads)
        ]
        for f in futures:
            f.result()
    results: list[Any] = []
    for t, o in zip(targets, outs):
        if o is not None and t is not o:
            np.copyto(o, t, casting="same_kind")
            t = o
        results.append(t[()] if t.ndim == 0 and o is None else t)
    return results
